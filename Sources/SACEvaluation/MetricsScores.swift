/// Accumulates the paper's and the SQuAD metrics over predictions; means are in percent.
public struct QAScores: Sendable, Equatable {
    /// The number of predictions added.
    public private(set) var count = 0
    private var sumRouge = 0.0, sumEM = 0.0, sumSquadF1 = 0.0, sumSquadEM = 0.0
    private var sumSummary1 = 0.0, sumSummary2 = 0.0, sumSummaryL = 0.0

    /// An empty accumulator.
    public init() {}

    /// Scores one prediction: the paper's metrics against `answers[0]`, the SQuAD metrics as
    /// the maximum over all answers. With no answers every score of it is 0.
    public mutating func add(prediction: String, answers: [String]) {
        count += 1
        guard let first = answers.first else { return }
        sumRouge += PaperMetrics.rouge1SetF(prediction: prediction, reference: first)
        sumEM += PaperMetrics.exactMatch(prediction: prediction, reference: first) ? 1 : 0
        sumSquadF1 += SQuADMetrics.maxF1(prediction: prediction, answers: answers)
        sumSquadEM += SQuADMetrics.maxExactMatch(prediction: prediction, answers: answers) ? 1 : 0
        sumSummary1 += SummaryMetrics.rougeN(prediction: prediction, reference: first, n: 1).f
        sumSummary2 += SummaryMetrics.rougeN(prediction: prediction, reference: first, n: 2).f
        sumSummaryL += SummaryMetrics.rougeL(prediction: prediction, reference: first).f
    }

    private func percent(_ sum: Double) -> Double { count == 0 ? 0 : 100 * sum / Double(count) }

    /// Mean ROUGE-1 set F against `answers[0]`, in percent (0 when empty).
    public var rouge1F: Double { percent(sumRouge) }
    /// Percentage of stripped predictions equal to `answers[0]` (0 when empty).
    public var em: Double { percent(sumEM) }
    /// Mean SQuAD F1 (max over answers), in percent (0 when empty).
    public var squadF1: Double { percent(sumSquadF1) }
    /// Percentage of SQuAD exact matches (any answer), in percent (0 when empty).
    public var squadEM: Double { percent(sumSquadEM) }
    /// Mean ROUGE-1, ROUGE-2 and ROUGE-L F against `answers[0]` as `rouge-score` computes
    /// them for summaries (`SummaryMetrics`), in percent (0 when empty).
    public var summaryRouge1F: Double { percent(sumSummary1) }
    public var summaryRouge2F: Double { percent(sumSummary2) }
    public var summaryRougeLF: Double { percent(sumSummaryL) }
}

/// One row of an evaluation report: a data set's scores (percent), ratio and timings.
public struct DatasetScores: Codable, Sendable, Equatable {
    /// The data set's name, or "average" for the mean row.
    public var name: String
    /// The number of examples scored.
    public var count: Int
    /// Mean ROUGE-1 set F against `answers[0]`, in percent.
    public var rouge1F: Double
    /// Exact-match rate against `answers[0]`, in percent.
    public var em: Double
    /// Mean SQuAD F1, in percent.
    public var squadF1: Double
    /// SQuAD exact-match rate, in percent.
    public var squadEM: Double
    /// The compression ratio achieved: context tokens per carrier.
    public var ratio: Double
    /// Mean milliseconds to compress one context.
    public var compressMs: Double
    /// Mean milliseconds to answer one question from a compressed memory.
    public var answerMs: Double
    /// Mean ROUGE-1, ROUGE-2 and ROUGE-L F as `rouge-score` computes them for summaries
    /// (`SummaryMetrics`), in percent; nil in reports written before they were added.
    public var summaryRouge1F: Double?
    public var summaryRouge2F: Double?
    public var summaryRougeLF: Double?
    /// Mean milliseconds from a question to its first answer token (the decoder reading the
    /// prompt after the memory: time to first token once a memory is stored); nil in older reports.
    public var firstTokenMs: Double?
    /// Mean carriers (memory slots) per compressed context; nil in older reports.
    public var carriers: Double?
    /// Mean bytes of a memory stored as F16 (keys and values of every layer); nil in older reports.
    public var memoryBytes: Double?

    enum CodingKeys: String, CodingKey {
        case name, count, ratio, em
        case rouge1F = "rouge1_f"
        case squadF1 = "squad_f1"
        case squadEM = "squad_em"
        case compressMs = "compress_ms"
        case answerMs = "answer_ms"
        case summaryRouge1F = "summary_rouge1_f"
        case summaryRouge2F = "summary_rouge2_f"
        case summaryRougeLF = "summary_rougeL_f"
        case firstTokenMs = "first_token_ms"
        case carriers
        case memoryBytes = "memory_bytes"
    }

    /// Creates a row from its fields.
    public init(name: String, count: Int, rouge1F: Double, em: Double, squadF1: Double, squadEM: Double,
                ratio: Double, compressMs: Double, answerMs: Double,
                summaryRouge1F: Double? = nil, summaryRouge2F: Double? = nil, summaryRougeLF: Double? = nil,
                firstTokenMs: Double? = nil, carriers: Double? = nil, memoryBytes: Double? = nil) {
        self.name = name
        self.count = count
        self.rouge1F = rouge1F
        self.em = em
        self.squadF1 = squadF1
        self.squadEM = squadEM
        self.ratio = ratio
        self.compressMs = compressMs
        self.answerMs = answerMs
        self.summaryRouge1F = summaryRouge1F
        self.summaryRouge2F = summaryRouge2F
        self.summaryRougeLF = summaryRougeLF
        self.firstTokenMs = firstTokenMs
        self.carriers = carriers
        self.memoryBytes = memoryBytes
    }

    /// A row with the means of `scores` and the given ratio and timings.
    public init(name: String, scores: QAScores, ratio: Double, compressMs: Double, answerMs: Double,
                firstTokenMs: Double? = nil, carriers: Double? = nil, memoryBytes: Double? = nil) {
        self.init(name: name, count: scores.count, rouge1F: scores.rouge1F, em: scores.em, squadF1: scores.squadF1,
                  squadEM: scores.squadEM, ratio: ratio, compressMs: compressMs, answerMs: answerMs,
                  summaryRouge1F: scores.summaryRouge1F, summaryRouge2F: scores.summaryRouge2F,
                  summaryRougeLF: scores.summaryRougeLF, firstTokenMs: firstTokenMs, carriers: carriers,
                  memoryBytes: memoryBytes)
    }
}

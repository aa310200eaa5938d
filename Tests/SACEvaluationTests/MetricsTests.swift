import Foundation
import Testing
@testable import SACEvaluation

@Suite struct MetricsTests {
    /// Normalisation, SQuAD F1/EM (max over answers) and the paper metrics match the values the
    /// official Python code gave on the generated cases (F1 within 1e-12).
    @Test func matchesPythonReference() {
        #expect(MetricsReference.cases.count >= 50)
        for c in MetricsReference.cases {
            #expect(SQuADMetrics.normalize(c.prediction) == c.normalized, "normalize \(c.prediction)")
            #expect(abs(SQuADMetrics.maxF1(prediction: c.prediction, answers: c.answers) - c.squadF1) < 1e-12,
                    "squad F1 \(c.prediction) vs \(c.answers)")
            #expect(SQuADMetrics.maxExactMatch(prediction: c.prediction, answers: c.answers) == c.squadEM,
                    "squad EM \(c.prediction) vs \(c.answers)")
            #expect(abs(PaperMetrics.rouge1SetF(prediction: c.prediction, reference: c.answers[0]) - c.rouge1F) < 1e-12,
                    "rouge \(c.prediction) vs \(c.answers[0])")
            #expect(PaperMetrics.exactMatch(prediction: c.prediction, reference: c.answers[0]) == c.paperEM,
                    "paper EM \(c.prediction) vs \(c.answers[0])")
        }
    }

    /// ROUGE-1 set F counts each distinct token once, is case-sensitive, and is 2PR/(P+R).
    @Test func rougeUsesSets() {
        // A = {the, cat}, B = {the, cat, sat}: P = 1, R = 2/3, F = 0.8 (tolerance 1e-12).
        #expect(abs(PaperMetrics.rouge1SetF(prediction: "the cat the cat", reference: "the cat sat") - 0.8) < 1e-12)
        #expect(PaperMetrics.rouge1SetF(prediction: "Cat", reference: "cat") == 0)
        #expect(PaperMetrics.rouge1SetF(prediction: "   ", reference: "cat") == 0)
        #expect(PaperMetrics.exactMatch(prediction: "\n Paris \t", reference: "Paris"))
        #expect(!PaperMetrics.exactMatch(prediction: "paris", reference: "Paris"))
    }

    /// QAScores averages per-example scores in percent; checked against a direct computation
    /// on random token strings (tolerance 1e-9).
    @Test func scoresAccumulateMeans() {
        var rng = SystemRandomNumberGenerator()
        let vocab = ["the", "Cat", "cat", "sat", "on", "a", "mat", "Paris", "1945", "war,", "ended."]
        func phrase() -> String { (0..<Int.random(in: 0...5, using: &rng)).map { _ in vocab.randomElement(using: &rng)! }.joined(separator: " ") }
        var scores = QAScores()
        var r = 0.0, e = 0.0, f = 0.0, s = 0.0, r1 = 0.0, r2 = 0.0, rl = 0.0
        let n = 200
        for _ in 0..<n {
            let pred = phrase()
            let answers = (0..<Int.random(in: 1...3, using: &rng)).map { _ in phrase() }
            scores.add(prediction: pred, answers: answers)
            r += PaperMetrics.rouge1SetF(prediction: pred, reference: answers[0])
            e += PaperMetrics.exactMatch(prediction: pred, reference: answers[0]) ? 1 : 0
            f += answers.map { SQuADMetrics.f1(prediction: pred, reference: $0) }.max()!
            s += answers.contains { SQuADMetrics.exactMatch(prediction: pred, reference: $0) } ? 1 : 0
            r1 += SummaryMetrics.rougeN(prediction: pred, reference: answers[0], n: 1).f
            r2 += SummaryMetrics.rougeN(prediction: pred, reference: answers[0], n: 2).f
            rl += SummaryMetrics.rougeL(prediction: pred, reference: answers[0]).f
        }
        #expect(scores.count == n)
        #expect(abs(scores.rouge1F - 100 * r / Double(n)) < 1e-9)
        #expect(abs(scores.em - 100 * e / Double(n)) < 1e-9)
        #expect(abs(scores.squadF1 - 100 * f / Double(n)) < 1e-9)
        #expect(abs(scores.squadEM - 100 * s / Double(n)) < 1e-9)
        #expect(scores.squadF1 >= scores.squadEM)
        #expect(abs(scores.summaryRouge1F - 100 * r1 / Double(n)) < 1e-9)
        #expect(abs(scores.summaryRouge2F - 100 * r2 / Double(n)) < 1e-9)
        #expect(abs(scores.summaryRougeLF - 100 * rl / Double(n)) < 1e-9)
        #expect(scores.summaryRouge1F > 0 && scores.summaryRouge1F >= scores.summaryRougeLF)
    }

    @Test func emptyScoresAreZeroAndNoAnswersScoreZero() {
        var scores = QAScores()
        #expect(scores.count == 0 && scores.rouge1F == 0 && scores.squadF1 == 0)
        scores.add(prediction: "Paris", answers: ["Paris"])
        scores.add(prediction: "Paris", answers: [])
        #expect(scores.count == 2)
        #expect(scores.rouge1F == 50 && scores.em == 50 && scores.squadF1 == 50 && scores.squadEM == 50)
    }
}

import Testing
@testable import SACEvaluation

/// ROUGE-1/2/L against Google's rouge-score (no stemming) on 168 generated and real cases
/// (`scripts/make_rouge_fixtures.py`): every precision, recall and F within 1e-12.
@Suite struct SummaryMetricsTests {
    static func expectClose(_ s: SummaryMetrics.Score, _ ref: [Double], _ what: String) {
        #expect(abs(s.precision - ref[0]) <= 1e-12 && abs(s.recall - ref[1]) <= 1e-12 && abs(s.f - ref[2]) <= 1e-12,
                "\(what): got (\(s.precision), \(s.recall), \(s.f)), rouge-score \(ref)")
    }

    @Test func matchesRougeScore() {
        #expect(RougeReference.cases.count > 100)
        for c in RougeReference.cases {
            let what = "\(c.prediction.debugDescription) vs \(c.reference.debugDescription)"
            Self.expectClose(SummaryMetrics.rougeN(prediction: c.prediction, reference: c.reference, n: 1), c.rouge1, "ROUGE-1 " + what)
            Self.expectClose(SummaryMetrics.rougeN(prediction: c.prediction, reference: c.reference, n: 2), c.rouge2, "ROUGE-2 " + what)
            Self.expectClose(SummaryMetrics.rougeL(prediction: c.prediction, reference: c.reference), c.rougeL, "ROUGE-L " + what)
        }
    }

    @Test func tokensAndSubsequence() {
        #expect(SummaryMetrics.tokens("B-52s & R2-D2, café") == ["b", "52s", "r2", "d2", "caf"])
        #expect(SummaryMetrics.tokens("  \n ") == [])
        #expect(SummaryMetrics.lcsLength(["a", "b", "c", "d"], ["b", "d", "a"]) == 2)
        // ROUGE-L differs from ROUGE-1 when the order differs.
        let l = SummaryMetrics.rougeL(prediction: "a b c", reference: "c b a")
        let one = SummaryMetrics.rougeN(prediction: "a b c", reference: "c b a", n: 1)
        #expect(one.f == 1 && abs(l.f - 1.0 / 3) < 1e-15)
    }
}

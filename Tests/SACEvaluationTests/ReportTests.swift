import Foundation
import Testing
@testable import SACEvaluation

@Suite struct ReportTests {
    static let report = EvaluationReport(datasets: [
        DatasetScores(name: "SQuAD", count: 1398, rouge1F: 61.25, em: 45.5, squadF1: 70.125, squadEM: 55.0,
                      ratio: 5.02, compressMs: 812.34, answerMs: 95.06),
        DatasetScores(name: "DROP", count: 1503, rouge1F: 20.75, em: 10.5, squadF1: 25.875, squadEM: 15.0,
                      ratio: 4.98, compressMs: 1000.0, answerMs: 104.94),
    ])

    @Test func averageIsTheMeanOverDataSets() {
        let a = Self.report.average
        #expect(a.name == "average")
        #expect(a.count == 2901)
        // Tolerance 1e-9 on means of exactly representable values.
        #expect(abs(a.rouge1F - 41.0) < 1e-9 && abs(a.em - 28.0) < 1e-9)
        #expect(abs(a.squadF1 - 48.0) < 1e-9 && abs(a.squadEM - 35.0) < 1e-9)
        #expect(abs(a.ratio - 5.0) < 1e-9 && abs(a.compressMs - 906.17) < 1e-9 && abs(a.answerMs - 100.0) < 1e-9)
    }

    @Test func jsonKeysAreExact() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Self.report.json()) as? [String: Any])
        #expect(Set(object.keys) == ["datasets", "average"])
        let keys: Set<String> = ["name", "count", "rouge1_f", "em", "squad_f1", "squad_em", "ratio", "compress_ms", "answer_ms"]
        let datasets = try #require(object["datasets"] as? [[String: Any]])
        #expect(datasets.count == 2)
        for d in datasets { #expect(Set(d.keys) == keys) }
        let average = try #require(object["average"] as? [String: Any])
        #expect(Set(average.keys) == keys)
        #expect(datasets[0]["name"] as? String == "SQuAD")
        #expect(datasets[1]["rouge1_f"] as? Double == 20.75)
        #expect(average["count"] as? Int == 2901)
        let decoded = try JSONDecoder().decode(EvaluationReport.self, from: Self.report.json())
        #expect(decoded == Self.report)
    }

    @Test func markdownLayout() {
        #expect(Self.report.markdown() == """
            | data set | n | ROUGE-1 F | EM | SQuAD F1 | SQuAD EM | ratio | compress ms | answer ms |
            |---|---:|---:|---:|---:|---:|---:|---:|---:|
            | SQuAD | 1398 | 61.25 | 45.50 | 70.12 | 55.00 | 5.02 | 812.3 | 95.1 |
            | DROP | 1503 | 20.75 | 10.50 | 25.88 | 15.00 | 4.98 | 1000.0 | 104.9 |
            | average | 2901 | 41.00 | 28.00 | 48.00 | 35.00 | 5.00 | 906.2 | 100.0 |

            """)
    }

    /// Summary ROUGE (QMSum): averaged over the rows that have it, in the JSON when present,
    /// and as three more Markdown columns on request.
    @Test func summaryColumns() throws {
        var rows = Self.report.datasets
        rows[0].summaryRouge1F = 30.5; rows[0].summaryRouge2F = 10.25; rows[0].summaryRougeLF = 20.0
        let r = EvaluationReport(datasets: rows)
        #expect(r.average.summaryRouge1F == 30.5 && r.average.summaryRouge2F == 10.25 && r.average.summaryRougeLF == 20.0)
        #expect(Self.report.average.summaryRouge1F == nil)
        let lines = r.markdown(summary: true).split(separator: "\n")
        #expect(lines[0].hasSuffix("| answer ms | summary R-1 F | R-2 F | R-L F |"))
        #expect(lines[2].hasSuffix("| 95.1 | 30.50 | 10.25 | 20.00 |"))
        #expect(lines[3].hasSuffix("| 104.9 | – | – | – |"))
        #expect(r.markdown() == Self.report.markdown())
        let object = try #require(try JSONSerialization.jsonObject(with: r.json()) as? [String: Any])
        let datasets = try #require(object["datasets"] as? [[String: Any]])
        #expect(datasets[0]["summary_rougeL_f"] as? Double == 20.0 && datasets[1]["summary_rougeL_f"] == nil)
        #expect(try JSONDecoder().decode(EvaluationReport.self, from: r.json()) == r)
        rows[0].summaryRouge2F = .infinity
        #expect(throws: ReportError.self) { try EvaluationReport(datasets: rows).json() }
    }

    @Test func writesAtomicallyAndReplaces() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sac-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("report.json")
        try Data("old".utf8).write(to: url)
        try Self.report.writeJSON(to: url)
        #expect(try JSONDecoder().decode(EvaluationReport.self, from: Data(contentsOf: url)) == Self.report)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["report.json"])
        let md = dir.appendingPathComponent("report.md")
        try Self.report.writeMarkdown(to: md)
        #expect(try String(contentsOf: md, encoding: .utf8) == Self.report.markdown())
    }

    @Test func unwritableDirectoryAndNaNThrow() {
        let url = URL(fileURLWithPath: "/nonexistent-dir-\(UUID().uuidString)/report.json")
        #expect(throws: ReportError.self) { try Self.report.writeJSON(to: url) }
        var bad = Self.report
        bad.datasets[0].ratio = .nan
        do { _ = try bad.json(); Issue.record("NaN accepted") } catch {
            guard case let .nonFinite(dataset, field) = error else { Issue.record("got \(error)"); return }
            #expect(dataset == "SQuAD" && field == "ratio")
        }
    }
}

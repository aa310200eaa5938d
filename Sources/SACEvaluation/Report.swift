import Foundation
import SACModel

/// Why a report could not be written.
public enum ReportError: Error, CustomStringConvertible {
    /// A field is NaN or infinite, which JSON cannot hold.
    case nonFinite(dataset: String, field: String)
    /// Writing or renaming the file failed.
    case write(file: String, reason: String)

    public var description: String {
        switch self {
        case let .nonFinite(dataset, field): return "report: \(dataset).\(field) is not a finite number"
        case let .write(file, reason): return "\(file): cannot write report: \(reason)"
        }
    }
}

/// Evaluation results per data set plus their average, as JSON
/// `{"datasets": [{"name", "count", "rouge1_f", "em", "squad_f1", "squad_em", "ratio",
/// "compress_ms", "answer_ms"}], "average": {same keys}}` or as a Markdown table.
public struct EvaluationReport: Codable, Sendable, Equatable {
    /// One row per data set, in the order given.
    public var datasets: [DatasetScores]
    /// The unweighted mean of every field over the data sets, named "average"; its `count`
    /// is the total number of examples.
    public var average: DatasetScores

    /// A report of `datasets` with their average computed.
    public init(datasets: [DatasetScores]) {
        self.datasets = datasets
        let n = Double(max(datasets.count, 1))
        func mean(_ key: KeyPath<DatasetScores, Double>) -> Double { datasets.reduce(0) { $0 + $1[keyPath: key] } / n }
        /// The mean over the rows that have the field (nil when none has it).
        func mean(_ key: KeyPath<DatasetScores, Double?>) -> Double? {
            let v = datasets.compactMap { $0[keyPath: key] }
            return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
        }
        average = DatasetScores(
            name: "average", count: datasets.reduce(0) { $0 + $1.count },
            rouge1F: mean(\.rouge1F), em: mean(\.em), squadF1: mean(\.squadF1), squadEM: mean(\.squadEM),
            ratio: mean(\.ratio), compressMs: mean(\.compressMs), answerMs: mean(\.answerMs),
            summaryRouge1F: mean(\.summaryRouge1F), summaryRouge2F: mean(\.summaryRouge2F),
            summaryRougeLF: mean(\.summaryRougeLF), firstTokenMs: mean(\.firstTokenMs), carriers: mean(\.carriers),
            memoryBytes: mean(\.memoryBytes))
    }

    /// The report as a Markdown table: a header, an alignment row, one row per data set and a
    /// last row for the average. Scores and ratio have 2 decimals, timings 1. With `summary`,
    /// three more columns: the summary ROUGE-1/2/L F (`SummaryMetrics`; "–" where absent).
    public func markdown(summary: Bool = false) -> String {
        var lines = [
            "| data set | n | ROUGE-1 F | EM | SQuAD F1 | SQuAD EM | ratio | compress ms | answer ms |"
                + (summary ? " summary R-1 F | R-2 F | R-L F |" : ""),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + (summary ? "---:|---:|---:|" : ""),
        ]
        for row in datasets + [average] {
            var cells = [row.name, "\(row.count)"]
                + [row.rouge1F, row.em, row.squadF1, row.squadEM, row.ratio].map { String(format: "%.2f", $0) }
                + [row.compressMs, row.answerMs].map { String(format: "%.1f", $0) }
            if summary {
                cells += [row.summaryRouge1F, row.summaryRouge2F, row.summaryRougeLF].map { $0.map { String(format: "%.2f", $0) } ?? "–" }
            }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The report as pretty-printed JSON with sorted keys.
    /// - Throws: `ReportError.nonFinite` when a number is NaN or infinite.
    public func json() throws(ReportError) -> Data {
        for row in datasets + [average] {
            let fields: [(String, Double)] = [
                ("rouge1_f", row.rouge1F), ("em", row.em), ("squad_f1", row.squadF1), ("squad_em", row.squadEM),
                ("ratio", row.ratio), ("compress_ms", row.compressMs), ("answer_ms", row.answerMs),
            ] + [("summary_rouge1_f", row.summaryRouge1F), ("summary_rouge2_f", row.summaryRouge2F),
                 ("summary_rougeL_f", row.summaryRougeLF), ("first_token_ms", row.firstTokenMs),
                 ("carriers", row.carriers), ("memory_bytes", row.memoryBytes)].compactMap { f, v in v.map { (f, $0) } }
            for (field, value) in fields where !value.isFinite { throw .nonFinite(dataset: row.name, field: field) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { return try encoder.encode(self) } catch {
            throw .nonFinite(dataset: "report", field: "\(error)")
        }
    }

    /// Writes the JSON to `url` atomically: to a temporary file in the same directory, then renamed.
    /// - Throws: `ReportError`; on failure `url` is left as it was.
    public func writeJSON(to url: URL) throws(ReportError) {
        try Self.writeAtomically(try json(), to: url)
    }

    /// Writes the Markdown table to `url` atomically.
    public func writeMarkdown(to url: URL) throws(ReportError) {
        try Self.writeAtomically(Data(markdown().utf8), to: url)
    }

    static func writeAtomically(_ data: Data, to url: URL) throws(ReportError) {
        do {
            try AtomicFile.write(data, to: url.path)
        } catch let ModelError.unwritable(_, reason) {
            throw .write(file: url.path, reason: reason)
        } catch {
            throw .write(file: url.path, reason: "\(error)")
        }
    }
}

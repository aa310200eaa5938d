import Foundation

/// Reads question-answering data in the MRQA 2019 format (`.jsonl` or `.jsonl.gz`).
///
/// Line 1 may be a header `{"header": {"dataset": …}}`; every other non-blank line is one
/// context `{"context": str, "qas": [{"question", "answers": [str], "qid"}]}` and yields one
/// example per question. Other fields are ignored.
public enum MRQAReader {
    private struct Line: Decodable {
        struct Header: Decodable { var dataset: String? }
        struct QA: Decodable {
            var question: String?
            var answers: [String]?
            var qid: String?
            var id: String?
        }
        var header: Header?
        var context: String?
        var qas: [QA]?
    }

    /// Reads the examples of `url`, at most `limit` of them when given.
    ///
    /// A line that is not valid JSON, lacks `context` or `qas`, or a question without a
    /// question text or answers, is listed in `skipped` with its line number. Examples take
    /// `source` from the header's `dataset` when present, else from the file name.
    /// - Throws: `DataError` when the file is missing, unreadable, or named `.gz` but not gzip.
    public static func read(url: URL, limit: Int? = nil) throws(DataError) -> QAReadResult {
        try read(data: FileLoader.bytes(url), url: url, limit: limit)
    }

    /// Reads the examples of the decompressed contents `data` of `url`.
    static func read(data: Data, url: URL, limit: Int?) throws(DataError) -> QAReadResult {
        let name = FileLoader.baseName(url, removing: [".jsonl.gz", ".jsonl", ".gz"])
        var examples: [QAExample] = []
        var skipped: [SkippedLine] = []
        var source = name
        let decoder = JSONDecoder()
        let maxCount = limit ?? Int.max
        FileLoader.forEachLine(data) { lineNumber, bytes in
            guard examples.count < maxCount else { return false }
            let line: Line
            do { line = try decoder.decode(Line.self, from: bytes) } catch {
                skipped.append(SkippedLine(line: lineNumber, reason: "not a JSON object of the MRQA format: \(Self.describe(error))"))
                return true
            }
            if let header = line.header {
                if lineNumber == 1 || examples.isEmpty, let dataset = header.dataset { source = dataset }
                return true
            }
            guard let context = line.context else {
                skipped.append(SkippedLine(line: lineNumber, reason: "missing string field \"context\""))
                return true
            }
            guard let qas = line.qas else {
                skipped.append(SkippedLine(line: lineNumber, reason: "missing array field \"qas\""))
                return true
            }
            if qas.isEmpty { skipped.append(SkippedLine(line: lineNumber, reason: "\"qas\" is empty")) }
            for (k, qa) in qas.enumerated() where examples.count < maxCount {
                guard let question = qa.question else {
                    skipped.append(SkippedLine(line: lineNumber, reason: "qas[\(k)]: missing string field \"question\""))
                    continue
                }
                guard let answers = qa.answers, !answers.isEmpty else {
                    skipped.append(SkippedLine(line: lineNumber, reason: "qas[\(k)]: no \"answers\""))
                    continue
                }
                let id = qa.qid ?? qa.id ?? "\(name):\(lineNumber):\(k)"
                examples.append(QAExample(context: context, question: question, answers: answers, id: id, source: source))
            }
            return true
        }
        return QAReadResult(examples: examples, skipped: skipped, name: name)
    }

    /// A one-line account of a decoding error.
    static func describe(_ error: Error) -> String {
        switch error as? DecodingError {
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .keyNotFound(_, c), let .dataCorrupted(c):
            let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return (path.isEmpty ? "" : "at \(path): ") + c.debugDescription
        default:
            return "\(error)"
        }
    }
}

import Foundation

/// Reads QMSum (Zhong et al. 2021), query-based meeting summarization, as question-answering
/// examples: one per query, the context being the meeting's transcript.
///
/// One JSON object per line: `{"meeting_transcripts": [{"speaker", "content"}],
/// "general_query_list": [{"query", "answer"}], "specific_query_list": [{"query", "answer",
/// …}], …}`. The transcript is rendered one turn a line, `"speaker: content"`, turns joined by
/// `"\n"`; the question is the query and the single answer its reference summary. General
/// queries come first, then specific ones, in file order. Ids are `NAME:LINE:gK` and
/// `NAME:LINE:sK`; the source is "QMSum". Transcripts run to many thousands of tokens: the
/// multi-chunk case (`QAPrompt.contextLimit` cuts them to what the model's positions allow).
public enum QMSumReader {
    private struct Line: Decodable {
        struct Turn: Decodable {
            var speaker: String?
            var content: String?
        }
        struct Query: Decodable {
            var query: String?
            var answer: String?
        }
        var meeting_transcripts: [Turn]?
        var general_query_list: [Query]?
        var specific_query_list: [Query]?
    }

    /// Whether `data` (a decompressed JSON-lines file) holds QMSum records: its first
    /// non-blank line is an object with a `"meeting_transcripts"` field.
    public static func looksLikeQMSum(_ data: Data) -> Bool {
        var found = false
        FileLoader.forEachLine(data) { _, bytes in
            found = (try? JSONSerialization.jsonObject(with: bytes) as? [String: Any])?["meeting_transcripts"] != nil
            return false
        }
        return found
    }

    /// Reads the examples of `url` (`.jsonl` or `.jsonl.gz`), at most `limit` of them.
    /// - Throws: `DataError` when the file is missing, unreadable, or named `.gz` but not gzip.
    public static func read(url: URL, limit: Int? = nil) throws(DataError) -> QAReadResult {
        try read(data: FileLoader.bytes(url), url: url, limit: limit)
    }

    /// Reads the examples of the decompressed contents `data` of `url`.
    ///
    /// A line that is not valid JSON or has no transcript, a turn without `content`, and a
    /// query without `query` or `answer` are listed in `skipped` with the line number and the
    /// field; a turn without `speaker` is rendered without one.
    static func read(data: Data, url: URL, limit: Int?) throws(DataError) -> QAReadResult {
        let name = FileLoader.baseName(url, removing: [".jsonl.gz", ".jsonl", ".gz"])
        var examples: [QAExample] = []
        var skipped: [SkippedLine] = []
        let decoder = JSONDecoder()
        let maxCount = limit ?? Int.max
        FileLoader.forEachLine(data) { lineNumber, bytes in
            guard examples.count < maxCount else { return false }
            let line: Line
            do { line = try decoder.decode(Line.self, from: bytes) } catch {
                skipped.append(SkippedLine(line: lineNumber, reason: "not a JSON object of the QMSum format: \(MRQAReader.describe(error))"))
                return true
            }
            guard let turns = line.meeting_transcripts, !turns.isEmpty else {
                skipped.append(SkippedLine(line: lineNumber, reason: "missing or empty array field \"meeting_transcripts\""))
                return true
            }
            var rendered: [String] = []
            for (k, turn) in turns.enumerated() {
                guard let content = turn.content else {
                    skipped.append(SkippedLine(line: lineNumber, reason: "meeting_transcripts[\(k)]: missing string field \"content\""))
                    continue
                }
                rendered.append(turn.speaker.map { "\($0): \(content)" } ?? content)
            }
            let context = rendered.joined(separator: "\n")
            let lists = [("general_query_list", "g", line.general_query_list ?? []), ("specific_query_list", "s", line.specific_query_list ?? [])]
            if lists.allSatisfy({ $0.2.isEmpty }) {
                skipped.append(SkippedLine(line: lineNumber, reason: "no queries (\"general_query_list\" and \"specific_query_list\" empty or missing)"))
            }
            for (field, tag, queries) in lists {
                for (k, q) in queries.enumerated() where examples.count < maxCount {
                    guard let query = q.query else {
                        skipped.append(SkippedLine(line: lineNumber, reason: "\(field)[\(k)]: missing string field \"query\""))
                        continue
                    }
                    guard let answer = q.answer, !answer.isEmpty else {
                        skipped.append(SkippedLine(line: lineNumber, reason: "\(field)[\(k)]: missing or empty string field \"answer\""))
                        continue
                    }
                    examples.append(QAExample(
                        context: context, question: query, answers: [answer], id: "\(name):\(lineNumber):\(tag)\(k)", source: "QMSum"))
                }
            }
            return true
        }
        return QAReadResult(examples: examples, skipped: skipped, name: name)
    }
}

import Foundation

/// Reads SQuAD v1.1 JSON: `{"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
/// "question", "answers": [{"text", "answer_start"}]}]}]}]}`.
public enum SQuADReader {
    private struct File: Decodable {
        struct Article: Decodable {
            var title: String?
            var paragraphs: [Paragraph]?
        }
        struct Paragraph: Decodable {
            var context: String?
            var qas: [QA]?
        }
        struct QA: Decodable {
            struct Answer: Decodable { var text: String? }
            var id: String?
            var question: String?
            var answers: [Answer]?
        }
        var data: [Article]?
    }

    /// Reads every question of a SQuAD v1.1 file (optionally `.gz`) as one example.
    ///
    /// Entries lacking a context, question or answer text are listed in `skipped` with
    /// `line` 0 and their JSON path (e.g. `data[3].paragraphs[1].qas[0]`). Examples take
    /// `source` "SQuAD" and `id` from the question's `id`.
    /// - Throws: `DataError` when the file is missing, unreadable, or not a SQuAD JSON object.
    public static func read(url: URL) throws(DataError) -> QAReadResult {
        let bytes = try FileLoader.bytes(url)
        let name = FileLoader.baseName(url, removing: [".json.gz", ".json", ".gz"])
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: bytes) } catch {
            throw .badJSON(file: url.path, expected: "a SQuAD v1.1 JSON object: \(MRQAReader.describe(error))")
        }
        guard let articles = file.data else { throw .badJSON(file: url.path, expected: "a top-level \"data\" array") }
        var examples: [QAExample] = []
        var skipped: [SkippedLine] = []
        for (a, article) in articles.enumerated() {
            guard let paragraphs = article.paragraphs else {
                skipped.append(SkippedLine(line: 0, reason: "data[\(a)]: missing \"paragraphs\""))
                continue
            }
            for (p, paragraph) in paragraphs.enumerated() {
                let at = "data[\(a)].paragraphs[\(p)]"
                guard let context = paragraph.context, let qas = paragraph.qas else {
                    skipped.append(SkippedLine(line: 0, reason: "\(at): missing \"context\" or \"qas\""))
                    continue
                }
                for (q, qa) in qas.enumerated() {
                    let texts = (qa.answers ?? []).compactMap(\.text)
                    guard let question = qa.question, !texts.isEmpty else {
                        skipped.append(SkippedLine(line: 0, reason: "\(at).qas[\(q)]: missing \"question\" or answer \"text\""))
                        continue
                    }
                    examples.append(QAExample(
                        context: context, question: question, answers: texts,
                        id: qa.id ?? "\(name):\(a).\(p).\(q)", source: "SQuAD"))
                }
            }
        }
        return QAReadResult(examples: examples, skipped: skipped, name: name)
    }
}

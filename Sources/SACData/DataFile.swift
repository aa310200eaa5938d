import Foundation

/// What a data file holds, told by its name, and the reader for it: the one place that maps
/// file names to readers (`sac train`, `sac eval` and the trainer's data assembly use it).
public enum DataFile {
    public enum Kind: Sendable, Equatable {
        /// JSON lines (`.jsonl`, `.jsonl.gz`): MRQA, or QMSum (told by the first record's
        /// fields: `QMSumReader.looksLikeQMSum`).
        case mrqa
        /// SQuAD v1.1 JSON (`.json`).
        case squad
        /// Plain text (`.txt`, `.txt.gz`).
        case text

        /// Whether the file holds questions and answers.
        public var isQA: Bool { self != .text }
    }

    /// The names the readers accept, for error messages.
    public static let accepted = ".jsonl/.jsonl.gz MRQA or QMSum, .json SQuAD v1.1, or .txt/.txt.gz text"

    /// The kind of the file at `path`, or nil for a name no reader takes.
    public static func kind(of path: String) -> Kind? {
        let name = URL(fileURLWithPath: path).lastPathComponent
        if name.hasSuffix(".jsonl") || name.hasSuffix(".jsonl.gz") { return .mrqa }
        if name.hasSuffix(".json") { return .squad }
        if name.hasSuffix(".txt") || name.hasSuffix(".txt.gz") { return .text }
        return nil
    }

    /// Reads the QA file at `url` with the reader its name calls for (at most `limit`
    /// examples of an MRQA file).
    ///
    /// - Throws: `DataError.unsupportedFile` for a name that is not a QA file's, else the
    ///   reader's `DataError`.
    public static func readQA(url: URL, limit: Int? = nil) throws(DataError) -> QAReadResult {
        switch kind(of: url.path) {
        case .mrqa:
            let data = try FileLoader.bytes(url)
            return QMSumReader.looksLikeQMSum(data)
                ? try QMSumReader.read(data: data, url: url, limit: limit)
                : try MRQAReader.read(data: data, url: url, limit: limit)
        case .squad: return try SQuADReader.read(url: url)
        case .text, nil: throw .unsupportedFile(file: url.path, expected: ".jsonl/.jsonl.gz MRQA or QMSum, or .json SQuAD v1.1")
        }
    }
}

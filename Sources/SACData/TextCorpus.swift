import Foundation

/// Plain-text corpora for language-model pre-training.
public enum TextCorpus {
    /// The UTF-8 text of a file (decompressed first when the name ends in `.gz`).
    ///
    /// With `repairingInvalidUTF8` each ill-formed byte sequence becomes U+FFFD instead of an
    /// error (some public corpora, e.g. the State of the Union file, hold stray Latin-1 bytes).
    /// - Throws: `DataError.unreadable`, `.badGzip`, or `.notUTF8` with the first bad byte's offset.
    public static func read(url: URL, repairingInvalidUTF8: Bool = false) throws(DataError) -> String {
        let data = try FileLoader.bytes(url)
        if !repairingInvalidUTF8, let offset = FileLoader.firstInvalidUTF8(data) {
            throw .notUTF8(file: url.path, offset: offset)
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Splits `text` into documents at blank lines (lines empty or all whitespace).
    ///
    /// Each document is its lines joined by "\n" with surrounding whitespace trimmed; empty
    /// documents are dropped. `minCharacters` drops documents shorter than that many characters.
    public static func documents(in text: String, minCharacters: Int = 1) -> [String] {
        var documents: [String] = []
        var current: [Substring] = []
        func flush() {
            let doc = current.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            if !doc.isEmpty && doc.count >= minCharacters { documents.append(doc) }
            current.removeAll(keepingCapacity: true)
        }
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            if line.allSatisfy(\.isWhitespace) { flush() } else { current.append(line) }
        }
        flush()
        return documents
    }
}

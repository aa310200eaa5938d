import Foundation

/// Why a data file could not be read at all (problems with single lines are reported in
/// `QAReadResult.skipped` instead).
public enum DataError: Error, CustomStringConvertible {
    /// The file does not exist or cannot be read.
    case unreadable(file: String, reason: String)
    /// A `.gz` file that is not valid gzip.
    case badGzip(file: String, error: GzipError)
    /// The bytes are not valid UTF-8.
    case notUTF8(file: String, offset: Int?)
    /// The file is not the JSON structure expected.
    case badJSON(file: String, expected: String)
    /// No reader takes a file of this name (`DataFile.kind(of:)`).
    case unsupportedFile(file: String, expected: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read: \(reason)"
        case let .badGzip(file, error): return "\(file): not a valid gzip file: \(error)"
        case let .notUTF8(file, offset):
            return "\(file): not valid UTF-8" + (offset.map { " (first bad byte at offset \($0))" } ?? "")
        case let .badJSON(file, expected): return "\(file): expected \(expected)"
        case let .unsupportedFile(file, expected): return "\(file): unsupported data file (expected \(expected))"
        }
    }
}

/// File loading shared by the readers.
enum FileLoader {
    /// The file's bytes, decompressed when its name ends in `.gz`.
    static func bytes(_ url: URL) throws(DataError) -> Data {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let reason = FileManager.default.fileExists(atPath: url.path) ? error.localizedDescription : "no such file"
            throw .unreadable(file: url.path, reason: reason)
        }
        guard url.pathExtension == "gz" else { return data }
        do { return try Gzip.decompress(data) } catch { throw .badGzip(file: url.path, error: error) }
    }

    /// Calls `body` with each non-blank line of `data` (a JSON-lines file) and its 1-based
    /// line number, until it returns false.
    static func forEachLine(_ data: Data, _ body: (_ number: Int, _ line: Data) -> Bool) {
        var number = 0
        var start = data.startIndex
        while start < data.endIndex {
            let end = data[start...].firstIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
            number += 1
            let bytes = data[start..<end]
            start = end < data.endIndex ? end + 1 : end
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            if !body(number, bytes) { return }
        }
    }

    /// The file name without the given extensions (longest first), e.g. "SQuAD-dev".
    static func baseName(_ url: URL, removing suffixes: [String]) -> String {
        let name = url.lastPathComponent
        for s in suffixes where name.hasSuffix(s) && name.count > s.count { return String(name.dropLast(s.count)) }
        return name
    }

    /// The offset of the first byte that is not part of valid UTF-8, or nil when all are valid.
    static func firstInvalidUTF8(_ data: Data) -> Int? {
        var bytes = data.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &bytes) {
            case let .valid(encoded): offset += encoded.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }
}

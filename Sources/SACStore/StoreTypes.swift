import Foundation
import GRDB

/// Errors of the memory store, each naming the memory or file concerned.
public enum StoreError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Not a memory id (32 lower-case hex digits); never used as a path.
    case invalidID(String)
    /// No memory with this id in the index.
    case notFound(id: String)
    /// The memory's file is missing, unreadable, or differs from the index.
    case corrupt(id: String, detail: String)
    /// The store directory or index cannot be used.
    case unusable(path: String, detail: String)

    public var description: String {
        switch self {
        case .invalidID(let s): return "invalid memory id \(s.debugDescription): expected 32 lower-case hex digits"
        case .notFound(let id): return "no memory with id \(id)"
        case .corrupt(let id, let d): return "memory \(id) is corrupted: \(d)"
        case .unusable(let p, let d): return "store \(p): \(d)"
        }
    }
}

/// A memory id: 32 lower-case hex digits (128 random bits). Validated before anything
/// touches the file system, so that no request can name a path outside the store.
public struct MemoryID: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    /// Throws `StoreError.invalidID` unless `text` is 32 lower-case hex digits.
    public init(_ text: String) throws {
        let utf8 = Array(text.utf8)
        guard utf8.count == 32, utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw StoreError.invalidID(text)
        }
        value = text
    }

    /// A fresh random id.
    public static func random() -> MemoryID {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        return try! MemoryID(SHA256.hexString(bytes))
    }

    public var description: String { value }
}

/// One row of the index: what a stored memory is and where its bytes are checked from.
public struct StoredMemory: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "memories"

    /// `MemoryID` text; the file is `memories/<id>.safetensors`.
    public var id: String
    /// SHA-256 (hex) of the source text's UTF-8 bytes.
    public var contentHash: String
    /// `Identity.model` of the model that made it.
    public var model: String
    /// `Compressor.adapterIdentity` of the adapter that made it.
    public var adapter: String
    /// Compression method (raw value of `CompressionMethod`).
    public var method: String
    /// Compression ratio the adapter was trained for.
    public var ratio: Int
    /// Encoder input tokens (N).
    public var contextTokens: Int
    /// Carriers kept (C).
    public var carriers: Int
    /// Size and SHA-256 (hex) of the memory file, checked whenever it is read.
    public var fileBytes: Int
    public var fileSha256: String
    /// Creation time, seconds since 1970.
    public var createdAt: Double

    enum CodingKeys: String, CodingKey {
        case id, model, adapter, method, ratio, carriers
        case contentHash = "content_hash", contextTokens = "context_tokens", fileBytes = "file_bytes"
        case fileSha256 = "file_sha256", createdAt = "created_at"
    }

    /// Context tokens per carrier.
    public var achievedRatio: Double { Double(contextTokens) / Double(max(1, carriers)) }
}

/// What `Store.verify` found.
public struct StoreVerification: Sendable, Equatable {
    /// Indexed memories checked.
    public var checked = 0
    /// Indexed memories whose file is missing or differs from the index: id → reason.
    public var problems: [String: String] = [:]
    /// Files in the store that no index row names (a write interrupted after its rename, or a
    /// delete interrupted after its commit): harmless, never served; `clean` removes them.
    public var orphanFiles: [String] = []
    /// Temporary files of interrupted writes: harmless; `clean` removes them.
    public var temporaryFiles: [String] = []

    /// Whether every indexed memory is readable and matches the index.
    public var isConsistent: Bool { problems.isEmpty }
}

import Foundation
import SACCompression
import SACModel

/// What adding a text to the store produced.
public struct IngestResult: Sendable {
    public var record: StoredMemory
    /// False when the same text was already stored with this compressor.
    public var created: Bool
    /// Milliseconds spent compressing (0 when the memory already existed).
    public var compressMilliseconds: Double
}

/// Compresses texts with one compressor into a store: the path shared by `sac store add`
/// and the server. Not thread-safe (the compressor keeps working buffers).
public struct Ingestor {
    public let compressor: Compressor
    public let prompt: QAPrompt
    public let store: Store
    /// Longest context accepted, in encoder tokens.
    public let maxContextTokens: Int

    public init(compressor: Compressor, prompt: QAPrompt, store: Store, maxContextTokens: Int? = nil) {
        self.compressor = compressor
        self.prompt = prompt
        self.store = store
        self.maxContextTokens = min(maxContextTokens ?? compressor.settings.maxContextTokens, compressor.settings.maxContextTokens)
    }

    /// Stores the memory of `text`, or returns the one already stored for it. `betweenChunks`
    /// runs after each encoded chunk but the last (the server decodes a step of its streams
    /// there, so that a long compression does not hold them).
    ///
    /// - Throws: `CompressionError.emptyInput` for a blank text, `contextTooLong` over the
    ///   token limit, `StoreError` when the store cannot be written.
    public func add(text: String, betweenChunks: (() -> Void)? = nil) throws -> IngestResult {
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw CompressionError.emptyInput(what: "text")
        }
        let hash = SHA256.hex(text)
        let s = compressor.settings
        if let r = try store.find(contentHash: hash, model: compressor.modelIdentity, adapter: compressor.adapterIdentity,
                                  method: s.method.rawValue, ratio: s.ratio) {
            return IngestResult(record: r, created: false, compressMilliseconds: 0)
        }
        let ids = prompt.context(text)
        guard ids.count <= maxContextTokens else { throw CompressionError.contextTooLong(tokens: ids.count, limit: maxContextTokens) }
        let t0 = Date()
        let memory = try compressor.compress(ids, betweenChunks: betweenChunks)
        let ms = Date().timeIntervalSince(t0) * 1000
        let (record, created) = try store.add(memory, contentHash: hash)
        return IngestResult(record: record, created: created, compressMilliseconds: created ? ms : 0)
    }
}

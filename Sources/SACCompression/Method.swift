import SACModel

/// A context-compression method (SPEC §2–3). They differ only in a few decisions, held as
/// data here: which tokens carry the memory, the encoder's mask and positions, what the
/// memory holds, and where the decoder's positions start.
public enum CompressionMethod: String, Codable, CaseIterable, Sendable {
    /// Semantic-Anchor Compression: anchors inside the context, bidirectional chunks, KV.
    case sac
    /// Memory tokens appended to each chunk, positioned over the chunk, KV; decoder from N.
    case epl
    /// 500xCompressor: appended memory tokens, chunk-local positions, KV.
    case x500 = "500x"
    /// ICAE: appended memory tokens; their final hidden states feed the decoder as embeddings.
    case icae
    /// No compression: the whole context's KV (with its own LoRA), the upper bound.
    case full
    /// Training-free hard baseline: the frozen model reads only the anchor tokens as text.
    case tokens

    /// Whether carriers are learned tokens appended to each chunk.
    public var appendsMemoryTokens: Bool { self == .epl || self == .x500 || self == .icae }
    /// Whether the method has trainable parameters.
    public var isTrainable: Bool { self != .tokens }
    /// Whether the decoder reads per-layer keys/values (else input embeddings: ICAE).
    public var usesKV: Bool { self != .icae }
}

/// How SAC picks its anchors inside a chunk.
public enum AnchorSelection: String, Codable, CaseIterable, Sendable {
    /// j_k = h + k·r, h = ⌊(r − 1)/2⌋ (the default).
    case uniform
    /// K indices without replacement, sorted, seeded from (seed, chunk index) (ablation).
    case random
}

/// The learned marker added to an anchor's input embedding.
public enum AnchorEmbeddingMode: String, Codable, CaseIterable, Sendable {
    /// One vector per anchor slot k (the authors' code; default).
    case slot
    /// One vector shared by all anchors (the paper's Eq. 1).
    case shared
    /// No anchor embedding (ablation).
    case none
}

/// Attention inside an encoder chunk.
public enum EncoderAttention: String, Codable, CaseIterable, Sendable {
    case bidirectional, causal
}

/// Errors in choosing or combining compression options, and in memories and adapters.
public enum CompressionError: Error, CustomStringConvertible, Equatable {
    /// A setting (named by its `CompressorSettings` field, or the input it concerns) that does
    /// not apply to the method, or an invalid value. The command line maps names to its flags.
    case invalidOption(option: String, detail: String)
    /// An empty context or question.
    case emptyInput(what: String)
    /// A context longer than the configured limit.
    case contextTooLong(tokens: Int, limit: Int)
    /// A memory or adapter made for something else.
    case identityMismatch(file: String, field: String, expected: String, found: String)
    /// A file that is not what it should be.
    case invalidFile(file: String, detail: String)

    public var description: String {
        switch self {
        case .invalidOption(let o, let d): return "invalid setting \(o): \(d)"
        case .emptyInput(let w): return "empty \(w): expected at least one token"
        case .contextTooLong(let n, let limit):
            return "context has \(n) tokens, more than the limit of \(limit) (maxContextTokens)"
        case .identityMismatch(let f, let field, let e, let found):
            return "\(f): \(field) does not match: expected \(e), found \(found)"
        case .invalidFile(let f, let d): return "\(f): \(d)"
        }
    }
}

/// Everything that fixes how contexts are compressed (and so what an adapter was trained for).
public struct CompressorSettings: Codable, Sendable, Equatable {
    public var method: CompressionMethod
    /// Compression ratio r ≥ 2 (`full` ignores it and reports 1).
    public var ratio: Int
    /// Tokens per encoder chunk (510 in the paper).
    public var chunkSize: Int
    public var anchors: AnchorSelection
    public var anchorEmbedding: AnchorEmbeddingMode
    public var attention: EncoderAttention
    /// LoRA on the encoder (nil for `tokens`).
    public var lora: LoRAConfig?
    /// Memory tokens per chunk for the appended-token methods: ⌊chunkSize / r⌋ in every chunk
    /// (false, the authors' EPL code) or ⌈L / r⌉ for a chunk of L tokens (true).
    public var memoryPerChunkLength: Bool
    /// Longest context (encoder input tokens) accepted.
    public var maxContextTokens: Int
    /// Seed for random anchors.
    public var seed: UInt64

    /// The defaults of SPEC for `method` at ratio `ratio`.
    public init(
        method: CompressionMethod, ratio: Int, chunkSize: Int = 510, anchors: AnchorSelection = .uniform,
        anchorEmbedding: AnchorEmbeddingMode = .slot, attention: EncoderAttention? = nil, lora: LoRAConfig? = LoRAConfig(),
        memoryPerChunkLength: Bool = false, maxContextTokens: Int = 32_768, seed: UInt64 = 0
    ) {
        self.method = method
        self.ratio = method == .full ? 1 : ratio
        self.chunkSize = chunkSize
        self.anchors = anchors
        self.anchorEmbedding = method == .sac ? anchorEmbedding : .none
        self.attention = attention ?? (method == .sac ? .bidirectional : .causal)
        self.lora = method.isTrainable ? lora : nil
        self.memoryPerChunkLength = memoryPerChunkLength
        self.maxContextTokens = maxContextTokens
        self.seed = seed
    }

    /// Builds settings from options a user gave explicitly (nil = not given), rejecting those
    /// that do not apply to the method, e.g. `--anchors` with `--method icae`.
    public static func from(
        method: CompressionMethod, ratio: Int?, chunkSize: Int?, anchors: AnchorSelection?,
        anchorEmbedding: AnchorEmbeddingMode?, attention: EncoderAttention?, lora: LoRAConfig?,
        memoryPerChunkLength: Bool?, maxContextTokens: Int?, seed: UInt64?
    ) throws -> CompressorSettings {
        func reject(_ option: String, _ given: Bool, unless allowed: Bool) throws {
            if given && !allowed {
                throw CompressionError.invalidOption(
                    option: option, detail: "does not apply to method \(method.rawValue)")
            }
        }
        try reject("anchors", anchors != nil, unless: method == .sac || method == .tokens)
        try reject("anchorEmbedding", anchorEmbedding != nil, unless: method == .sac)
        try reject("attention", attention != nil, unless: method == .sac)
        try reject("ratio", ratio != nil, unless: method != .full)
        try reject("memoryPerChunkLength", memoryPerChunkLength != nil, unless: method.appendsMemoryTokens)
        try reject("lora", lora != nil, unless: method.isTrainable)
        if method != .full && ratio == nil {
            throw CompressionError.invalidOption(option: "ratio", detail: "required for method \(method.rawValue)")
        }
        let s = CompressorSettings(
            method: method, ratio: ratio ?? 1, chunkSize: chunkSize ?? 510, anchors: anchors ?? .uniform,
            anchorEmbedding: anchorEmbedding ?? .slot, attention: attention, lora: lora ?? LoRAConfig(),
            memoryPerChunkLength: memoryPerChunkLength ?? false, maxContextTokens: maxContextTokens ?? 32_768,
            seed: seed ?? 0)
        try s.validate()
        return s
    }

    /// Checks the values: ratio ≥ 2 (except `full`; `tokens` takes 1, the frozen model reading
    /// the whole context), chunk size ≥ 2 and ≥ ratio, a valid LoRA.
    public func validate() throws {
        if method != .full {
            let least = method == .tokens ? 1 : 2
            guard ratio >= least else {
                throw CompressionError.invalidOption(option: "ratio", detail: "\(ratio), expected an integer ≥ \(least)")
            }
            guard chunkSize >= ratio else {
                throw CompressionError.invalidOption(option: "chunkSize", detail: "\(chunkSize) is smaller than the ratio \(ratio)")
            }
        }
        guard chunkSize >= 2 else { throw CompressionError.invalidOption(option: "chunkSize", detail: "\(chunkSize), expected ≥ 2") }
        guard maxContextTokens >= 1 else {
            throw CompressionError.invalidOption(option: "maxContextTokens", detail: "\(maxContextTokens), expected ≥ 1")
        }
        if let lora {
            do { try lora.validate() } catch { throw CompressionError.invalidOption(option: "lora", detail: "\(error)") }
        }
    }

    /// h = ⌊(r − 1)/2⌋, the first anchor's index in a chunk.
    public var anchorOffset: Int { (ratio - 1) / 2 }

    /// Anchor slots needed for a full chunk: ⌈(chunkSize − h)/r⌉.
    public var maxAnchorsPerChunk: Int { Anchors.count(length: chunkSize, ratio: ratio) }

    /// Memory tokens for a chunk of `length` tokens (appended-token methods).
    public func memoryTokens(chunkLength length: Int) -> Int {
        memoryPerChunkLength ? (length + ratio - 1) / ratio : max(1, chunkSize / ratio)
    }
}

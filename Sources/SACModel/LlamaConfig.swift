import Foundation

/// The hyper-parameters of a Llama-architecture decoder (Llama, SmolLM2, Mistral without
/// sliding window), read from GGUF metadata or a Hugging Face `config.json`.
public struct LlamaConfig: Sendable, Equatable, Codable {
    /// Number of tokens in the vocabulary (rows of the embedding).
    public var vocabSize: Int
    /// Model width (embedding size).
    public var hiddenSize: Int
    /// Width of the SwiGLU MLP.
    public var intermediateSize: Int
    /// Number of decoder layers.
    public var numLayers: Int
    /// Number of query heads.
    public var numHeads: Int
    /// Number of key/value heads (grouped-query attention); divides `numHeads`.
    public var numKVHeads: Int
    /// Size of one attention head (usually `hiddenSize / numHeads`); even, for RoPE.
    public var headDim: Int
    /// Width of one token's keys (or values) in one layer: `numKVHeads · headDim`.
    public var kvDim: Int { numKVHeads * headDim }
    /// Epsilon of RMSNorm.
    public var rmsNormEps: Float
    /// RoPE base frequency θ.
    public var ropeTheta: Double
    /// Longest context the model was trained for.
    public var maxPositionEmbeddings: Int
    /// Whether the output projection reuses the token embedding (no `lm_head.weight`).
    public var tieWordEmbeddings: Bool
    /// Beginning-of-sequence token id, when known.
    public var bosTokenId: Int?
    /// End-of-sequence token id (the first one when the config lists several), when known.
    public var eosTokenId: Int?

    /// A configuration from explicit values; throws `ModelError.invalidField` (file
    /// "LlamaConfig") when they are inconsistent (see ``validate(file:)``).
    public init(
        vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numLayers: Int, numHeads: Int,
        numKVHeads: Int, headDim: Int? = nil, rmsNormEps: Float, ropeTheta: Double,
        maxPositionEmbeddings: Int, tieWordEmbeddings: Bool, bosTokenId: Int? = nil, eosTokenId: Int? = nil
    ) throws {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim ?? (numHeads > 0 ? hiddenSize / numHeads : 0)
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        try validate(file: "LlamaConfig")
    }

    /// Checks that sizes are positive, `hiddenSize` is divisible by `numHeads`, `numHeads` by
    /// `numKVHeads`, `headDim` is even, the epsilon and θ are positive and finite, and the
    /// token ids lie in the vocabulary. Throws `ModelError.invalidField` naming `file`.
    public func validate(file: String) throws {
        func bad(_ field: String, _ expected: String, _ found: Any) -> ModelError {
            .invalidField(file: file, field: field, expected: expected, found: "\(found)")
        }
        for (name, v) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize),
                          ("intermediate_size", intermediateSize), ("num_hidden_layers", numLayers),
                          ("num_attention_heads", numHeads), ("num_key_value_heads", numKVHeads),
                          ("head_dim", headDim), ("max_position_embeddings", maxPositionEmbeddings)] where v <= 0 {
            throw bad(name, "a positive integer", v)
        }
        guard hiddenSize % numHeads == 0 else {
            throw bad("hidden_size", "a multiple of num_attention_heads (\(numHeads))", hiddenSize)
        }
        guard numHeads % numKVHeads == 0 else {
            throw bad("num_attention_heads", "a multiple of num_key_value_heads (\(numKVHeads))", numHeads)
        }
        guard headDim % 2 == 0 else { throw bad("head_dim", "an even number (RoPE rotates pairs)", headDim) }
        guard rmsNormEps.isFinite, rmsNormEps > 0 else { throw bad("rms_norm_eps", "a positive number", rmsNormEps) }
        guard ropeTheta.isFinite, ropeTheta > 0 else { throw bad("rope_theta", "a positive number", ropeTheta) }
        if let b = bosTokenId, !(0..<vocabSize).contains(b) {
            throw bad("bos_token_id", "an id below vocab_size \(vocabSize)", b)
        }
        if let e = eosTokenId, !(0..<vocabSize).contains(e) {
            throw bad("eos_token_id", "an id below vocab_size \(vocabSize)", e)
        }
    }
}

// MARK: - GGUF

extension LlamaConfig {
    /// Reads the `llama.*` metadata of a GGUF file. The vocabulary size comes from the
    /// `tokenizer.ggml.tokens` count, else `llama.vocab_size`, else the embedding's rows; the
    /// embedding is tied when there is no `output.weight` tensor. Throws `ModelError`
    /// (`unsupported` for other architectures or RoPE scaling, `missingField`, `invalidField`).
    public init(gguf g: GGUFFile) throws {
        let file = g.path
        let arch = try g.string("general.architecture")
        guard let arch else { throw ModelError.missingField(file: file, field: "general.architecture") }
        guard arch == "llama" else {
            throw ModelError.unsupported(file: file, field: "general.architecture", what: "architecture \"\(arch)\" (expected llama)")
        }
        func req(_ key: String) throws -> Int {
            guard let v = try g.int(key) else { throw ModelError.missingField(file: file, field: key) }
            return v
        }
        if let s = try g.string("llama.rope.scaling.type"), s != "none" {
            throw ModelError.unsupported(file: file, field: "llama.rope.scaling.type", what: "RoPE scaling \"\(s)\"")
        }
        let hidden = try req("llama.embedding_length")
        let heads = try req("llama.attention.head_count")
        var vocab = try g.arrayCount("tokenizer.ggml.tokens")
        if vocab == nil { vocab = try g.int("llama.vocab_size") }
        if vocab == nil, let e = g.tensorInfo("token_embd.weight"), e.dims.count == 2 { vocab = e.dims[1] }
        guard let vocab else { throw ModelError.missingField(file: file, field: "tokenizer.ggml.tokens") }
        guard let eps = try g.float("llama.attention.layer_norm_rms_epsilon") else {
            throw ModelError.missingField(file: file, field: "llama.attention.layer_norm_rms_epsilon")
        }
        vocabSize = vocab
        hiddenSize = hidden
        intermediateSize = try req("llama.feed_forward_length")
        numLayers = try req("llama.block_count")
        numHeads = heads
        numKVHeads = try g.int("llama.attention.head_count_kv") ?? heads
        headDim = try g.int("llama.attention.key_length") ?? (heads > 0 ? hidden / heads : 0)
        rmsNormEps = Float(eps)
        ropeTheta = try g.float("llama.rope.freq_base") ?? 10000
        maxPositionEmbeddings = try req("llama.context_length")
        tieWordEmbeddings = g.tensorInfo("output.weight") == nil
        bosTokenId = try g.int("tokenizer.ggml.bos_token_id")
        eosTokenId = try g.int("tokenizer.ggml.eos_token_id")
        try validate(file: file)
    }
}

// MARK: - Hugging Face config.json

extension LlamaConfig {
    /// Reads a Hugging Face `config.json` at `path` (see ``init(configJSON:file:)``).
    public init(configJSONPath path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelError.unreadable(file: path, reason: "\(error.localizedDescription)")
        }
        try self.init(configJSON: data, file: path)
    }

    /// Parses a Hugging Face `config.json`. Accepts `model_type` "llama" or "mistral" (without
    /// sliding window); `head_dim` defaults to hidden/heads, `num_key_value_heads` to the head
    /// count, `rope_theta` (or `rope_parameters.rope_theta`) to 10000, `tie_word_embeddings`
    /// to false. Throws `ModelError.unsupported` for RoPE scaling other than null/"default",
    /// biases, activations other than SiLU, and `invalidField`/`missingField` naming `file`.
    public init(configJSON data: Data, file: String) throws {
        let c: HFLlamaConfig
        do { c = try JSONDecoder().decode(HFLlamaConfig.self, from: data) } catch let e as DecodingError {
            throw ModelError.invalidField(file: file, field: e.fieldPath, expected: "a Llama config.json", found: e.summary)
        } catch {
            throw ModelError.invalidField(file: file, field: "(root)", expected: "JSON", found: "\(error)")
        }
        guard let mt = c.model_type else { throw ModelError.missingField(file: file, field: "model_type") }
        guard mt == "llama" || mt == "mistral" else {
            throw ModelError.unsupported(file: file, field: "model_type", what: "model type \"\(mt)\" (expected llama or mistral)")
        }
        if let sw = c.sliding_window, let mp = c.max_position_embeddings, sw < mp {
            throw ModelError.unsupported(file: file, field: "sliding_window", what: "sliding-window attention (\(sw))")
        }
        for (name, flag) in [("attention_bias", c.attention_bias), ("mlp_bias", c.mlp_bias)] where flag == true {
            throw ModelError.unsupported(file: file, field: name, what: "bias terms")
        }
        if let act = c.hidden_act, act != "silu" {
            throw ModelError.unsupported(file: file, field: "hidden_act", what: "activation \"\(act)\" (expected silu)")
        }
        for (field, s) in [("rope_scaling", c.rope_scaling), ("rope_parameters", c.rope_parameters)] {
            if let s, let t = s.rope_type ?? s.type, t != "default", t != "none" {
                throw ModelError.unsupported(file: file, field: field, what: "RoPE scaling \"\(t)\"")
            }
        }
        func req(_ v: Int?, _ name: String) throws -> Int {
            guard let v else { throw ModelError.missingField(file: file, field: name) }
            return v
        }
        let hidden = try req(c.hidden_size, "hidden_size")
        let heads = try req(c.num_attention_heads, "num_attention_heads")
        vocabSize = try req(c.vocab_size, "vocab_size")
        hiddenSize = hidden
        intermediateSize = try req(c.intermediate_size, "intermediate_size")
        numLayers = try req(c.num_hidden_layers, "num_hidden_layers")
        numHeads = heads
        numKVHeads = c.num_key_value_heads ?? heads
        headDim = c.head_dim ?? (heads > 0 ? hidden / heads : 0)
        guard let eps = c.rms_norm_eps else { throw ModelError.missingField(file: file, field: "rms_norm_eps") }
        rmsNormEps = Float(eps)
        ropeTheta = c.rope_theta ?? c.rope_parameters?.rope_theta ?? 10000
        maxPositionEmbeddings = c.max_position_embeddings ?? 2048
        tieWordEmbeddings = c.tie_word_embeddings ?? false
        bosTokenId = c.bos_token_id?.first
        eosTokenId = c.eos_token_id?.first
        try validate(file: file)
    }
}

/// The fields of a Hugging Face Llama `config.json` that this project reads.
struct HFLlamaConfig: Decodable {
    struct Rope: Decodable {
        var type: String?
        var rope_type: String?
        var rope_theta: Double?
    }

    /// A token id given as an integer or a list of integers (Llama 3 lists several EOS ids).
    struct IDs: Decodable {
        var ids: [Int]
        var first: Int? { ids.first }
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let one = try? c.decode(Int.self) { ids = [one] } else { ids = try c.decode([Int].self) }
        }
    }

    var model_type: String?
    var vocab_size: Int?
    var hidden_size: Int?
    var intermediate_size: Int?
    var num_hidden_layers: Int?
    var num_attention_heads: Int?
    var num_key_value_heads: Int?
    var head_dim: Int?
    var rms_norm_eps: Double?
    var rope_theta: Double?
    var rope_scaling: Rope?
    var rope_parameters: Rope?
    var max_position_embeddings: Int?
    var tie_word_embeddings: Bool?
    var bos_token_id: IDs?
    var eos_token_id: IDs?
    var sliding_window: Int?
    var attention_bias: Bool?
    var mlp_bias: Bool?
    var hidden_act: String?
}

extension DecodingError {
    /// The JSON path of the failing field, e.g. "rope_scaling.type".
    var fieldPath: String {
        let path: [CodingKey]
        switch self {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): path = c.codingPath
        case .keyNotFound(let k, let c): path = c.codingPath + [k]
        @unknown default: path = []
        }
        let s = path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        return s.isEmpty ? "(root)" : s
    }

    /// A one-line reason.
    var summary: String {
        switch self {
        case .typeMismatch(let t, _): return "a value that is not \(t)"
        case .valueNotFound(let t, _): return "null instead of \(t)"
        case .keyNotFound(let k, _): return "no key \(k.stringValue)"
        case .dataCorrupted(let c): return c.debugDescription
        @unknown default: return "\(self)"
        }
    }
}

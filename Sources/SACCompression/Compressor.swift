import Foundation
import SACModel
import SACTensor

/// The encoder of every method on one copy of the base model: it turns a context's token ids
/// into a `CompressedMemory`, and (in `CompressorTraining.swift`) differentiates through the
/// frozen decoder back into its trainable parameters.
///
/// Trainable parameters: the LoRA adapter of the encoder (on for encoding, off for
/// decoding), SAC's anchor embedding (`[slots × hidden]` per slot, `[1 × hidden]` shared),
/// the appended methods' memory-token embeddings (`[M × hidden]`), and the soft tokens
/// `[LM]` and `[AE]` fed straight to the decoder.
///
/// Not thread-safe: it keeps the encoder's and decoder's working buffers and a cached
/// `adapterIdentity`; one thread (or one serial worker) uses a compressor at a time.
public final class Compressor {
    public let model: LlamaModel
    public let settings: CompressorSettings
    public let lora: LlamaLoRA?
    public let anchorEmbedding: Parameter?
    public let memoryEmbedding: Parameter?
    public let lmToken: Parameter?
    public let aeToken: Parameter?
    /// `Identity.model(model)`.
    public let modelIdentity: String
    let encoderPass: LlamaPass
    let decoderPass: LlamaPass
    /// For the KV methods with bidirectional chunks (SAC's default), run the encoder's last two
    /// layers at the carrier rows only (`LlamaPass.forward(keyRows:)`): the memory and every
    /// gradient are the same, with about 1/30 less work for SmolLM2. false: every row (to
    /// compare).
    public var encoderAtCarrierRows = true
    /// In a training step, keep the encoder's attention probabilities from the forward for
    /// the backward (`LlamaPass.forward(keepProbabilities:)`, 9.4 MB per layer and chunk for
    /// SmolLM2) instead of recomputing them; the gradients agree to rounding. false: recompute
    /// (to compare, or to save the memory).
    public var keepsAttentionProbabilities = true

    /// Fresh parameters for `settings` (validated), reproducible from `seed`: LoRA A
    /// kaiming-uniform and B zero, the anchor embedding from N(0, 0.02), memory tokens and
    /// soft tokens from N(mean, std) of the embedding table.
    public init(model: LlamaModel, settings: CompressorSettings, seed: UInt64 = 0) throws {
        try settings.validate()
        self.model = model
        self.settings = settings
        modelIdentity = Identity.model(model)
        encoderPass = LlamaPass(model: model)
        decoderPass = LlamaPass(model: model)
        let d = model.config.hiddenSize
        var rng = SplitMix64(seed: seed ^ 0x5AC0_5AC0)
        guard settings.method.isTrainable else {
            lora = nil; anchorEmbedding = nil; memoryEmbedding = nil; lmToken = nil; aeToken = nil
            return
        }
        lora = try settings.lora.map { try LlamaLoRA(config: $0, model: model.config, seed: seed &+ 1) }
        var mean = 0.0, sq = 0.0
        for v in model.embedTokens { mean += Double(v); sq += Double(v) * Double(v) }
        mean /= Double(model.embedTokens.count)
        let std = Float((sq / Double(model.embedTokens.count) - mean * mean).squareRoot())
        func fromTable(_ rows: Int) -> Tensor {
            var t = Tensor(randomNormal: [rows, d], std: std, using: &rng)
            for i in 0..<t.count { t.data[i] += Float(mean) }
            return t
        }
        switch (settings.method, settings.anchorEmbedding) {
        case (.sac, .slot):
            anchorEmbedding = Parameter(
                name: "sac.anchor_embedding", value: Tensor(randomNormal: [settings.maxAnchorsPerChunk, d], std: 0.02, using: &rng))
        case (.sac, .shared):
            anchorEmbedding = Parameter(name: "sac.anchor_embedding", value: Tensor(randomNormal: [1, d], std: 0.02, using: &rng))
        default:
            anchorEmbedding = nil
        }
        if settings.method.appendsMemoryTokens {
            let m = settings.memoryTokens(chunkLength: settings.chunkSize)
            memoryEmbedding = Parameter(name: "sac.memory_embedding", value: fromTable(m))
        } else {
            memoryEmbedding = nil
        }
        lmToken = Parameter(name: "sac.lm_token", value: fromTable(1))
        aeToken = Parameter(name: "sac.ae_token", value: fromTable(1))
    }

    /// Every trainable parameter (LoRA first, then the embeddings and soft tokens).
    public var parameters: [Parameter] {
        (lora?.parameters ?? []) + [anchorEmbedding, memoryEmbedding, lmToken, aeToken].compactMap { $0 }
    }

    /// A fingerprint of the settings and the current parameter values:
    /// "{method}-{ratio}x-{hash}" ("none" for `tokens`). Kept until a parameter's `version`
    /// moves (hashing a rank-128 adapter byte by byte takes tens of milliseconds, and every
    /// `compress` stamps its memory with it).
    public var adapterIdentity: String {
        guard settings.method.isTrainable else { return "none" }
        let params = parameters
        let versions = params.map(\.version)
        if let cached = identityCache, cached.versions == versions { return cached.identity }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        if let json = try? JSONEncoder.sorted.encode(settings) {
            for b in json { h ^= UInt64(b); h = h &* 0x100_0000_01b3 }
        }
        for p in params { Identity.hash(p.value.data, into: &h) }
        let identity = "\(settings.method.rawValue)-\(settings.ratio)x-\(String(h, radix: 16))"
        identityCache = (versions, identity)
        return identity
    }
    private var identityCache: (versions: [UInt64], identity: String)?

    /// The encoder sequence of a chunk as input embeddings: token embeddings, plus the anchor
    /// embedding at SAC's anchors, then the memory tokens of the appended methods.
    func encoderInput(_ ids: [Int32], _ plan: ChunkPlan) -> [Float] {
        let d = model.config.hiddenSize
        var x = model.embed(Array(ids[plan.range]))
        if let a = anchorEmbedding {
            let shared = a.shape[0] == 1
            a.withValue { av in
                for (i, j) in plan.carriers.enumerated() {
                    let row = shared ? 0 : plan.slots[i]
                    for e in 0..<d { x[j * d + e] += av[row * d + e] }
                }
            }
        }
        if let m = memoryEmbedding, plan.memoryTokens > 0 {
            m.withValue { mv in x.append(contentsOf: mv[0..<(plan.memoryTokens * d)]) }
        }
        return x
    }

    /// The encoder's mask for a chunk.
    var encoderMask: AttentionMask { settings.attention == .bidirectional ? .none : .causal(prefix: 0) }

    /// Runs `encoderPass` over one chunk of the context: keys only for the KV methods, and
    /// the last two layers at the carrier rows when `encoderAtCarrierRows`; `forBackward`
    /// keeps the attention probabilities for the backward that follows.
    func encode(_ ids: [Int32], _ plan: ChunkPlan, forBackward: Bool = false) throws {
        try encoderPass.forward(
            embeddings: encoderInput(ids, plan), positions: plan.positions, mask: encoderMask, lora: lora,
            keysOnly: settings.method.usesKV, keyRows: encoderAtCarrierRows ? plan.carriers : nil,
            keepProbabilities: forBackward && keepsAttentionProbabilities)
    }

    /// Checks that `ids` are in the vocabulary.
    func checkIds(_ ids: [Int32], what: String) throws {
        guard !ids.isEmpty else { throw CompressionError.emptyInput(what: what) }
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= model.config.vocabSize }) {
            throw CompressionError.invalidOption(option: what, detail: "token id \(bad) outside the vocabulary")
        }
    }

    /// Position of the decoder's soft token: `[AE]` reconstructs from 0 for SAC, EPL and
    /// `full` (SPEC §9); otherwise `decoderStart(contextTokens:carriers:)`.
    func decoderStart(soft: SoftToken, contextTokens n: Int, carriers: Int) -> Int32 {
        switch (soft, settings.method) {
        case (.ae, .sac), (.ae, .epl), (.ae, .full): return 0
        default: return decoderStart(contextTokens: n, carriers: carriers)
        }
    }

    /// Position of the decoder's `[LM]` token for a memory of `carriers` carriers over `n` tokens.
    func decoderStart(contextTokens n: Int, carriers: Int) -> Int32 {
        switch settings.method {
        case .sac, .epl, .full: return Int32(n)
        case .x500, .icae, .tokens: return Int32(carriers)
        }
    }

    /// Compresses a context given as encoder-input token ids (starting with BOS).
    ///
    /// - Parameters:
    ///   - anchorIndices: SAC/tokens only: anchors from an external scorer, one ascending list
    ///     of local indices per chunk (see `CompressorSettings.plan`).
    ///   - betweenChunks: runs after each chunk but the last (other work on the same thread,
    ///     such as the server's decoding steps; it must not use this compressor).
    /// - Throws: `CompressionError` for an empty or too long context or bad anchors.
    public func compress(_ ids: [Int32], anchorIndices: [[Int]]? = nil, betweenChunks: (() -> Void)? = nil) throws -> CompressedMemory {
        try checkIds(ids, what: "context")
        let plans = try settings.plan(tokens: ids.count, anchorIndices: anchorIndices)
        let c = model.config, L = c.numLayers, kv = c.kvDim, d = c.hiddenSize
        if settings.method == .tokens { return try compressAsTokens(ids, plans) }
        var keys = [[Float]](repeating: [], count: L), values = keys
        var embeddings: [Float] = []
        var positions: [Int32] = []
        for plan in plans {
            try encode(ids, plan)
            if settings.method.usesKV {
                for l in 0..<L { encoderPass.gatherKV(layer: l, rows: plan.carriers, keys: &keys[l], values: &values[l]) }
            } else {
                let h = encoderPass.hidden
                for j in plan.carriers { embeddings.append(contentsOf: h[(j * d)..<((j + 1) * d)]) }
            }
            positions.append(contentsOf: plan.carriers.map { plan.positions[$0] })
            if plan.range.upperBound < ids.count { betweenChunks?() }
        }
        let n = positions.count
        return CompressedMemory(
            method: settings.method, ratio: settings.ratio, contextTokens: ids.count, carriers: n,
            decoderStart: decoderStart(contextTokens: ids.count, carriers: n), carrierPositions: positions,
            keys: settings.method.usesKV ? keys : [], values: settings.method.usesKV ? values : [],
            embeddings: embeddings, lmToken: lmToken?.value.data, model: modelIdentity, adapter: adapterIdentity,
            kvDim: kv, hidden: d)
    }

    /// The memory of no context at all: the frozen model's keys and values of BOS alone, read
    /// as the `tokens` method reads its anchors (the question follows at position 1). For the
    /// no-context reference of `sac eval --no-context`; `contextTokens` is what it stands for.
    public func questionOnlyMemory(bos: Int32, contextTokens: Int) throws -> CompressedMemory {
        try checkIds([bos], what: "BOS")
        return try plainTextMemory([bos], contextTokens: max(1, contextTokens), adapter: "none")
    }

    /// `tokens`: the frozen model reads BOS and the anchor tokens as plain text.
    private func compressAsTokens(_ ids: [Int32], _ plans: [ChunkPlan]) throws -> CompressedMemory {
        var picked: [Int] = []
        for p in plans { picked.append(contentsOf: p.carriers.map { p.range.lowerBound + $0 }) }
        if picked.first != 0 { picked.insert(0, at: 0) }
        return try plainTextMemory(picked.map { ids[$0] }, contextTokens: ids.count, adapter: adapterIdentity)
    }

    /// The frozen model's keys and values of `text` read as plain text at positions 0, 1, …
    /// (a `tokens` memory standing for `contextTokens` tokens; the decoder continues after it).
    private func plainTextMemory(_ text: [Int32], contextTokens: Int, adapter: String) throws -> CompressedMemory {
        let cache = model.makeCache(capacity: text.count)
        _ = try model.forward(text, positions: (0..<text.count).map { Int32($0) }, cache: cache, logits: .none)
        let c = model.config
        let layers = (0..<c.numLayers).map { cache.layer($0) }
        return CompressedMemory(
            method: .tokens, ratio: settings.ratio, contextTokens: contextTokens, carriers: text.count,
            decoderStart: Int32(text.count), carrierPositions: (0..<text.count).map { Int32($0) },
            keys: layers.map(\.keys), values: layers.map(\.values), embeddings: [], lmToken: nil,
            model: modelIdentity, adapter: adapter, kvDim: c.kvDim, hidden: c.hiddenSize)
    }
}

extension JSONEncoder {
    /// An encoder with sorted keys (stable bytes for hashing and diffs).
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return e
    }
}

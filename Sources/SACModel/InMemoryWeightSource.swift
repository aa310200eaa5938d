import SACTensor

/// Weights held in memory under Hugging Face names: for models built in code (tests, small
/// experiments) and for random initialisation.
public final class InMemoryWeightSource: WeightSource, @unchecked Sendable {
    public let config: LlamaConfig
    private let tensors: [String: Tensor]

    /// A source serving `tensors` (Hugging Face names and layout) for `config`.
    public init(config: LlamaConfig, tensors: [String: Tensor]) {
        self.config = config
        self.tensors = tensors
    }

    /// A randomly initialised Llama with `config` (normal weights of standard deviation `std`,
    /// norm gains near 1), reproducible from `seed`.
    public convenience init(randomWith config: LlamaConfig, seed: UInt64, std: Float = 0.1, embeddingStd: Float = 1) {
        var rng = SplitMix64(seed: seed)
        let d = config.hiddenSize, q = config.numHeads * config.headDim, kv = config.kvDim
        let f = config.intermediateSize
        var t: [String: Tensor] = [:]
        func normal(_ shape: [Int]) -> Tensor { Tensor(randomNormal: shape, std: std, using: &rng) }
        func gain(_ n: Int) -> Tensor {
            var g = Tensor(randomNormal: [n], std: 0.1, using: &rng)
            for i in 0..<n { g.data[i] += 1 }
            return g
        }
        t["model.embed_tokens.weight"] = Tensor(randomNormal: [config.vocabSize, d], std: embeddingStd, using: &rng)
        for l in 0..<config.numLayers {
            let p = "model.layers.\(l)."
            t[p + "input_layernorm.weight"] = gain(d)
            t[p + "post_attention_layernorm.weight"] = gain(d)
            t[p + "self_attn.q_proj.weight"] = normal([q, d])
            t[p + "self_attn.k_proj.weight"] = normal([kv, d])
            t[p + "self_attn.v_proj.weight"] = normal([kv, d])
            t[p + "self_attn.o_proj.weight"] = normal([d, q])
            t[p + "mlp.gate_proj.weight"] = normal([f, d])
            t[p + "mlp.up_proj.weight"] = normal([f, d])
            t[p + "mlp.down_proj.weight"] = normal([d, f])
        }
        t["model.norm.weight"] = gain(d)
        if !config.tieWordEmbeddings { t["lm_head.weight"] = normal([config.vocabSize, d]) }
        self.init(config: config, tensors: t)
    }

    public var tensorNames: [String] { tensors.keys.sorted() }

    public func tensor(_ hfName: String) throws -> Tensor {
        guard let t = tensors[hfName] else { throw ModelError.missingField(file: "<memory>", field: hfName) }
        return t
    }

    public func quantized(_ hfName: String) throws -> QuantizedWeight? {
        guard tensors[hfName] != nil else { throw ModelError.missingField(file: "<memory>", field: hfName) }
        return nil
    }
}

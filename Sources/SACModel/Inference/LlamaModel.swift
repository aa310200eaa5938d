import Foundation
import SACTensor

/// The weights of one decoder layer, named after Hugging Face's `model.layers.N.…`.
public struct LlamaLayer: Sendable {
    /// `input_layernorm.weight` [hidden].
    public let inputLayernorm: [Float]
    /// `post_attention_layernorm.weight` [hidden].
    public let postAttentionLayernorm: [Float]
    /// `self_attn.{q,k,v,o}_proj.weight`.
    public let qProj: Projection, kProj: Projection, vProj: Projection, oProj: Projection
    /// `mlp.{gate,up,down}_proj.weight`.
    public let gateProj: Projection, upProj: Projection, downProj: Projection
}

/// A Llama-architecture causal language model (Llama 2/3, SmolLM2, Mistral without sliding
/// window) ready for inference on the CPU.
///
/// One copy of the weights: `model.embed_tokens.weight` as Float32 (for the lookup and, when
/// the head is tied, for full-sequence logits), projections as `Projection` (Float32 or GGUF
/// blocks), and the head (`lm_head.weight`, or the embedding's GGUF blocks when tied).
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    /// `model.embed_tokens.weight`, [vocab × hidden].
    public let embedTokens: [Float]
    public let layers: [LlamaLayer]
    /// `model.norm.weight` [hidden].
    public let norm: [Float]
    /// The output head [vocab × hidden]: `lm_head.weight`, or the embedding when tied.
    public let lmHead: Projection
    /// The head as a packed Float32 projection for long products (training's logits and
    /// their gradient), when `prepacked(…, head: true)` made one; nil otherwise.
    public let packedHead: Projection?
    let rope: RoPETable

    /// Builds the model from a weight source (GGUF file or Hugging Face directory) named `file`
    /// in error messages. Projections stored as Q8_0/Q4_0/Q4_1 stay quantised unless
    /// `dequantize` is true (training: the backward pass multiplies by every weight twice, so
    /// Float32 weights are faster); everything else is read as Float32.
    public init(weights: any WeightSource, file: String, dequantize: Bool = false) throws {
        let config = weights.config
        self.config = config
        let d = config.hiddenSize
        func vector(_ name: String, _ n: Int) throws -> [Float] {
            let t = try weights.tensor(name)
            guard t.count == n else {
                throw ModelError.invalidField(
                    file: file, field: name, expected: "\(n) values", found: "shape \(t.shape)")
            }
            return t.data
        }
        func projection(_ name: String, rows: Int, cols: Int) throws -> Projection {
            if !dequantize, let q = try weights.quantized(name), let m = try Projection.quantizedMatrix(q) {
                guard m.rows == rows, m.cols == cols else {
                    throw ModelError.invalidField(
                        file: file, field: name, expected: "[\(rows), \(cols)]",
                        found: "[\(m.rows), \(m.cols)]")
                }
                return Projection(quantized: m)
            }
            return Projection(dense: try vector(name, rows * cols), rows: rows, cols: cols)
        }
        embedTokens = try vector("model.embed_tokens.weight", config.vocabSize * d)
        let qDim = config.numHeads * config.headDim
        let kvDim = config.kvDim
        var layers: [LlamaLayer] = []
        for i in 0..<config.numLayers {
            let p = "model.layers.\(i)."
            layers.append(
                LlamaLayer(
                    inputLayernorm: try vector(p + "input_layernorm.weight", d),
                    postAttentionLayernorm: try vector(p + "post_attention_layernorm.weight", d),
                    qProj: try projection(p + "self_attn.q_proj.weight", rows: qDim, cols: d),
                    kProj: try projection(p + "self_attn.k_proj.weight", rows: kvDim, cols: d),
                    vProj: try projection(p + "self_attn.v_proj.weight", rows: kvDim, cols: d),
                    oProj: try projection(p + "self_attn.o_proj.weight", rows: d, cols: qDim),
                    gateProj: try projection(p + "mlp.gate_proj.weight", rows: config.intermediateSize, cols: d),
                    upProj: try projection(p + "mlp.up_proj.weight", rows: config.intermediateSize, cols: d),
                    downProj: try projection(p + "mlp.down_proj.weight", rows: d, cols: config.intermediateSize)))
        }
        self.layers = layers
        norm = try vector("model.norm.weight", d)
        if config.tieWordEmbeddings {
            if !dequantize, let q = try weights.quantized("model.embed_tokens.weight"), let m = try Projection.quantizedMatrix(q) {
                lmHead = Projection(quantized: m)
            } else {
                lmHead = Projection(dense: embedTokens, rows: config.vocabSize, cols: d)
            }
        } else {
            lmHead = try projection("lm_head.weight", rows: config.vocabSize, cols: d)
        }
        rope = RoPETable(headDim: config.headDim, theta: config.ropeTheta)
        packedHead = nil
    }

    private init(_ m: LlamaModel, layers: [LlamaLayer], packedHead: Projection?, lmHead: Projection? = nil) {
        config = m.config
        embedTokens = m.embedTokens
        self.layers = layers
        norm = m.norm
        self.lmHead = lmHead ?? m.lmHead
        rope = m.rope
        self.packedHead = packedHead
    }

    /// The same model with its layer projections also kept packed for the GEMM (see
    /// `Projection.prepacked(forward:backward:)`): `forward` for long forward passes
    /// (compressing, prefilling), `backward` for input gradients (training); `head` packs the
    /// output head both ways for training's cross-entropy. Outputs are bit-for-bit those of the
    /// unpacked model; each packed copy costs about 4 bytes per weight. The weights are
    /// shared with this model, which stays as it was.
    public func prepacked(forward: Bool, backward: Bool, head: Bool = false) -> LlamaModel {
        let newLayers = layers.map { l in
            func p(_ x: Projection) -> Projection { x.prepacked(forward: forward, backward: backward) }
            return LlamaLayer(
                inputLayernorm: l.inputLayernorm, postAttentionLayernorm: l.postAttentionLayernorm,
                qProj: p(l.qProj), kProj: p(l.kProj), vProj: p(l.vProj), oProj: p(l.oProj),
                gateProj: p(l.gateProj), upProj: p(l.upProj), downProj: p(l.downProj))
        }
        var h = packedHead
        if head && h == nil { h = headForRows.prepacked(forward: true, backward: true) }
        return LlamaModel(self, layers: newLayers, packedHead: h)
    }

    /// The same model with decoding's products of block-quantised weights (the layers' and a
    /// quantised head's, at most `Projection.fusedTokenLimit` tokens per product) taking
    /// `activations`; longer products (prefill, compression, training) are unchanged.
    /// The weights are shared with this model, which stays as it was.
    public func with(decodeActivations activations: DecodeActivations) -> LlamaModel {
        let newLayers = layers.map { l in
            func p(_ x: Projection) -> Projection { x.with(activations: activations) }
            return LlamaLayer(
                inputLayernorm: l.inputLayernorm, postAttentionLayernorm: l.postAttentionLayernorm,
                qProj: p(l.qProj), kProj: p(l.kProj), vProj: p(l.vProj), oProj: p(l.oProj),
                gateProj: p(l.gateProj), upProj: p(l.upProj), downProj: p(l.downProj))
        }
        return LlamaModel(self, layers: newLayers, packedHead: packedHead, lmHead: lmHead.with(activations: activations))
    }

    /// How decoding multiplies activations with the block-quantised weights (`.f32` when the
    /// model has none).
    public var decodeActivations: DecodeActivations { lmHead.q8Activations || layers.first?.qProj.q8Activations == true ? .q8 : .f32 }

    /// The output head for products over many rows, built here only: the packed copy when
    /// `prepacked(…, head: true)` made one, else the Float32 head (the embedding itself when
    /// tied: no dequantisation; else `lm_head`). Decoding one token reads `lmHead` instead.
    public var headForRows: Projection {
        if let h = packedHead { return h }
        return config.tieWordEmbeddings
            ? Projection(dense: embedTokens, rows: config.vocabSize, cols: config.hiddenSize) : lmHead
    }

    /// Bytes held in packed copies of the weights (0 unless `prepacked` made some).
    public var packedBytes: Int {
        var n = (packedHead?.packedCount ?? 0) * 4
        for l in layers {
            for p in [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj] { n += p.packedCount * 4 }
        }
        return n
    }

    /// Whether every projection is held as Float32.
    public var isDense: Bool {
        layers.allSatisfy { l in
            [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj].allSatisfy {
                if case .dense = $0.storage { return true } else { return false }
            }
        }
    }

    /// A new, empty KV cache for this model.
    public func makeCache(capacity: Int = 256) -> KVCache {
        KVCache(layers: config.numLayers, kvDim: config.kvDim, capacity: capacity)
    }

    /// Bytes held by the weights (the Float32 embedding plus projections, norms and head).
    public var weightBytes: Int {
        var n = embedTokens.count * 4 + norm.count * 4
        for l in layers {
            n += (l.inputLayernorm.count + l.postAttentionLayernorm.count) * 4
            for p in [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj] { n += p.byteCount }
        }
        if case .quantized = lmHead.storage { n += lmHead.byteCount }
        return n
    }
}

import SACTensor

/// Key/value rows that a pass reads before its own tokens, one `[rows × kvDim]` pair per
/// layer (for example a compressed memory read by the decoder). Keys are post-RoPE.
public struct PrefixKV: Sendable {
    public var keys: [[Float]]
    public var values: [[Float]]
    /// Rows per layer.
    public var count: Int

    public init(keys: [[Float]], values: [[Float]], count: Int) {
        self.keys = keys
        self.values = values
        self.count = count
    }
}

/// Gradients a pass hands back: with respect to its input embeddings and to the prefix rows.
public struct PassGradients {
    /// `[tokens × hidden]`.
    public var embeddings: [Float]
    /// Per layer `[prefix rows × kvDim]` (empty arrays when the pass had no prefix).
    public var prefixKeys: [[Float]]
    public var prefixValues: [[Float]]
}

/// One differentiable forward pass of a Llama model over a sequence of input embeddings,
/// keeping what its backward pass needs (llm.c style: flat buffers, forward and backward
/// side by side, storage reused from call to call).
///
/// What it can express is what the compression methods need: arbitrary per-token RoPE
/// positions, any attention mask (bidirectional within a chunk, causal, causal after a
/// prefix), a prefix of cached keys/values whose gradients flow back, LoRA adapters switched
/// on for this pass or off, and gradients arriving at the final hidden states and/or at each
/// layer's keys and values. Base weights are frozen: they get no gradients.
///
/// Not thread-safe; one pass object per concurrent computation.
public final class LlamaPass {
    public let model: LlamaModel
    var c: LlamaConfig { model.config }

    // The current pass.
    private(set) public var tokens = 0
    private(set) public var prefixCount = 0
    private(set) var positions: [Int32] = []
    private(set) var mask: AttentionMask = .none
    private(set) var lora: LlamaLoRA?
    /// True when the last layer stopped after its keys and values (no final hidden states).
    private(set) public var keysOnly = false

    /// Per-layer saved activations.
    final class LayerActivations {
        let x = FloatBuffer()        // layer input [T × d]
        let rstd1 = FloatBuffer()    // [T]
        let h1 = FloatBuffer()       // normed input [T × d]
        let q = FloatBuffer()        // post-RoPE queries [T × qDim]
        let kAll = FloatBuffer()     // prefix + new keys (post-RoPE) [(P+T) × kvDim]
        let vAll = FloatBuffer()     // [(P+T) × kvDim]
        let attn = FloatBuffer()     // attention output [T × qDim]
        let lse = FloatBuffer()      // [nH × T]
        let xMid = FloatBuffer()     // after the attention residual [T × d]
        let rstd2 = FloatBuffer()
        let h2 = FloatBuffer()       // [T × d]
        let gate = FloatBuffer()     // [T × ffn]
        let up = FloatBuffer()       // [T × ffn]
        let act = FloatBuffer()      // silu(gate)·up [T × ffn] (kept for a down_proj adapter)
        var xa: [LoRATarget: FloatBuffer] = [:]  // x·Aᵀ per adapted projection [T × rank]
    }
    var acts: [LayerActivations]
    let finalX = FloatBuffer()       // last layer output [T × d]
    let rstdF = FloatBuffer()
    /// Final-normed hidden states [T × d].
    let hiddenBuf = FloatBuffer()
    let scratch = FloatBuffer()      // dequantised weights for block-quantised projections
    /// Working buffers of the forward (residual stream, projection output) and backward.
    final class Work {
        let x = FloatBuffer(), tmp = FloatBuffer()
        let dx = FloatBuffer(), dh = FloatBuffer(), dff = FloatBuffer(), dGate = FloatBuffer(), dUp = FloatBuffer()
        let dq = FloatBuffer(), da = FloatBuffer(), dk = FloatBuffer(), dv = FloatBuffer(), g = FloatBuffer()
    }
    let work = Work()

    public init(model: LlamaModel) {
        self.model = model
        acts = (0..<model.config.numLayers).map { _ in LayerActivations() }
        var s = 1
        for l in model.layers {
            for p in [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj] {
                s = max(s, p.transposedScratchCount())
            }
        }
        scratch.resize(s)
    }

    /// The final-normed hidden states `[tokens × hidden]` of the last forward (not available
    /// after a `keysOnly` pass).
    public var hidden: [Float] {
        precondition(!keysOnly, "LlamaPass.hidden: the last pass stopped after the last layer's keys")
        return hiddenBuf.array
    }

    /// Layer `l`'s keys (post-RoPE) of the pass's own tokens, `[tokens × kvDim]`.
    public func keys(layer l: Int) -> [Float] {
        let kv = c.numKVHeads * c.headDim
        return Array(UnsafeBufferPointer(start: acts[l].kAll.pointer + prefixCount * kv, count: tokens * kv))
    }

    /// Layer `l`'s values of the pass's own tokens, `[tokens × kvDim]`.
    public func values(layer l: Int) -> [Float] {
        let kv = c.numKVHeads * c.headDim
        return Array(UnsafeBufferPointer(start: acts[l].vAll.pointer + prefixCount * kv, count: tokens * kv))
    }

    /// Copies layer `l`'s key and value rows `rows` (indices into the pass's own tokens) into
    /// `keys` and `values`, appending.
    public func gatherKV(layer l: Int, rows: [Int], keys: inout [Float], values: inout [Float]) {
        let kv = c.numKVHeads * c.headDim
        let kp = acts[l].kAll.pointer + prefixCount * kv, vp = acts[l].vAll.pointer + prefixCount * kv
        keys.reserveCapacity(keys.count + rows.count * kv)
        values.reserveCapacity(values.count + rows.count * kv)
        for r in rows {
            keys.append(contentsOf: UnsafeBufferPointer(start: kp + r * kv, count: kv))
            values.append(contentsOf: UnsafeBufferPointer(start: vp + r * kv, count: kv))
        }
    }

    /// Runs the model over `embeddings` ([tokens × hidden]) and keeps the activations.
    ///
    /// - Parameters:
    ///   - positions: RoPE position of every token.
    ///   - mask: which of the `prefix.count + tokens` keys each token sees
    ///     (`.causal(prefix: P)` for a decoder after a prefix, `.none` for bidirectional).
    ///   - prefix: keys/values read before the tokens (nil: none).
    ///   - lora: adapters to apply in this pass (nil: the plain base model).
    ///   - keysOnly: stop the last layer after its keys and values (what a KV compressor
    ///     needs); `hidden` is then unavailable.
    /// - Throws: `TensorError` for inconsistent sizes or an invalid mask.
    public func forward(
        embeddings: [Float], positions: [Int32], mask: AttentionMask, prefix: PrefixKV? = nil,
        lora: LlamaLoRA? = nil, keysOnly: Bool = false
    ) throws {
        let d = c.hiddenSize, qDim = c.numHeads * c.headDim, kv = c.numKVHeads * c.headDim, ffn = c.intermediateSize
        let op = "LlamaPass.forward"
        guard !embeddings.isEmpty, embeddings.count % d == 0 else {
            throw TensorError.shapeMismatch(op: op, detail: "\(embeddings.count) floats is not a positive multiple of hidden \(d)")
        }
        let T = embeddings.count / d
        guard positions.count == T else {
            throw TensorError.shapeMismatch(op: op, detail: "\(positions.count) positions for \(T) tokens")
        }
        let P = prefix?.count ?? 0
        if let prefix {
            guard prefix.keys.count == c.numLayers, prefix.values.count == c.numLayers,
                  prefix.keys.allSatisfy({ $0.count == P * kv }), prefix.values.allSatisfy({ $0.count == P * kv })
            else {
                throw TensorError.shapeMismatch(op: op, detail: "prefix must hold \(c.numLayers) layers of \(P)×\(kv) keys and values")
            }
        }
        try mask.validate(queries: T, keys: P + T, op: op)
        if let lora, lora.layers != c.numLayers {
            throw TensorError.shapeMismatch(op: op, detail: "adapter has \(lora.layers) layers, model \(c.numLayers)")
        }
        tokens = T; prefixCount = P; self.positions = positions; self.mask = mask; self.lora = lora
        self.keysOnly = keysOnly
        let eps = c.rmsNormEps
        let rope = model.rope
        let dims = AttentionDims(queries: T, keys: P + T, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim)
        let x = work.x, tmp = work.tmp
        x.resize(T * d); tmp.resize(T * d)
        embeddings.withUnsafeBufferPointer { x.pointer.update(from: $0.baseAddress!, count: T * d) }
        let s = scratch.pointer

        for (l, layer) in model.layers.enumerated() {
            let A = acts[l]
            let last = l == c.numLayers - 1
            A.x.resize(T * d); A.x.pointer.update(from: x.pointer, count: T * d)
            A.rstd1.resize(T); A.h1.resize(T * d)
            layer.inputLayernorm.withUnsafeBufferPointer { w in
                RMSNorm.forward(x: A.x.pointer, weight: w.baseAddress!, out: A.h1.pointer, rows: T, dim: d, eps: eps,
                                rstd: A.rstd1.pointer)
            }
            A.kAll.resize((P + T) * kv); A.vAll.resize((P + T) * kv)
            if let prefix {
                prefix.keys[l].withUnsafeBufferPointer { A.kAll.pointer.update(from: $0.baseAddress!, count: P * kv) }
                prefix.values[l].withUnsafeBufferPointer { A.vAll.pointer.update(from: $0.baseAddress!, count: P * kv) }
            }
            let kNew = A.kAll.pointer + P * kv, vNew = A.vAll.pointer + P * kv
            project(layer.kProj, .kProj, l, A.h1.pointer, T, kNew, s)
            project(layer.vProj, .vProj, l, A.h1.pointer, T, vNew, s)
            positions.withUnsafeBufferPointer { pp in
                rope.apply(kNew, tokens: T, heads: c.numKVHeads, positions: pp.baseAddress!)
            }
            if last && keysOnly { break }
            A.q.resize(T * qDim)
            project(layer.qProj, .qProj, l, A.h1.pointer, T, A.q.pointer, s)
            positions.withUnsafeBufferPointer { pp in
                rope.apply(A.q.pointer, tokens: T, heads: c.numHeads, positions: pp.baseAddress!)
            }
            A.attn.resize(T * qDim); A.lse.resize(c.numHeads * T)
            Attention.forward(
                q: A.q.pointer, ldq: qDim, k: A.kAll.pointer, ldk: kv, v: A.vAll.pointer, ldv: kv,
                out: A.attn.pointer, ldo: qDim, lse: A.lse.pointer, dims: dims, mask: mask)
            project(layer.oProj, .oProj, l, A.attn.pointer, T, tmp.pointer, s)
            Residual.add(x.pointer, tmp.pointer, count: T * d)
            A.xMid.resize(T * d); A.xMid.pointer.update(from: x.pointer, count: T * d)
            A.rstd2.resize(T); A.h2.resize(T * d)
            layer.postAttentionLayernorm.withUnsafeBufferPointer { w in
                RMSNorm.forward(x: x.pointer, weight: w.baseAddress!, out: A.h2.pointer, rows: T, dim: d, eps: eps,
                                rstd: A.rstd2.pointer)
            }
            A.gate.resize(T * ffn); A.up.resize(T * ffn); A.act.resize(T * ffn)
            project(layer.gateProj, .gateProj, l, A.h2.pointer, T, A.gate.pointer, s)
            project(layer.upProj, .upProj, l, A.h2.pointer, T, A.up.pointer, s)
            SwiGLU.forward(gate: A.gate.pointer, up: A.up.pointer, out: A.act.pointer, count: T * ffn)
            project(layer.downProj, .downProj, l, A.act.pointer, T, tmp.pointer, s)
            Residual.add(x.pointer, tmp.pointer, count: T * d)
        }
        if keysOnly { return }
        finalX.resize(T * d); finalX.pointer.update(from: x.pointer, count: T * d)
        rstdF.resize(T); hiddenBuf.resize(T * d)
        model.norm.withUnsafeBufferPointer { w in
            RMSNorm.forward(x: finalX.pointer, weight: w.baseAddress!, out: hiddenBuf.pointer, rows: T, dim: d, eps: eps,
                            rstd: rstdF.pointer)
        }
    }

    /// y = x·Wᵀ (+ the adapter's update when this pass has one for `target`).
    private func project(
        _ p: Projection, _ target: LoRATarget, _ l: Int, _ x: UnsafePointer<Float>, _ T: Int,
        _ y: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>
    ) {
        p.apply(x, tokens: T, y, scratch: p.scratchCount(tokens: T) > 0 ? s : nil)
        guard let lora, lora.has(target) else { return }
        let xa = acts[l].xa[target] ?? FloatBuffer()
        acts[l].xa[target] = xa
        xa.resize(T * lora.config.rank)
        lora.forward(layer: l, target: target, x: x, rows: T, xa: xa.pointer, y: y)
    }
}

import SACTensor

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
    /// With `keysOnly`, the rows whose last-layer keys and values were computed (ascending);
    /// the last two layers then ran on these rows only (see `forward`). nil: all rows.
    private(set) public var keyRows: [Int]?
    /// The RoPE positions of `keyRows`.
    private(set) var keyRowPositions: [Int32] = []
    /// Whether the last forward kept each layer's attention probabilities for the backward.
    private(set) public var keptProbabilities = false

    /// Per-layer saved activations.
    final class LayerActivations {
        let x = FloatBuffer()        // layer input [T × d]
        let rstd1 = FloatBuffer()    // [T]
        let h1 = FloatBuffer()       // normed input [T × d]
        let h1Rows = FloatBuffer()   // h1 at the key rows [R × d] (second-to-last layer, pruned)
        let q = FloatBuffer()        // post-RoPE queries [T × qDim]
        let kAll = FloatBuffer()     // prefix + new keys (post-RoPE) [(P+T) × kvDim]
        let vAll = FloatBuffer()     // [(P+T) × kvDim]
        let attn = FloatBuffer()     // attention output [T × qDim]
        let lse = FloatBuffer()      // [nH × T]
        let probs = FloatBuffer()    // attention probabilities [nH × T × (P+T)], when kept
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
        let kv = c.kvDim
        return Array(UnsafeBufferPointer(start: acts[l].kAll.pointer + prefixCount * kv, count: tokens * kv))
    }

    /// Layer `l`'s values of the pass's own tokens, `[tokens × kvDim]`.
    public func values(layer l: Int) -> [Float] {
        let kv = c.kvDim
        return Array(UnsafeBufferPointer(start: acts[l].vAll.pointer + prefixCount * kv, count: tokens * kv))
    }

    /// Copies layer `l`'s key and value rows `rows` (indices into the pass's own tokens) into
    /// `keys` and `values`, appending.
    public func gatherKV(layer l: Int, rows: [Int], keys: inout [Float], values: inout [Float]) {
        let kv = c.kvDim
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
    ///   - keyRows: with `keysOnly` and bidirectional attention (`mask == .none`), the rows
    ///     whose last-layer keys and values are wanted (a compressor's carriers), ascending and
    ///     distinct. Those keys and values depend on the second-to-last layer's output at
    ///     these rows only, so that layer computes its queries, attention, `o_proj` and MLP at
    ///     these rows (its keys and values, which every query reads, at all rows), and the
    ///     last layer its keys and values at these rows. Every layer's keys and values at
    ///     `keyRows` and all earlier layers are those of the full pass; the last layer's other
    ///     rows read as zero. Ignored (all rows) for other masks, with a prefix, without
    ///     `keysOnly`, or for a one-layer model.
    ///   - keepProbabilities: keep every layer's attention probabilities (`4·heads·tokens·keys`
    ///     bytes per layer, 9.4 MB for a SmolLM2 chunk of 510) so that `backward` reads them
    ///     instead of recomputing them: for a forward that will be differentiated.
    /// - Throws: `TensorError` for inconsistent sizes, an invalid mask or invalid `keyRows`.
    public func forward(
        embeddings: [Float], positions: [Int32], mask: AttentionMask, prefix: (any KVRows)? = nil,
        lora: LlamaLoRA? = nil, keysOnly: Bool = false, keyRows: [Int]? = nil, keepProbabilities: Bool = false
    ) throws {
        let d = c.hiddenSize, qDim = c.numHeads * c.headDim, kv = c.kvDim
        let op = "LlamaPass.forward"
        guard !embeddings.isEmpty, embeddings.count % d == 0 else {
            throw TensorError.shapeMismatch(op: op, detail: "\(embeddings.count) floats is not a positive multiple of hidden \(d)")
        }
        let T = embeddings.count / d
        guard positions.count == T else {
            throw TensorError.shapeMismatch(op: op, detail: "\(positions.count) positions for \(T) tokens")
        }
        let P = prefix?.count ?? 0
        if let prefix, P > 0 {
            guard prefix.fits(c), (prefix as? PrefixKV)?.isConsistent ?? true else {
                throw TensorError.shapeMismatch(op: op, detail: "prefix must hold \(c.numLayers) layers of \(P)×\(kv) keys and values")
            }
        }
        try mask.validate(queries: T, keys: P + T, op: op)
        if let lora, lora.layers != c.numLayers {
            throw TensorError.shapeMismatch(op: op, detail: "adapter has \(lora.layers) layers, model \(c.numLayers)")
        }
        var rows: [Int]? = nil
        if let keyRows, keysOnly, mask == .none, P == 0, c.numLayers >= 2 {
            guard !keyRows.isEmpty, keyRows.first! >= 0, keyRows.last! < T,
                  zip(keyRows, keyRows.dropFirst()).allSatisfy({ $0 < $1 })
            else {
                throw TensorError.invalidArgument(op: op, detail: "keyRows must be 1…\(T) ascending distinct rows in 0..<\(T)")
            }
            if keyRows.count < T { rows = keyRows }
        }
        tokens = T; prefixCount = P; self.positions = positions; self.mask = mask; self.lora = lora
        self.keysOnly = keysOnly
        self.keyRows = rows
        keptProbabilities = keepProbabilities
        keyRowPositions = rows.map { $0.map { positions[$0] } } ?? []
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
            if let rows, last {
                lastLayerAtRows(layer, l, rows, x.pointer, s)
                break
            }
            A.x.resize(T * d); A.x.pointer.update(from: x.pointer, count: T * d)
            A.rstd1.resize(T); A.h1.resize(T * d)
            layer.inputLayernorm.withUnsafeBufferPointer { w in
                RMSNorm.forward(x: A.x.pointer, weight: w.baseAddress!, out: A.h1.pointer, rows: T, dim: d, eps: eps,
                                rstd: A.rstd1.pointer)
            }
            A.kAll.resize((P + T) * kv); A.vAll.resize((P + T) * kv)
            if let prefix, P > 0 {
                prefix.withRows(layer: l) { k, v in
                    A.kAll.pointer.update(from: k.baseAddress!, count: P * kv)
                    A.vAll.pointer.update(from: v.baseAddress!, count: P * kv)
                }
            }
            let kNew = A.kAll.pointer + P * kv, vNew = A.vAll.pointer + P * kv
            project(layer.kProj, .kProj, l, A.h1.pointer, T, kNew, s)
            project(layer.vProj, .vProj, l, A.h1.pointer, T, vNew, s)
            positions.withUnsafeBufferPointer { pp in
                rope.apply(kNew, tokens: T, heads: c.numKVHeads, positions: pp.baseAddress!)
            }
            if last && keysOnly { break }
            if let rows, l == c.numLayers - 2 {
                penultimateLayerAtRows(layer, l, rows, x, tmp, s)
                continue
            }
            A.q.resize(T * qDim)
            project(layer.qProj, .qProj, l, A.h1.pointer, T, A.q.pointer, s)
            positions.withUnsafeBufferPointer { pp in
                rope.apply(A.q.pointer, tokens: T, heads: c.numHeads, positions: pp.baseAddress!)
            }
            A.attn.resize(T * qDim); A.lse.resize(c.numHeads * T)
            if keepProbabilities { A.probs.resize(c.numHeads * T * (P + T)) }
            Attention.forward(
                q: A.q.pointer, ldq: qDim, k: A.kAll.pointer, ldk: kv, v: A.vAll.pointer, ldv: kv,
                out: A.attn.pointer, ldo: qDim, lse: A.lse.pointer, dims: dims, mask: mask,
                probabilities: keepProbabilities ? A.probs.pointer : nil)
            project(layer.oProj, .oProj, l, A.attn.pointer, T, tmp.pointer, s)
            Residual.add(x.pointer, tmp.pointer, count: T * d)
            mlp(layer, l, x, tmp, T, s)
        }
        if keysOnly { return }
        finalX.resize(T * d); finalX.pointer.update(from: x.pointer, count: T * d)
        rstdF.resize(T); hiddenBuf.resize(T * d)
        model.norm.withUnsafeBufferPointer { w in
            RMSNorm.forward(x: finalX.pointer, weight: w.baseAddress!, out: hiddenBuf.pointer, rows: T, dim: d, eps: eps,
                            rstd: rstdF.pointer)
        }
    }

    /// The second-to-last layer of a pass with `keyRows`: input norm and keys/values at every
    /// row (what the attention reads), then queries, attention, `o_proj`, the residual and the
    /// MLP at the R key rows only. Leaves the R rows' output in `x` ([R × d], compact).
    private func penultimateLayerAtRows(
        _ layer: LlamaLayer, _ l: Int, _ rows: [Int], _ x: FloatBuffer, _ tmp: FloatBuffer, _ s: UnsafeMutablePointer<Float>
    ) {
        let d = c.hiddenSize, qDim = c.numHeads * c.headDim, R = rows.count
        let A = acts[l]
        A.h1Rows.resize(R * d)
        for (i, r) in rows.enumerated() { (A.h1Rows.pointer + i * d).update(from: A.h1.pointer + r * d, count: d) }
        A.q.resize(R * qDim)
        project(layer.qProj, .qProj, l, A.h1Rows.pointer, R, A.q.pointer, s)
        model.rope.apply(A.q.pointer, tokens: R, heads: c.numHeads, positions: keyRowPositions)
        A.attn.resize(R * qDim); A.lse.resize(c.numHeads * R)
        let kv = c.kvDim
        let dims = AttentionDims(queries: R, keys: prefixCount + tokens, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim)
        if keptProbabilities { A.probs.resize(c.numHeads * R * (prefixCount + tokens)) }
        Attention.forward(
            q: A.q.pointer, ldq: qDim, k: A.kAll.pointer, ldk: kv, v: A.vAll.pointer, ldv: kv,
            out: A.attn.pointer, ldo: qDim, lse: A.lse.pointer, dims: dims, mask: .none,
            probabilities: keptProbabilities ? A.probs.pointer : nil)
        project(layer.oProj, .oProj, l, A.attn.pointer, R, tmp.pointer, s)
        // The residual stream keeps the key rows only (rows[i] ≥ i: an in-place forward copy is safe).
        for (i, r) in rows.enumerated() where r != i { (x.pointer + i * d).update(from: x.pointer + r * d, count: d) }
        Residual.add(x.pointer, tmp.pointer, count: R * d)
        mlp(layer, l, x, tmp, R, s)
    }

    /// The MLP half of layer `l` on the `n` rows of the residual stream `x` (after the
    /// attention residual): x += down(silu(gate(h2))·up(h2)), h2 = norm2(x), keeping what the
    /// backward needs.
    private func mlp(
        _ layer: LlamaLayer, _ l: Int, _ x: FloatBuffer, _ tmp: FloatBuffer, _ n: Int, _ s: UnsafeMutablePointer<Float>
    ) {
        let d = c.hiddenSize, ffn = c.intermediateSize
        let A = acts[l]
        A.xMid.resize(n * d); A.xMid.pointer.update(from: x.pointer, count: n * d)
        A.rstd2.resize(n); A.h2.resize(n * d)
        layer.postAttentionLayernorm.withUnsafeBufferPointer { w in
            RMSNorm.forward(x: x.pointer, weight: w.baseAddress!, out: A.h2.pointer, rows: n, dim: d, eps: c.rmsNormEps,
                            rstd: A.rstd2.pointer)
        }
        A.gate.resize(n * ffn); A.up.resize(n * ffn); A.act.resize(n * ffn)
        project(layer.gateProj, .gateProj, l, A.h2.pointer, n, A.gate.pointer, s)
        project(layer.upProj, .upProj, l, A.h2.pointer, n, A.up.pointer, s)
        SwiGLU.forward(gate: A.gate.pointer, up: A.up.pointer, out: A.act.pointer, count: n * ffn)
        project(layer.downProj, .downProj, l, A.act.pointer, n, tmp.pointer, s)
        Residual.add(x.pointer, tmp.pointer, count: n * d)
    }

    /// The last layer of a pass with `keyRows`: keys and values of the R rows in `x` ([R × d],
    /// compact), scattered into the layer's key/value buffers (other rows zero).
    private func lastLayerAtRows(
        _ layer: LlamaLayer, _ l: Int, _ rows: [Int], _ x: UnsafePointer<Float>, _ s: UnsafeMutablePointer<Float>
    ) {
        let d = c.hiddenSize, kv = c.kvDim, R = rows.count, T = tokens
        let A = acts[l]
        A.x.resize(R * d); A.x.pointer.update(from: x, count: R * d)
        A.rstd1.resize(R); A.h1.resize(R * d)
        layer.inputLayernorm.withUnsafeBufferPointer { w in
            RMSNorm.forward(x: A.x.pointer, weight: w.baseAddress!, out: A.h1.pointer, rows: R, dim: d, eps: c.rmsNormEps,
                            rstd: A.rstd1.pointer)
        }
        // Compact keys and values in the last R rows of the buffers (no prefix in such a
        // pass), then moved to their rows.
        A.kAll.resize(T * kv); A.vAll.resize(T * kv)
        let kc = A.kAll.pointer + (T - R) * kv, vc = A.vAll.pointer + (T - R) * kv
        project(layer.kProj, .kProj, l, A.h1.pointer, R, kc, s)
        project(layer.vProj, .vProj, l, A.h1.pointer, R, vc, s)
        model.rope.apply(kc, tokens: R, heads: c.numKVHeads, positions: keyRowPositions)
        // rows[i] ≤ T − R + i: moving in ascending order never overwrites an unread source.
        for (i, r) in rows.enumerated() where r != T - R + i {
            (A.kAll.pointer + r * kv).update(from: kc + i * kv, count: kv)
            (A.vAll.pointer + r * kv).update(from: vc + i * kv, count: kv)
        }
        // Zero every other row.
        var next = 0
        for t in 0..<T {
            if next < R && t == rows[next] { next += 1; continue }
            (A.kAll.pointer + t * kv).update(repeating: 0, count: kv)
            (A.vAll.pointer + t * kv).update(repeating: 0, count: kv)
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

import SACTensor

/// What one layer's forward writes and its backward reads, in flat buffers reused from call to
/// call (llm.c style). A training pass (`LlamaPass`) keeps one per layer; inference
/// (`LlamaModel.forward`) reuses one for every layer.
final class LayerActivations {
    let x = FloatBuffer()        // layer input [T × d] (kept only when saving)
    let rstd1 = FloatBuffer()    // [T]
    let h1 = FloatBuffer()       // normed input [T × d]
    let h1Rows = FloatBuffer()   // h1 at the query rows [R × d] (a pass with `queryRows`)
    let q = FloatBuffer()        // post-RoPE queries [T × qDim]
    let kAll = FloatBuffer()     // training: prefix + new keys (post-RoPE) [(P+T) × kvDim]
    let vAll = FloatBuffer()     // training: [(P+T) × kvDim]
    let kNew = FloatBuffer()     // a batch's new keys before they go to each sequence [T × kvDim]
    let vNew = FloatBuffer()     // … and values
    let attn = FloatBuffer()     // attention output [T × qDim]
    let lse = FloatBuffer()      // [nH × T]
    let probs = FloatBuffer()    // attention probabilities [nH × T × (P+T)], when kept
    let xMid = FloatBuffer()     // after the attention residual [T × d] (kept only when saving)
    let rstd2 = FloatBuffer()
    let h2 = FloatBuffer()       // [T × d]
    let gate = FloatBuffer()     // [T × ffn]
    let up = FloatBuffer()       // [T × ffn]
    let act = FloatBuffer()      // silu(gate)·up [T × ffn] (kept for a down_proj adapter)
    var xa: [LoRATarget: FloatBuffer] = [:]  // x·Aᵀ per adapted projection [T × rank]
}

/// Where a layer's attention finds its keys and values (post-RoPE, `kvDim` floats a row):
/// `prefix` rows already in place, then room for the new tokens' rows, which the layer writes.
struct LayerKV {
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    let prefix: Int
}

/// One sequence of a batched layer pass: its rows of the residual stream, their RoPE
/// positions, its keys and values, and what its queries see.
struct LayerSegment {
    let rows: Range<Int>
    let positions: UnsafePointer<Int32>
    let kv: LayerKV
    let mask: AttentionMask
}

extension LlamaModel {
    /// Layer `l` on `T` rows of the residual stream `x` (`[T × hidden]`, updated in place): the
    /// one implementation of the Llama decoder layer, used by inference and decoding
    /// (`forward`, reading and appending to a `KVCache`), by the compressor's encoder and by
    /// training (`LlamaPass`, which keeps the activations for its backward).
    ///
    /// `x += o(attn(norm₁ x))`, then `x += down(silu(gate(norm₂ x)) · up(norm₂ x))`, with the
    /// new tokens' keys and values (RoPE at `positions`) written to `kv` after its prefix rows.
    ///
    /// - Parameters:
    ///   - mask: which of the `kv.prefix + T` keys each query sees.
    ///   - lora: adapters for this pass (nil: the base model); `x·Aᵀ` goes to `A.xa`.
    ///   - A: buffers for what the layer computes; with `save`, also its input (`A.x`) and the
    ///     residual after attention (`A.xMid`), as a backward needs.
    ///   - tmp: a buffer of at least `T × hidden` floats.
    ///   - scratch: room for the largest projection's `scratchCount(tokens: T)`.
    ///   - keepProbabilities: keep the attention probabilities in `A.probs` for the backward.
    ///   - stopAfterKV: return once the keys and values are written (`x` unchanged): the last
    ///     layer of a KV compressor.
    ///   - queryRows: compute queries, attention, `o_proj`, the residual and the MLP at these
    ///     rows only (ascending, distinct; their RoPE positions in `queryPositions`); `x` then
    ///     holds those rows compactly, `[R × hidden]`. Keys and values are still computed at
    ///     every row.
    func layerForward(
        _ l: Int, x: UnsafeMutablePointer<Float>, tokens T: Int, positions: UnsafePointer<Int32>,
        kv: LayerKV, mask: AttentionMask, lora: LlamaLoRA?, into A: LayerActivations, tmp: FloatBuffer,
        scratch s: UnsafeMutablePointer<Float>, save: Bool, keepProbabilities: Bool = false,
        stopAfterKV: Bool = false, queryRows: [Int]? = nil, queryPositions: UnsafePointer<Int32>? = nil
    ) {
        layerForward(
            l, x: x, tokens: T, segments: [LayerSegment(rows: 0..<T, positions: positions, kv: kv, mask: mask)],
            lora: lora, into: A, tmp: tmp, scratch: s, save: save, keepProbabilities: keepProbabilities,
            stopAfterKV: stopAfterKV, queryRows: queryRows, queryPositions: queryPositions)
    }

    /// `layerForward` over several sequences at once (continuous batching): the norms,
    /// projections and MLP run over all `T` rows together, one pass over the weights; each
    /// segment's keys and values go to its own `kv`, and its queries attend to those alone.
    /// With one segment the keys and values are projected straight into its `kv`. The
    /// attention's log-sum-exp (`A.lse`), kept probabilities and `queryRows` need a single
    /// segment covering every row. With `rowwise` every projection gives each row exactly what
    /// it gives that row alone (`Projection.applyRowwise`; no adapters), so that a sequence's
    /// result does not depend on the batch.
    func layerForward(
        _ l: Int, x: UnsafeMutablePointer<Float>, tokens T: Int, segments: [LayerSegment],
        lora: LlamaLoRA?, into A: LayerActivations, tmp: FloatBuffer,
        scratch s: UnsafeMutablePointer<Float>, save: Bool, keepProbabilities: Bool = false,
        stopAfterKV: Bool = false, queryRows: [Int]? = nil, queryPositions: UnsafePointer<Int32>? = nil,
        rowwise: Bool = false
    ) {
        let c = config, layer = layers[l]
        let d = c.hiddenSize, qDim = c.numHeads * c.headDim, kvd = c.kvDim
        let single = segments.count == 1
        precondition(single || (queryRows == nil && !keepProbabilities), "layerForward: queryRows and kept probabilities need one segment")
        precondition(!single || segments[0].rows == 0..<T, "layerForward: a single segment covers every row")
        precondition(!rowwise || lora == nil, "layerForward: rowwise products take no adapter")
        if save { A.x.resize(T * d); A.x.pointer.update(from: x, count: T * d) }
        A.rstd1.resize(T); A.h1.resize(T * d)
        layer.inputLayernorm.withUnsafeBufferPointer { w in
            RMSNorm.forward(x: x, weight: w.baseAddress!, out: A.h1.pointer, rows: T, dim: d, eps: c.rmsNormEps,
                            rstd: A.rstd1.pointer)
        }
        if single {
            let g = segments[0], P = g.kv.prefix
            let kNew = g.kv.keys + P * kvd, vNew = g.kv.values + P * kvd
            project(layer.kProj, .kProj, layer: l, A.h1.pointer, rows: T, kNew, scratch: s, lora: lora, into: A, rowwise: rowwise)
            project(layer.vProj, .vProj, layer: l, A.h1.pointer, rows: T, vNew, scratch: s, lora: lora, into: A, rowwise: rowwise)
            rope.apply(kNew, tokens: T, heads: c.numKVHeads, positions: g.positions)
        } else {
            A.kNew.resize(T * kvd); A.vNew.resize(T * kvd)
            project(layer.kProj, .kProj, layer: l, A.h1.pointer, rows: T, A.kNew.pointer, scratch: s, lora: lora, into: A, rowwise: rowwise)
            project(layer.vProj, .vProj, layer: l, A.h1.pointer, rows: T, A.vNew.pointer, scratch: s, lora: lora, into: A, rowwise: rowwise)
            for g in segments {
                let n = g.rows.count, P = g.kv.prefix
                let kNew = g.kv.keys + P * kvd, vNew = g.kv.values + P * kvd
                kNew.update(from: A.kNew.pointer + g.rows.lowerBound * kvd, count: n * kvd)
                vNew.update(from: A.vNew.pointer + g.rows.lowerBound * kvd, count: n * kvd)
                rope.apply(kNew, tokens: n, heads: c.numKVHeads, positions: g.positions)
            }
        }
        if stopAfterKV { return }

        var R = T, hq = UnsafePointer(A.h1.pointer), qPositions = segments[0].positions
        if let rows = queryRows {
            R = rows.count
            A.h1Rows.resize(R * d)
            for (i, r) in rows.enumerated() { (A.h1Rows.pointer + i * d).update(from: A.h1.pointer + r * d, count: d) }
            hq = UnsafePointer(A.h1Rows.pointer)
            qPositions = queryPositions!
        }
        A.q.resize(R * qDim)
        project(layer.qProj, .qProj, layer: l, hq, rows: R, A.q.pointer, scratch: s, lora: lora, into: A, rowwise: rowwise)
        A.attn.resize(R * qDim); A.lse.resize(c.numHeads * R)
        if keepProbabilities { A.probs.resize(c.numHeads * R * (segments[0].kv.prefix + T)) }
        let qp = A.q.pointer, ap = A.attn.pointer, lp = A.lse.pointer, pp = A.probs.pointer
        @inline(__always) func attend(_ g: LayerSegment) {
            let q0 = single ? 0 : g.rows.lowerBound, n = single ? R : g.rows.count
            rope.apply(qp + q0 * qDim, tokens: n, heads: c.numHeads, positions: single ? qPositions : g.positions)
            let dims = AttentionDims(
                queries: n, keys: g.kv.prefix + g.rows.count, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim)
            Attention.forward(
                q: qp + q0 * qDim, ldq: qDim, k: g.kv.keys, ldk: kvd, v: g.kv.values, ldv: kvd,
                out: ap + q0 * qDim, ldo: qDim, lse: single ? lp : nil, dims: dims, mask: g.mask,
                probabilities: keepProbabilities ? pp : nil)
        }
        // Batched decoding: the sequences' one-row segments are spread over the threads (each
        // on one: a parallel loop inside this one runs on its caller), the others (prompt
        // chunks, a single sequence's row) thread their own attention.
        // Each segment's arithmetic is the same either way.
        let oneRow = single ? [] : segments.filter { $0.rows.count == 1 }
        if oneRow.count > 1 {
            Parallel.forRanges(oneRow.count) { range in for i in range { attend(oneRow[i]) } }
        }
        for g in segments where oneRow.count <= 1 || g.rows.count != 1 { attend(g) }
        project(layer.oProj, .oProj, layer: l, A.attn.pointer, rows: R, tmp.pointer, scratch: s, lora: lora, into: A, rowwise: rowwise)
        if let rows = queryRows {
            // The residual stream keeps the query rows only (rows[i] ≥ i: an in-place forward copy is safe).
            for (i, r) in rows.enumerated() where r != i { (x + i * d).update(from: x + r * d, count: d) }
        }
        Residual.add(x, tmp.pointer, count: R * d)
        mlp(l, x: x, rows: R, lora: lora, into: A, tmp: tmp, scratch: s, save: save, rowwise: rowwise)
    }

    /// The MLP half of layer `l` on `n` rows of the residual stream `x` (after the attention
    /// residual): `x += down(silu(gate(h₂)) · up(h₂))`, `h₂ = norm₂(x)`.
    private func mlp(
        _ l: Int, x: UnsafeMutablePointer<Float>, rows n: Int, lora: LlamaLoRA?, into A: LayerActivations,
        tmp: FloatBuffer, scratch s: UnsafeMutablePointer<Float>, save: Bool, rowwise: Bool
    ) {
        let c = config, layer = layers[l]
        let d = c.hiddenSize, ffn = c.intermediateSize
        if save { A.xMid.resize(n * d); A.xMid.pointer.update(from: x, count: n * d) }
        A.rstd2.resize(n); A.h2.resize(n * d)
        layer.postAttentionLayernorm.withUnsafeBufferPointer { w in
            RMSNorm.forward(x: x, weight: w.baseAddress!, out: A.h2.pointer, rows: n, dim: d, eps: c.rmsNormEps,
                            rstd: A.rstd2.pointer)
        }
        A.gate.resize(n * ffn); A.up.resize(n * ffn); A.act.resize(n * ffn)
        project(layer.gateProj, .gateProj, layer: l, A.h2.pointer, rows: n, A.gate.pointer, scratch: s, lora: lora, into: A, rowwise: rowwise)
        project(layer.upProj, .upProj, layer: l, A.h2.pointer, rows: n, A.up.pointer, scratch: s, lora: lora, into: A, rowwise: rowwise)
        SwiGLU.forward(gate: A.gate.pointer, up: A.up.pointer, out: A.act.pointer, count: n * ffn)
        project(layer.downProj, .downProj, layer: l, A.act.pointer, rows: n, tmp.pointer, scratch: s, lora: lora, into: A, rowwise: rowwise)
        Residual.add(x, tmp.pointer, count: n * d)
    }

    /// `y = x·Wᵀ` for `rows` rows, plus the adapter's update when `lora` adapts `target`
    /// (keeping `x·Aᵀ` in `A.xa[target]` for the backward).
    func project(
        _ p: Projection, _ target: LoRATarget, layer l: Int, _ x: UnsafePointer<Float>, rows T: Int,
        _ y: UnsafeMutablePointer<Float>, scratch s: UnsafeMutablePointer<Float>, lora: LlamaLoRA?, into A: LayerActivations,
        rowwise: Bool = false
    ) {
        if rowwise {
            p.applyRowwise(x, tokens: T, y)
        } else {
            p.apply(x, tokens: T, y, scratch: p.scratchCount(tokens: T) > 0 ? s : nil)
        }
        guard let lora, lora.has(target) else { return }
        let xa = A.xa[target] ?? FloatBuffer()
        A.xa[target] = xa
        xa.resize(T * lora.config.rank)
        lora.forward(layer: l, target: target, x: x, rows: T, xa: xa.pointer, y: y)
    }

    /// Floats of scratch the projections need for `tokens` rows (at least 1).
    func projectionScratchCount(tokens: Int) -> Int {
        var n = 1
        for l in layers {
            for p in [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj] {
                n = max(n, p.scratchCount(tokens: tokens))
            }
        }
        return n
    }
}

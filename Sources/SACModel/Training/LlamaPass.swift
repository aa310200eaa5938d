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
        let d = c.hiddenSize, kv = c.kvDim
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
        let x = work.x, tmp = work.tmp
        x.resize(T * d); tmp.resize(T * d)
        embeddings.withUnsafeBufferPointer { x.pointer.update(from: $0.baseAddress!, count: T * d) }
        let s = scratch.pointer

        let lastLayer = c.numLayers - 1
        positions.withUnsafeBufferPointer { pp in
        keyRowPositions.withUnsafeBufferPointer { rp in
            for l in 0..<c.numLayers {
                let A = acts[l]
                if let rows, l == lastLayer {
                    lastLayerAtRows(model.layers[l], l, rows, x.pointer, s)
                    break
                }
                A.kAll.resize((P + T) * kv); A.vAll.resize((P + T) * kv)
                if let prefix, P > 0 {
                    prefix.withRows(layer: l) { k, v in
                        A.kAll.pointer.update(from: k.baseAddress!, count: P * kv)
                        A.vAll.pointer.update(from: v.baseAddress!, count: P * kv)
                    }
                }
                let atRows = rows != nil && l == lastLayer - 1
                model.layerForward(
                    l, x: x.pointer, tokens: T, positions: pp.baseAddress!,
                    kv: LayerKV(keys: A.kAll.pointer, values: A.vAll.pointer, prefix: P), mask: mask, lora: lora,
                    into: A, tmp: tmp, scratch: s, save: true, keepProbabilities: keepProbabilities,
                    stopAfterKV: keysOnly && l == lastLayer, queryRows: atRows ? rows : nil,
                    queryPositions: atRows ? rp.baseAddress : nil)
            }
        }}
        if keysOnly { return }
        finalX.resize(T * d); finalX.pointer.update(from: x.pointer, count: T * d)
        rstdF.resize(T); hiddenBuf.resize(T * d)
        model.norm.withUnsafeBufferPointer { w in
            RMSNorm.forward(x: finalX.pointer, weight: w.baseAddress!, out: hiddenBuf.pointer, rows: T, dim: d, eps: eps,
                            rstd: rstdF.pointer)
        }
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
        model.project(layer.kProj, .kProj, layer: l, A.h1.pointer, rows: R, kc, scratch: s, lora: lora, into: A)
        model.project(layer.vProj, .vProj, layer: l, A.h1.pointer, rows: R, vc, scratch: s, lora: lora, into: A)
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
}

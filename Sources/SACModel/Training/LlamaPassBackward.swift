import SACTensor

extension LlamaPass {
    /// The output head (`LlamaModel.headForRows`).
    var headProjection: Projection { model.headForRows }

    /// Cross-entropy of the logits at `rows` (indices into the pass's tokens) against
    /// `targets`, and the gradient of `gradScale · Σ loss` with respect to the final hidden
    /// states, `[tokens × hidden]` (zero outside `rows`), ready for `backward(dHidden:…)`.
    ///
    /// Returns the summed loss over the rows (Float64) and their number. Only the selected
    /// rows go through the vocabulary-sized head.
    public func crossEntropy(rows: [Int], targets: [Int32], gradScale: Float) throws
        -> (lossSum: Double, count: Int, dHidden: [Float])
    {
        let r = try outputLoss(rows: rows, targets: targets, ceScale: gradScale)
        return (r.ceSum, r.ceCount, r.dHidden)
    }

    /// The losses on the output head at `rows`: cross-entropy against `targets`
    /// (`CrossEntropy.defaultIgnoreIndex` for rows without one) and, with `teacherLogits`
    /// (`[rows.count × vocab]`), `KLDivergence` from the teacher's distribution at each row;
    /// and the gradient of `ceScale · Σ CE + klScale · Σ KL` with respect to the final hidden
    /// states, `[tokens × hidden]` (zero outside `rows`). The head runs once on the rows.
    public func outputLoss(
        rows: [Int], targets: [Int32], ceScale: Float, teacherLogits: [Float]? = nil, klScale: Float = 0
    ) throws -> (ceSum: Double, ceCount: Int, klSum: Double, dHidden: [Float]) {
        let op = "LlamaPass.outputLoss"
        guard !keysOnly else { throw TensorError.invalidArgument(op: op, detail: "the last pass kept keys only") }
        guard rows.count == targets.count else {
            throw TensorError.shapeMismatch(op: op, detail: "\(rows.count) rows, \(targets.count) targets")
        }
        let d = c.hiddenSize, V = c.vocabSize, T = tokens, R = rows.count
        if let teacherLogits, teacherLogits.count != R * V {
            throw TensorError.shapeMismatch(op: op, detail: "teacher logits hold \(teacherLogits.count) floats, expected \(R)×\(V)")
        }
        var dHidden = [Float](repeating: 0, count: T * d)
        if R == 0 { return (0, 0, 0, dHidden) }
        for (i, r) in rows.enumerated() {
            guard r >= 0 && r < T else { throw TensorError.invalidArgument(op: op, detail: "row \(r) outside 0..<\(T)") }
            guard targets[i] == CrossEntropy.defaultIgnoreIndex || (targets[i] >= 0 && Int(targets[i]) < V) else {
                throw TensorError.invalidArgument(op: op, detail: "target \(targets[i]) outside the vocabulary 0..<\(V)")
            }
        }
        let (head, h, logits, hs) = headForward(rows: rows)
        var klSum = 0.0
        var klGrad: FloatBuffer?
        if let teacherLogits {
            let g = FloatBuffer(R * V)
            g.pointer.update(from: logits.pointer, count: R * V)
            klSum = teacherLogits.withUnsafeBufferPointer { tp in
                KLDivergence.forwardBackward(studentToGradient: g.pointer, teacher: tp.baseAddress!, rows: R, vocab: V, scale: klScale)
            }
            klGrad = g
        }
        let res = targets.withUnsafeBufferPointer { tp in
            CrossEntropy.forwardBackward(
                logitsToGradient: logits.pointer, targets: tp.baseAddress!, rows: R, vocab: V, scale: ceScale)
        }
        if let klGrad { Residual.add(logits.pointer, klGrad.pointer, count: R * V) }
        head.applyTransposed(logits.pointer, tokens: R, h.pointer, accumulate: false, scratch: hs.pointer)
        dHidden.withUnsafeMutableBufferPointer { dp in
            for (i, r) in rows.enumerated() {
                Residual.add(dp.baseAddress! + r * d, h.pointer + i * d, count: d)
            }
        }
        return (res.lossSum, res.count, klSum, dHidden)
    }

    /// The hidden-state error against a teacher at `rows` of the last forward:
    /// `Σ_rows (1/L) Σ_l ‖h_l − t_l‖² / (‖t_l‖² + ε)` with `h_l` the layer-`l` output
    /// (`layerOutputs`) and `t_l` the teacher's (`teacher[l]`, `[rows.count × hidden]`), ε = 1e-6;
    /// with `gradient`, its gradient times `scale` as `dLayerOutputs` for `backward`
    /// (`[tokens × hidden]` per layer, zero outside `rows`).
    public func hiddenError(rows: [Int], teacher: [[Float]], scale: Float, gradient: Bool)
        throws -> (sum: Double, gradient: [[Float]]?)
    {
        let op = "LlamaPass.hiddenError"
        let d = c.hiddenSize, L = c.numLayers, R = rows.count
        guard teacher.count == L, teacher.allSatisfy({ $0.count == R * d }) else {
            throw TensorError.shapeMismatch(op: op, detail: "teacher must hold \(L) layers of \(R)×\(d) floats")
        }
        let mine = try layerOutputs(rows: rows)
        var sum = 0.0
        var grads: [[Float]]? = gradient ? [] : nil
        let eps: Float = 1e-6
        for l in 0..<L {
            var g = gradient ? [Float](repeating: 0, count: tokens * d) : []
            for (i, r) in rows.enumerated() {
                var diff = 0.0, norm = 0.0
                for e in 0..<d {
                    let t = Double(teacher[l][i * d + e]), delta = Double(mine[l][i * d + e]) - t
                    diff += delta * delta
                    norm += t * t
                }
                let denom = norm + Double(eps)
                sum += diff / denom / Double(L)
                if gradient {
                    let f = Float(2 / denom / Double(L)) * scale
                    for e in 0..<d { g[r * d + e] = f * (mine[l][i * d + e] - teacher[l][i * d + e]) }
                }
            }
            grads?.append(g)
        }
        return (sum, grads)
    }

    /// The output head's logits at `rows` of the last forward, `[rows.count × vocab]`.
    public func logits(rows: [Int]) throws -> [Float] {
        let op = "LlamaPass.logits"
        guard !keysOnly else { throw TensorError.invalidArgument(op: op, detail: "the last pass kept keys only") }
        guard rows.allSatisfy({ $0 >= 0 && $0 < tokens }) else {
            throw TensorError.invalidArgument(op: op, detail: "rows must lie in 0..<\(tokens)")
        }
        if rows.isEmpty { return [] }
        return headForward(rows: rows).logits.array
    }

    /// The final-normed hidden states at `rows` gathered into `[R × hidden]`, the head's
    /// logits there `[R × vocab]`, and scratch for the head in both directions. Rows are valid.
    private func headForward(rows: [Int]) -> (head: Projection, h: FloatBuffer, logits: FloatBuffer, scratch: FloatBuffer) {
        let d = c.hiddenSize, R = rows.count
        let head = headProjection
        let h = FloatBuffer(R * d)
        for (i, r) in rows.enumerated() { (h.pointer + i * d).update(from: hiddenBuf.pointer + r * d, count: d) }
        let logits = FloatBuffer(R * c.vocabSize)
        let hs = FloatBuffer(max(head.scratchCount(tokens: R), head.transposedScratchCount(), 1))
        head.apply(h.pointer, tokens: R, logits.pointer, scratch: hs.pointer)
        return (head, h, logits, hs)
    }

    /// Every layer's output (the residual stream after layer `l`, before the final norm for
    /// the last one) at `rows` of the last forward: `numLayers` arrays of `[rows.count × hidden]`.
    public func layerOutputs(rows: [Int]) throws -> [[Float]] {
        let op = "LlamaPass.layerOutputs"
        guard !keysOnly else { throw TensorError.invalidArgument(op: op, detail: "the last pass kept keys only") }
        guard rows.allSatisfy({ $0 >= 0 && $0 < tokens }) else {
            throw TensorError.invalidArgument(op: op, detail: "rows must lie in 0..<\(tokens)")
        }
        let d = c.hiddenSize, L = c.numLayers
        return (0..<L).map { l in
            let src = l == L - 1 ? finalX.pointer : acts[l + 1].x.pointer
            var out = [Float](repeating: 0, count: rows.count * d)
            out.withUnsafeMutableBufferPointer { o in
                for (i, r) in rows.enumerated() { (o.baseAddress! + i * d).update(from: src + r * d, count: d) }
            }
            return out
        }
    }

    /// Backward of the last `forward`: accumulates the adapters' gradients (into their
    /// `Parameter.grad`) and returns the gradients with respect to the input embeddings and
    /// the prefix.
    ///
    /// - Parameters:
    ///   - dHidden: gradient at the final-normed hidden states `[tokens × hidden]`, or nil.
    ///   - dKeys, dValues: per layer, gradient at the pass's own keys (post-RoPE) and values,
    ///     `[tokens × kvDim]`; nil, or an empty array for a layer, means zero.
    ///   - dLayerOutputs: per layer, gradient at that layer's output (what `layerOutputs`
    ///     reads), `[tokens × hidden]`; nil, or an empty array for a layer, means zero.
    public func backward(
        dHidden: [Float]?, dKeys: [[Float]]? = nil, dValues: [[Float]]? = nil, dLayerOutputs: [[Float]]? = nil
    ) throws -> PassGradients {
        let op = "LlamaPass.backward"
        let d = c.hiddenSize, qDim = c.numHeads * c.headDim, kv = c.kvDim, ffn = c.intermediateSize
        let T = tokens, P = prefixCount, L = c.numLayers
        guard T > 0 else { throw TensorError.invalidArgument(op: op, detail: "no forward pass to differentiate") }
        if let dHidden {
            guard !keysOnly else { throw TensorError.invalidArgument(op: op, detail: "hidden-state gradient after a keys-only pass") }
            guard dHidden.count == T * d else {
                throw TensorError.shapeMismatch(op: op, detail: "dHidden has \(dHidden.count) floats, expected \(T)×\(d)")
            }
        }
        for (name, g) in [("dKeys", dKeys), ("dValues", dValues)] {
            guard let g else { continue }
            guard g.count == L, g.allSatisfy({ $0.isEmpty || $0.count == T * kv }) else {
                throw TensorError.shapeMismatch(op: op, detail: "\(name) must hold \(L) layers of \(T)×\(kv) floats (or empty)")
            }
        }
        if let dLayerOutputs {
            guard !keysOnly else { throw TensorError.invalidArgument(op: op, detail: "layer-output gradients after a keys-only pass") }
            guard dLayerOutputs.count == L, dLayerOutputs.allSatisfy({ $0.isEmpty || $0.count == T * d }) else {
                throw TensorError.shapeMismatch(op: op, detail: "dLayerOutputs must hold \(L) layers of \(T)×\(d) floats (or empty)")
            }
        }
        let rope = model.rope
        let s = scratch.pointer
        let dims = AttentionDims(queries: T, keys: P + T, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim)
        // Gradient buffers, kept between calls (no page faults in the steady state).
        let w = work
        let dx = w.dx, dh = w.dh, dff = w.dff, dGate = w.dGate, dUp = w.dUp, dq = w.dq, da = w.da
        let dk = w.dk, dv = w.dv, g = w.g
        dx.resize(T * d); dh.resize(T * d)             // residual stream; a norm's output
        dff.resize(T * ffn); dGate.resize(T * ffn); dUp.resize(T * ffn)
        dq.resize(T * qDim); da.resize(T * qDim)
        dk.resize((P + T) * kv); dv.resize((P + T) * kv)
        g.resize(T * (lora?.config.rank ?? 1))
        var prefixK: [[Float]] = Array(repeating: [], count: L), prefixV = prefixK

        if let dHidden {
            dHidden.withUnsafeBufferPointer { gp in
                model.norm.withUnsafeBufferPointer { w in
                    RMSNorm.backward(x: finalX.pointer, weight: w.baseAddress!, rstd: rstdF.pointer, dOut: gp.baseAddress!,
                                     dx: dx.pointer, dWeight: nil, rows: T, dim: d)
                }
            }
        } else {
            dx.pointer.update(repeating: 0, count: T * d)
        }

        for l in stride(from: L - 1, through: 0, by: -1) {
            let A = acts[l], layer = model.layers[l]
            let kvOnly = keysOnly && l == L - 1
            // dx holds the gradient at this layer's output.
            if let dLayerOutputs, !dLayerOutputs[l].isEmpty {
                dLayerOutputs[l].withUnsafeBufferPointer { Residual.add(dx.pointer, $0.baseAddress!, count: T * d) }
            }
            if let rows = keyRows {
                // A pass with key rows: the last two layers ran at those rows (see `forward`).
                if kvOnly {
                    lastLayerBackAtRows(layer, l, rows, dKeys: dKeys?[l], dValues: dValues?[l])
                    continue
                }
                if l == L - 2 {
                    try penultimateLayerBackAtRows(layer, l, rows, dKeys: dKeys?[l], dValues: dValues?[l])
                    continue
                }
            }
            if kvOnly {
                dk.pointer.update(repeating: 0, count: (P + T) * kv)
                dv.pointer.update(repeating: 0, count: (P + T) * kv)
            } else {
                mlpBack(layer, l, T)
                // Attention: x_mid = x + o(attn(q, k, v)).
                projectBack(layer.oProj, .oProj, l, dy: dx.pointer, x: A.attn.pointer, T, da.pointer, accumulate: false, s, g.pointer)
                Attention.backward(
                    dOut: da.pointer, q: A.q.pointer, ldq: qDim, k: A.kAll.pointer, ldk: kv, v: A.vAll.pointer, ldv: kv,
                    out: A.attn.pointer, ldo: qDim, lse: A.lse.pointer, dq: dq.pointer, dk: dk.pointer, dv: dv.pointer,
                    dims: dims, mask: mask, probabilities: keptProbabilities ? UnsafePointer(A.probs.pointer) : nil)
            }
            if let dKeys, !dKeys[l].isEmpty {
                dKeys[l].withUnsafeBufferPointer { Residual.add(dk.pointer + P * kv, $0.baseAddress!, count: T * kv) }
            }
            if let dValues, !dValues[l].isEmpty {
                dValues[l].withUnsafeBufferPointer { Residual.add(dv.pointer + P * kv, $0.baseAddress!, count: T * kv) }
            }
            if P > 0 {
                prefixK[l] = Array(UnsafeBufferPointer(start: dk.pointer, count: P * kv))
                prefixV[l] = Array(UnsafeBufferPointer(start: dv.pointer, count: P * kv))
            }
            let dkNew = dk.pointer + P * kv, dvNew = dv.pointer + P * kv
            positions.withUnsafeBufferPointer { pp in
                rope.applyBackward(dkNew, tokens: T, heads: c.numKVHeads, positions: pp.baseAddress!)
                if !kvOnly { rope.applyBackward(dq.pointer, tokens: T, heads: c.numHeads, positions: pp.baseAddress!) }
            }
            var first = true
            if !kvOnly {
                projectBack(layer.qProj, .qProj, l, dy: dq.pointer, x: A.h1.pointer, T, dh.pointer, accumulate: false, s, g.pointer)
                first = false
            }
            projectBack(layer.kProj, .kProj, l, dy: dkNew, x: A.h1.pointer, T, dh.pointer, accumulate: !first, s, g.pointer)
            projectBack(layer.vProj, .vProj, l, dy: dvNew, x: A.h1.pointer, T, dh.pointer, accumulate: true, s, g.pointer)
            normBack(layer.inputLayernorm, x: A.x.pointer, rstd: A.rstd1.pointer, dOut: dh.pointer, into: dx.pointer, T)
        }
        return PassGradients(embeddings: dx.array, prefixKeys: prefixK, prefixValues: prefixV)
    }

    /// Backward of `lastLayerAtRows`: from the caller's key/value gradients at the key rows to
    /// the gradient at the layer's input, `[R × d]` compact in `work.dx` (which the caller
    /// zeroed: the pass has no hidden-state gradient).
    private func lastLayerBackAtRows(_ layer: LlamaLayer, _ l: Int, _ rows: [Int], dKeys: [Float]?, dValues: [Float]?) {
        let kv = c.kvDim, R = rows.count
        let w = work, A = acts[l], s = scratch.pointer
        // dk, dv hold [T × kv]; their first R rows take the compact gradients.
        for (buf, grad) in [(w.dk, dKeys), (w.dv, dValues)] {
            if let grad, !grad.isEmpty {
                grad.withUnsafeBufferPointer { gp in
                    for (i, r) in rows.enumerated() { (buf.pointer + i * kv).update(from: gp.baseAddress! + r * kv, count: kv) }
                }
            } else {
                buf.pointer.update(repeating: 0, count: R * kv)
            }
        }
        model.rope.applyBackward(w.dk.pointer, tokens: R, heads: c.numKVHeads, positions: keyRowPositions)
        projectBack(layer.kProj, .kProj, l, dy: w.dk.pointer, x: A.h1.pointer, R, w.dh.pointer, accumulate: false, s, w.g.pointer)
        projectBack(layer.vProj, .vProj, l, dy: w.dv.pointer, x: A.h1.pointer, R, w.dh.pointer, accumulate: true, s, w.g.pointer)
        normBack(layer.inputLayernorm, x: A.x.pointer, rstd: A.rstd1.pointer, dOut: w.dh.pointer, into: w.dx.pointer, R)
    }

    /// Backward of `penultimateLayerAtRows`: takes the compact `[R × d]` gradient in
    /// `work.dx` and leaves the full `[T × d]` gradient at the layer's input there.
    private func penultimateLayerBackAtRows(
        _ layer: LlamaLayer, _ l: Int, _ rows: [Int], dKeys: [Float]?, dValues: [Float]?
    ) throws {
        let d = c.hiddenSize, qDim = c.numHeads * c.headDim, kv = c.kvDim
        let R = rows.count, T = tokens
        let w = work, A = acts[l], s = scratch.pointer, g = w.g.pointer
        let dx = w.dx.pointer, dh = w.dh.pointer
        // MLP and attention output at the R rows.
        mlpBack(layer, l, R)
        projectBack(layer.oProj, .oProj, l, dy: dx, x: A.attn.pointer, R, w.da.pointer, accumulate: false, s, g)
        let dims = AttentionDims(queries: R, keys: T, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim)
        Attention.backward(
            dOut: w.da.pointer, q: A.q.pointer, ldq: qDim, k: A.kAll.pointer, ldk: kv, v: A.vAll.pointer, ldv: kv,
            out: A.attn.pointer, ldo: qDim, lse: A.lse.pointer, dq: w.dq.pointer, dk: w.dk.pointer, dv: w.dv.pointer,
            dims: dims, mask: .none, probabilities: keptProbabilities ? UnsafePointer(A.probs.pointer) : nil)
        if let dKeys, !dKeys.isEmpty { dKeys.withUnsafeBufferPointer { Residual.add(w.dk.pointer, $0.baseAddress!, count: T * kv) } }
        if let dValues, !dValues.isEmpty { dValues.withUnsafeBufferPointer { Residual.add(w.dv.pointer, $0.baseAddress!, count: T * kv) } }
        model.rope.applyBackward(w.dk.pointer, tokens: T, heads: c.numKVHeads, positions: positions)
        model.rope.applyBackward(w.dq.pointer, tokens: R, heads: c.numHeads, positions: keyRowPositions)
        // Input-norm gradient: keys and values at every row, queries at the R rows (through
        // `dff`, free again, then added to their rows).
        projectBack(layer.kProj, .kProj, l, dy: w.dk.pointer, x: A.h1.pointer, T, dh, accumulate: false, s, g)
        projectBack(layer.vProj, .vProj, l, dy: w.dv.pointer, x: A.h1.pointer, T, dh, accumulate: true, s, g)
        projectBack(layer.qProj, .qProj, l, dy: w.dq.pointer, x: A.h1Rows.pointer, R, w.dff.pointer, accumulate: false, s, g)
        for (i, r) in rows.enumerated() { Residual.add(dh + r * d, w.dff.pointer + i * d, count: d) }
        // The residual gradient back to all rows (zero outside the key rows): rows[i] ≥ i, so
        // moving from the last row down never overwrites an unread source.
        var next = R - 1
        for t in stride(from: T - 1, through: 0, by: -1) {
            if next >= 0 && rows[next] == t {
                if t != next { (dx + t * d).update(from: dx + next * d, count: d) }
                next -= 1
            } else {
                (dx + t * d).update(repeating: 0, count: d)
            }
        }
        normBack(layer.inputLayernorm, x: A.x.pointer, rstd: A.rstd1.pointer, dOut: dh, into: dx, T)
    }

    /// Backward of `mlp` on `n` rows: adds the gradient at its input (the attention residual)
    /// into `work.dx`, which holds the gradient at its output.
    private func mlpBack(_ layer: LlamaLayer, _ l: Int, _ n: Int) {
        let w = work, A = acts[l], s = scratch.pointer, g = w.g.pointer
        // x_out = x_mid + down(silu(gate(h2))·up(h2)), h2 = norm2(x_mid).
        projectBack(layer.downProj, .downProj, l, dy: w.dx.pointer, x: A.act.pointer, n, w.dff.pointer, accumulate: false, s, g)
        SwiGLU.backward(gate: A.gate.pointer, up: A.up.pointer, dOut: w.dff.pointer, dGate: w.dGate.pointer, dUp: w.dUp.pointer,
                        count: n * c.intermediateSize)
        projectBack(layer.gateProj, .gateProj, l, dy: w.dGate.pointer, x: A.h2.pointer, n, w.dh.pointer, accumulate: false, s, g)
        projectBack(layer.upProj, .upProj, l, dy: w.dUp.pointer, x: A.h2.pointer, n, w.dh.pointer, accumulate: true, s, g)
        normBack(layer.postAttentionLayernorm, x: A.xMid.pointer, rstd: A.rstd2.pointer, dOut: w.dh.pointer, into: w.dx.pointer, n)
    }

    /// dx (+)= dy·W, plus the adapter's input gradient and parameter gradients.
    private func projectBack(
        _ p: Projection, _ target: LoRATarget, _ l: Int, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, _ T: Int,
        _ dx: UnsafeMutablePointer<Float>, accumulate: Bool, _ s: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>
    ) {
        p.applyTransposed(dy, tokens: T, dx, accumulate: accumulate, scratch: p.transposedScratchCount() > 0 ? s : nil)
        guard let lora, lora.has(target), let xa = acts[l].xa[target] else { return }
        lora.backward(layer: l, target: target, dy: dy, x: x, xa: xa.pointer, rows: T, dx: dx, g: g)
    }

    /// into += RMSNorm backward (frozen gain).
    private func normBack(
        _ w: [Float], x: UnsafePointer<Float>, rstd: UnsafePointer<Float>, dOut: UnsafeMutablePointer<Float>,
        into: UnsafeMutablePointer<Float>, _ T: Int
    ) {
        let d = c.hiddenSize
        w.withUnsafeBufferPointer { wp in
            RMSNorm.backward(x: x, weight: wp.baseAddress!, rstd: rstd, dOut: dOut, dx: dOut, dWeight: nil, rows: T, dim: d)
        }
        Residual.add(into, dOut, count: T * d)
    }
}

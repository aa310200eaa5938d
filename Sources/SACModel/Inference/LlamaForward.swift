import SACTensor

/// Which positions of a forward pass produce logits.
public enum LogitsSelection: Sendable {
    /// None (only fill the KV cache, e.g. for a prefix).
    case none
    /// The last position only: what generation needs (the head is a fifth of the model's FLOPs).
    case last
    /// Every position, [tokens × vocab] row-major.
    case all
}

extension LlamaModel {
    /// Reads `ids` through the model, appending their keys and values to `cache`, and returns
    /// the logits selected by `logits` (`[vocab]` for `.last`, `[tokens × vocab]` for `.all`).
    ///
    /// - Parameters:
    ///   - positions: RoPE positions of the tokens; by default `cache.nextPosition + 0, 1, …`.
    ///     Afterwards `cache.nextPosition` is the last position + 1.
    ///   - hiddenStates: called with (index, [tokens × hidden]) for the embedding output
    ///     (index 0), each layer's output (1…numLayers) and the final norm (numLayers + 1),
    ///     the layout of Hugging Face's `output_hidden_states` with the last one normed.
    /// - Attention: token i sees every cached row (the prefix, e.g. a compressed memory, with no
    ///   mask) and the new tokens 0…i (causal).
    /// - Throws: `TensorError.invalidArgument` for an empty input, an id outside the vocabulary
    ///   or a position count that does not match.
    public func forward(
        _ ids: [Int32], positions: [Int32]? = nil, cache: KVCache, logits: LogitsSelection = .last,
        hiddenStates: ((Int, UnsafeBufferPointer<Float>) -> Void)? = nil
    ) throws -> [Float] {
        let c = config
        guard !ids.isEmpty else { throw TensorError.invalidArgument(op: "LlamaModel.forward", detail: "no tokens") }
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw TensorError.invalidArgument(
                op: "LlamaModel.forward", detail: "token id \(bad) outside the vocabulary 0..<\(c.vocabSize)")
        }
        return try forward(
            embeddings: embed(ids), positions: positions, cache: cache, logits: logits, hiddenStates: hiddenStates)
    }

    /// The input embeddings `[ids.count × hidden]` of `ids` (ids must be in the vocabulary).
    public func embed(_ ids: [Int32]) -> [Float] {
        let d = config.hiddenSize
        var x = [Float](repeating: 0, count: ids.count * d)
        x.withUnsafeMutableBufferPointer { xp in
            embedTokens.withUnsafeBufferPointer { ep in
                for t in 0..<ids.count {
                    (xp.baseAddress! + t * d).update(from: ep.baseAddress! + Int(ids[t]) * d, count: d)
                }
            }
        }
        return x
    }

    /// `forward` from input embeddings `[tokens × hidden]` instead of token ids: for learned
    /// soft tokens (SAC's `[LM]`) and for methods whose memory is a sequence of embeddings (ICAE).
    public func forward(
        embeddings: [Float], positions: [Int32]? = nil, cache: KVCache, logits: LogitsSelection = .last,
        hiddenStates: ((Int, UnsafeBufferPointer<Float>) -> Void)? = nil
    ) throws -> [Float] {
        let c = config
        guard !embeddings.isEmpty, embeddings.count % c.hiddenSize == 0 else {
            throw TensorError.shapeMismatch(
                op: "LlamaModel.forward",
                detail: "\(embeddings.count) embedding floats is not a positive multiple of hidden size \(c.hiddenSize)")
        }
        let T = embeddings.count / c.hiddenSize
        guard cache.layers == c.numLayers, cache.kvDim == c.kvDim else {
            throw TensorError.shapeMismatch(
                op: "LlamaModel.forward",
                detail: "cache has \(cache.layers) layers × \(cache.kvDim), model needs \(c.numLayers) × \(c.kvDim)")
        }
        let pos: [Int32]
        if let positions {
            guard positions.count == T else {
                throw TensorError.shapeMismatch(
                    op: "LlamaModel.forward", detail: "\(positions.count) positions for \(T) tokens")
            }
            pos = positions
        } else {
            pos = (0..<T).map { cache.nextPosition + Int32($0) }
        }

        let d = c.hiddenSize, qDim = c.numHeads * c.headDim, kvDim = c.kvDim
        let ffn = c.intermediateSize
        let prefix = cache.count
        cache.reserve(prefix + T)

        var x = embeddings
        var h = [Float](repeating: 0, count: T * d)
        var q = [Float](repeating: 0, count: T * qDim)
        var attn = [Float](repeating: 0, count: T * qDim)
        var gate = [Float](repeating: 0, count: T * ffn)
        var up = [Float](repeating: 0, count: T * ffn)
        var tmp = [Float](repeating: 0, count: T * d)
        var scratchCount = 0
        for l in layers {
            for p in [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj] {
                scratchCount = max(scratchCount, p.scratchCount(tokens: T))
            }
        }
        var scratch = [Float](repeating: 0, count: max(1, scratchCount))

        if let hiddenStates { x.withUnsafeBufferPointer { hiddenStates(0, $0) } }

        for (li, layer) in layers.enumerated() {
            x.withUnsafeMutableBufferPointer { xb in
            h.withUnsafeMutableBufferPointer { hb in
            q.withUnsafeMutableBufferPointer { qb in
            attn.withUnsafeMutableBufferPointer { ab in
            gate.withUnsafeMutableBufferPointer { gb in
            up.withUnsafeMutableBufferPointer { ub in
            tmp.withUnsafeMutableBufferPointer { tb in
            scratch.withUnsafeMutableBufferPointer { sb in
                let x = xb.baseAddress!, h = hb.baseAddress!, q = qb.baseAddress!, a = ab.baseAddress!
                let g = gb.baseAddress!, u = ub.baseAddress!, tmp = tb.baseAddress!, s = sb.baseAddress!
                // Attention block.
                Kernels.rmsNorm(x, layer.inputLayernorm, h, rows: T, dim: d, eps: c.rmsNormEps)
                layer.qProj.apply(h, tokens: T, q, scratch: s)
                cache.withLayer(li) { keys, values in
                    let kNew = keys + prefix * kvDim, vNew = values + prefix * kvDim
                    layer.kProj.apply(h, tokens: T, kNew, scratch: s)
                    layer.vProj.apply(h, tokens: T, vNew, scratch: s)
                    pos.withUnsafeBufferPointer { pp in
                        rope.apply(q, tokens: T, heads: c.numHeads, positions: pp.baseAddress!)
                        rope.apply(kNew, tokens: T, heads: c.numKVHeads, positions: pp.baseAddress!)
                    }
                    Kernels.attention(
                        q: q, keys: keys, values: values, out: a, tokens: T, keyCount: prefix + T,
                        heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, prefix: prefix)
                }
                layer.oProj.apply(a, tokens: T, tmp, scratch: s)
                Kernels.add(tmp, into: x, count: T * d)
                // MLP block.
                Kernels.rmsNorm(x, layer.postAttentionLayernorm, h, rows: T, dim: d, eps: c.rmsNormEps)
                layer.gateProj.apply(h, tokens: T, g, scratch: s)
                layer.upProj.apply(h, tokens: T, u, scratch: s)
                Kernels.swiGLU(gate: g, up: u, out: g, count: T * ffn)
                layer.downProj.apply(g, tokens: T, tmp, scratch: s)
                Kernels.add(tmp, into: x, count: T * d)
            }}}}}}}}
            if let hiddenStates { x.withUnsafeBufferPointer { hiddenStates(li + 1, $0) } }
        }
        cache.commit(T)
        cache.nextPosition = pos[T - 1] + 1

        if logits == .none && hiddenStates == nil { return [] }
        x.withUnsafeBufferPointer { xb in
            h.withUnsafeMutableBufferPointer { hb in
                Kernels.rmsNorm(xb.baseAddress!, norm, hb.baseAddress!, rows: T, dim: d, eps: c.rmsNormEps)
            }
        }
        if let hiddenStates { h.withUnsafeBufferPointer { hiddenStates(c.numLayers + 1, $0) } }
        return head(h, tokens: T, selection: logits)
    }

    /// Logits from final-normed hidden states `h` [tokens × hidden].
    func head(_ h: [Float], tokens T: Int, selection: LogitsSelection) -> [Float] {
        let d = config.hiddenSize, V = config.vocabSize
        switch selection {
        case .none:
            return []
        case .last:
            var out = [Float](repeating: 0, count: V)
            h.withUnsafeBufferPointer { hb in
                out.withUnsafeMutableBufferPointer { ob in
                    lmHead.apply(hb.baseAddress! + (T - 1) * d, tokens: 1, ob.baseAddress!, scratch: nil)
                }
            }
            return out
        case .all:
            let head = headForRows
            var out = [Float](repeating: 0, count: T * V)
            var scratch = [Float](repeating: 0, count: max(1, head.scratchCount(tokens: T)))
            h.withUnsafeBufferPointer { hb in
                out.withUnsafeMutableBufferPointer { ob in
                    scratch.withUnsafeMutableBufferPointer { sb in
                        head.apply(hb.baseAddress!, tokens: T, ob.baseAddress!, scratch: sb.baseAddress!)
                    }
                }
            }
            return out
        }
    }
}

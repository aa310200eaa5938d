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

        let d = c.hiddenSize
        let prefix = cache.count
        cache.reserve(prefix + T)
        let x = FloatBuffer(T * d), tmp = FloatBuffer(T * d)
        let scratch = FloatBuffer(projectionScratchCount(tokens: T))
        let buffers = LayerActivations()
        embeddings.withUnsafeBufferPointer { x.pointer.update(from: $0.baseAddress!, count: T * d) }
        let xs = UnsafeBufferPointer(start: x.pointer, count: T * d)
        hiddenStates?(0, xs)
        pos.withUnsafeBufferPointer { pp in
            for l in 0..<c.numLayers {
                cache.withLayer(l) { keys, values in
                    layerForward(
                        l, x: x.pointer, tokens: T, positions: pp.baseAddress!,
                        kv: LayerKV(keys: keys, values: values, prefix: prefix), mask: .causal(prefix: prefix), lora: nil,
                        into: buffers, tmp: tmp, scratch: scratch.pointer, save: false)
                }
                hiddenStates?(l + 1, xs)
            }
        }
        cache.commit(T)
        cache.nextPosition = pos[T - 1] + 1

        if logits == .none && hiddenStates == nil { return [] }
        var h = [Float](repeating: 0, count: T * d)
        norm.withUnsafeBufferPointer { w in
            h.withUnsafeMutableBufferPointer { hb in
                RMSNorm.forward(x: x.pointer, weight: w.baseAddress!, out: hb.baseAddress!, rows: T, dim: d, eps: c.rmsNormEps)
            }
        }
        if let hiddenStates { h.withUnsafeBufferPointer { hiddenStates(c.numLayers + 1, $0) } }
        return head(h, tokens: T, selection: logits)
    }

    /// One pass over several sequences at once, for continuous batching: item `i` reads its
    /// `ids` through its own `cache` at positions `cache.nextPosition, …` (appending their keys
    /// and values, as `forward` does), and the norms, projections and MLP run over every item's
    /// rows together, one pass over the weights for all. Returns each item's logits at its last
    /// token. Every product is computed row by row in the way a single decoded token's is
    /// (`Projection.applyRowwise`), so an item of one token gets exactly the logits and cache
    /// rows that `forward(ids, cache:)` alone gives it: batching never changes an answer. Meant
    /// for decoding steps; a long prompt is faster alone (its products go through the GEMM).
    /// - Throws: `TensorError` for an empty batch or input, an id outside the vocabulary, a
    ///   cache of another shape, or one cache given twice.
    public func forward(batch: [(ids: [Int32], cache: KVCache)]) throws -> [[Float]] {
        let c = config, op = "LlamaModel.forward(batch:)"
        guard !batch.isEmpty else { throw TensorError.invalidArgument(op: op, detail: "empty batch") }
        var seen = Set<ObjectIdentifier>()
        for (i, item) in batch.enumerated() {
            guard !item.ids.isEmpty else { throw TensorError.invalidArgument(op: op, detail: "item \(i) has no tokens") }
            if let bad = item.ids.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
                throw TensorError.invalidArgument(op: op, detail: "item \(i): token id \(bad) outside the vocabulary 0..<\(c.vocabSize)")
            }
            guard item.cache.layers == c.numLayers, item.cache.kvDim == c.kvDim else {
                throw TensorError.shapeMismatch(
                    op: op, detail: "item \(i): cache has \(item.cache.layers) layers × \(item.cache.kvDim), model needs \(c.numLayers) × \(c.kvDim)")
            }
            guard seen.insert(ObjectIdentifier(item.cache)).inserted else {
                throw TensorError.invalidArgument(op: op, detail: "item \(i): a cache appears twice in the batch")
            }
        }
        let d = c.hiddenSize
        let ids = batch.flatMap(\.ids), T = ids.count
        var positions: [Int32] = []
        var starts: [Int] = []
        for item in batch {
            starts.append(positions.count)
            positions += (0..<item.ids.count).map { item.cache.nextPosition + Int32($0) }
            item.cache.reserve(item.cache.count + item.ids.count)
        }
        let x = FloatBuffer(T * d), tmp = FloatBuffer(T * d)
        let scratch = FloatBuffer(1)
        let buffers = LayerActivations()
        embed(ids).withUnsafeBufferPointer { x.pointer.update(from: $0.baseAddress!, count: T * d) }
        positions.withUnsafeBufferPointer { pp in
            for l in 0..<c.numLayers {
                let segments = batch.enumerated().map { i, item in
                    let (k, v) = item.cache.storage(layer: l), P = item.cache.count
                    return LayerSegment(
                        rows: starts[i]..<(starts[i] + item.ids.count), positions: pp.baseAddress! + starts[i],
                        kv: LayerKV(keys: k, values: v, prefix: P), mask: .causal(prefix: P))
                }
                layerForward(l, x: x.pointer, tokens: T, segments: segments, lora: nil, into: buffers, tmp: tmp,
                             scratch: scratch.pointer, save: false, rowwise: true)
            }
        }
        for (i, item) in batch.enumerated() {
            item.cache.commit(item.ids.count)
            item.cache.nextPosition = positions[starts[i] + item.ids.count - 1] + 1
        }
        // The final norm and the head at each item's last row.
        let B = batch.count, V = c.vocabSize
        var last = [Float](repeating: 0, count: B * d)
        last.withUnsafeMutableBufferPointer { lb in
            for (i, item) in batch.enumerated() {
                (lb.baseAddress! + i * d).update(from: x.pointer + (starts[i] + item.ids.count - 1) * d, count: d)
            }
        }
        var h = [Float](repeating: 0, count: B * d)
        norm.withUnsafeBufferPointer { w in
            last.withUnsafeBufferPointer { lb in
                h.withUnsafeMutableBufferPointer { hb in
                    RMSNorm.forward(x: lb.baseAddress!, weight: w.baseAddress!, out: hb.baseAddress!, rows: B, dim: d, eps: c.rmsNormEps)
                }
            }
        }
        var out = [Float](repeating: 0, count: B * V)
        h.withUnsafeBufferPointer { hb in
            out.withUnsafeMutableBufferPointer { ob in
                lmHead.applyRowwise(hb.baseAddress!, tokens: B, ob.baseAddress!)
            }
        }
        return (0..<B).map { Array(out[($0 * V)..<(($0 + 1) * V)]) }
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

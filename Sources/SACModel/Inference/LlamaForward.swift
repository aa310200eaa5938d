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

    /// One sequence's part of a batched pass (`forward(batch:)`): input rows read through
    /// its own `cache`.
    public struct BatchItem {
        /// Input embeddings `[rows × hidden]` (token embeddings, or learned ones such as `[LM]`).
        public var embeddings: [Float]
        /// RoPE positions of the rows; nil: `cache.nextPosition + 0, 1, …`.
        public var positions: [Int32]?
        public var cache: KVCache
        /// Whether to return logits at the item's last row (false for a prompt's chunk that is
        /// not its last: the head is a fifth of a row's work).
        public var logits: Bool

        public init(embeddings: [Float], positions: [Int32]? = nil, cache: KVCache, logits: Bool = true) {
            self.embeddings = embeddings
            self.positions = positions
            self.cache = cache
            self.logits = logits
        }
    }

    /// One pass over several sequences at once, for continuous batching: item `i` reads its
    /// `ids` through its own `cache` at positions `cache.nextPosition, …` (appending their keys
    /// and values, as `forward` does), and the norms, projections and MLP run over every item's
    /// rows together, one pass over the weights for all. Returns each item's logits at its last
    /// token. See `forward(batch: [BatchItem])`.
    /// - Throws: `TensorError` for an empty batch or input, an id outside the vocabulary, a
    ///   cache of another shape, or one cache given twice.
    public func forward(batch: [(ids: [Int32], cache: KVCache)]) throws -> [[Float]] {
        let c = config
        for (i, item) in batch.enumerated() {
            if let bad = item.ids.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
                throw TensorError.invalidArgument(
                    op: "LlamaModel.forward(batch:)", detail: "item \(i): token id \(bad) outside the vocabulary 0..<\(c.vocabSize)")
            }
        }
        return try forward(batch: batch.map { BatchItem(embeddings: embed($0.ids), cache: $0.cache) })
    }

    /// One pass over several sequences at once, from input embeddings: item `i` reads its rows
    /// through its own cache at its positions (appending their keys and values), attending to
    /// its cached prefix and causally to its own rows, and the norms, projections and MLP run
    /// over every item's rows together, one pass over the weights for all. Returns, for each
    /// item, its logits at its last row (`[vocab]`), or `[]` when it asked for none. Every
    /// product is computed row by row in the way a single decoded token's is
    /// (`Projection.applyRowwise`) and attention segment by segment, so an item's results do
    /// not depend on what else is in the batch: batching never changes an answer. An item of
    /// one token gets exactly what `forward(ids, cache:)` alone gives it.
    /// - Throws: `TensorError` for an empty batch or item, embeddings that are not whole rows,
    ///   positions that do not match the rows, a cache of another shape, or one cache given twice.
    public func forward(batch: [BatchItem]) throws -> [[Float]] {
        let c = config, op = "LlamaModel.forward(batch:)", d = c.hiddenSize
        guard !batch.isEmpty else { throw TensorError.invalidArgument(op: op, detail: "empty batch") }
        var seen = Set<ObjectIdentifier>()
        var counts: [Int] = []
        for (i, item) in batch.enumerated() {
            guard !item.embeddings.isEmpty else { throw TensorError.invalidArgument(op: op, detail: "item \(i) has no tokens") }
            guard item.embeddings.count % d == 0 else {
                throw TensorError.shapeMismatch(
                    op: op, detail: "item \(i): \(item.embeddings.count) embedding floats is not a multiple of hidden size \(d)")
            }
            let n = item.embeddings.count / d
            if let p = item.positions, p.count != n {
                throw TensorError.shapeMismatch(op: op, detail: "item \(i): \(p.count) positions for \(n) rows")
            }
            guard item.cache.layers == c.numLayers, item.cache.kvDim == c.kvDim else {
                throw TensorError.shapeMismatch(
                    op: op, detail: "item \(i): cache has \(item.cache.layers) layers × \(item.cache.kvDim), model needs \(c.numLayers) × \(c.kvDim)")
            }
            guard seen.insert(ObjectIdentifier(item.cache)).inserted else {
                throw TensorError.invalidArgument(op: op, detail: "item \(i): a cache appears twice in the batch")
            }
            counts.append(n)
        }
        let T = counts.reduce(0, +)
        var positions: [Int32] = []
        var starts: [Int] = []
        positions.reserveCapacity(T)
        for (i, item) in batch.enumerated() {
            starts.append(positions.count)
            positions += item.positions ?? (0..<counts[i]).map { item.cache.nextPosition + Int32($0) }
            item.cache.reserve(item.cache.count + counts[i])
        }
        let x = FloatBuffer(T * d), tmp = FloatBuffer(T * d)
        let scratch = FloatBuffer(1)
        let buffers = LayerActivations()
        for (i, item) in batch.enumerated() {
            item.embeddings.withUnsafeBufferPointer { (x.pointer + starts[i] * d).update(from: $0.baseAddress!, count: counts[i] * d) }
        }
        positions.withUnsafeBufferPointer { pp in
            for l in 0..<c.numLayers {
                let segments = batch.enumerated().map { i, item in
                    let (k, v) = item.cache.storage(layer: l), P = item.cache.count
                    return LayerSegment(
                        rows: starts[i]..<(starts[i] + counts[i]), positions: pp.baseAddress! + starts[i],
                        kv: LayerKV(keys: k, values: v, prefix: P), mask: .causal(prefix: P))
                }
                layerForward(l, x: x.pointer, tokens: T, segments: segments, lora: nil, into: buffers, tmp: tmp,
                             scratch: scratch.pointer, save: false, rowwise: true)
            }
        }
        for (i, item) in batch.enumerated() {
            item.cache.commit(counts[i])
            item.cache.nextPosition = positions[starts[i] + counts[i] - 1] + 1
        }
        // The final norm and the head at the last row of each item that wants logits.
        let wanted = batch.indices.filter { batch[$0].logits }
        let B = wanted.count, V = c.vocabSize
        guard B > 0 else { return batch.map { _ in [] } }
        var last = [Float](repeating: 0, count: B * d)
        last.withUnsafeMutableBufferPointer { lb in
            for (j, i) in wanted.enumerated() {
                (lb.baseAddress! + j * d).update(from: x.pointer + (starts[i] + counts[i] - 1) * d, count: d)
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
        var result = batch.map { _ in [Float]() }
        for (j, i) in wanted.enumerated() { result[i] = Array(out[(j * V)..<((j + 1) * V)]) }
        return result
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

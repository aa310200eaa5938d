import SACTensor
/// The keys (after RoPE) and values of every layer for the tokens a model has read so far.
///
/// Row `i` of layer `l` holds token `i`'s key or value for all KV heads, `kvDim = numKVHeads ·
/// headDim` floats. The cache is a class because it is large and shared between the code
/// that fills it and the decoder that reads it; `copy()` makes an independent copy (for
/// example to answer several questions from the same compressed memory).
///
/// It can be filled in two ways: by the model's forward pass (prefill and decoding append the
/// new tokens' rows), or from outside with `append(keys:values:count:)` — the compressor hands
/// the decoder the carriers' KV this way. Positions are not implied by row numbers:
/// `nextPosition` is the RoPE position the next token read by the model gets (SAC's decoder
/// continues from the original context length N, not from the number of carriers).
///
/// Not thread-safe: one model call at a time uses a cache.
public final class KVCache: @unchecked Sendable {
    /// Number of layers.
    public let layers: Int
    /// Floats per row: KV heads × head size.
    public let kvDim: Int
    /// Rows filled.
    public private(set) var count: Int = 0
    /// Rows allocated.
    public private(set) var capacity: Int
    /// The position the next token read through this cache gets by default.
    public var nextPosition: Int32 = 0
    /// Per layer, `capacity × kvDim` floats, owned by the cache; they move only in `reserve`.
    private var keyStorage: [UnsafeMutablePointer<Float>]
    private var valueStorage: [UnsafeMutablePointer<Float>]

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
        p.initialize(repeating: 0, count: max(1, n))
        return p
    }

    /// An empty cache with room for `capacity` rows (it grows as needed).
    public init(layers: Int, kvDim: Int, capacity: Int = 256) {
        precondition(layers > 0 && kvDim > 0 && capacity >= 0)
        self.layers = layers
        self.kvDim = kvDim
        self.capacity = capacity
        keyStorage = (0..<layers).map { _ in Self.allocate(capacity * kvDim) }
        valueStorage = (0..<layers).map { _ in Self.allocate(capacity * kvDim) }
    }

    deinit {
        for p in keyStorage + valueStorage { p.deallocate() }
    }

    /// An independent copy of the filled rows.
    public func copy() -> KVCache {
        let c = KVCache(layers: layers, kvDim: kvDim, capacity: count)
        for l in 0..<layers {
            c.keyStorage[l].update(from: keyStorage[l], count: count * kvDim)
            c.valueStorage[l].update(from: valueStorage[l], count: count * kvDim)
        }
        c.count = count
        c.nextPosition = nextPosition
        return c
    }

    /// Makes room for at least `rows` rows in total (growing geometrically). Pointers from
    /// `withLayer` taken before are invalid afterwards.
    public func reserve(_ rows: Int) {
        guard rows > capacity else { return }
        let newCapacity = max(rows, capacity * 3 / 2 + 16)
        for l in 0..<layers {
            for keys in [true, false] {
                let old = keys ? keyStorage[l] : valueStorage[l]
                let new = Self.allocate(newCapacity * kvDim)
                new.update(from: old, count: count * kvDim)
                old.deallocate()
                if keys { keyStorage[l] = new } else { valueStorage[l] = new }
            }
        }
        capacity = newCapacity
    }

    /// Appends `count` rows to every layer from outside. `keys[l]` and `values[l]` hold
    /// `count × kvDim` floats for layer `l`. `nextPosition` is left to the caller.
    public func append(keys: [[Float]], values: [[Float]], count rows: Int) throws {
        guard keys.count == layers, values.count == layers else {
            throw TensorError.shapeMismatch(
                op: "KVCache.append", detail: "got \(keys.count) key and \(values.count) value layers, cache has \(layers)")
        }
        for l in 0..<layers where keys[l].count != rows * kvDim || values[l].count != rows * kvDim {
            throw TensorError.shapeMismatch(
                op: "KVCache.append",
                detail: "layer \(l): \(keys[l].count) key and \(values[l].count) value floats, expected \(rows)×\(kvDim)")
        }
        try append(PrefixKV(keys: keys, values: values, count: rows))
    }

    /// Appends every row of `rows` (a compressed memory, another cache, a prefix) to every
    /// layer, read where it stands. `nextPosition` is left to the caller.
    /// - Throws: `TensorError.shapeMismatch` when the layers or the row width differ.
    public func append(_ rows: some KVRows) throws {
        guard rows.count == 0 || (rows.layers == layers && rows.kvDim == kvDim) else {
            throw TensorError.shapeMismatch(
                op: "KVCache.append", detail: "rows of \(rows.layers) layers × \(rows.kvDim), cache has \(layers) × \(kvDim)")
        }
        if let other = rows as? KVCache, other === self {
            throw TensorError.invalidArgument(op: "KVCache.append", detail: "a cache cannot append itself (append a copy())")
        }
        let n = rows.count
        guard n > 0 else { return }
        reserve(count + n)
        let base = count * kvDim
        for l in 0..<layers {
            try rows.withRows(layer: l) { k, v in
                guard k.count == n * kvDim, v.count == n * kvDim else {
                    throw TensorError.shapeMismatch(
                        op: "KVCache.append", detail: "layer \(l): \(k.count) key and \(v.count) value floats, expected \(n)×\(kvDim)")
                }
                (keyStorage[l] + base).update(from: k.baseAddress!, count: n * kvDim)
                (valueStorage[l] + base).update(from: v.baseAddress!, count: n * kvDim)
            }
        }
        count += n
    }

    /// The keys and values of layer `l`, rows `0..<count`, as `count × kvDim` arrays.
    public func layer(_ l: Int) -> (keys: [Float], values: [Float]) {
        (Array(UnsafeBufferPointer(start: keyStorage[l], count: count * kvDim)),
         Array(UnsafeBufferPointer(start: valueStorage[l], count: count * kvDim)))
    }

    /// Drops the rows from `rows` on (for example to reuse a prefix for another question).
    public func truncate(to rows: Int) {
        precondition(rows >= 0 && rows <= count, "KVCache.truncate: \(rows) outside 0...\(count)")
        count = rows
    }

    /// Empties the cache and resets `nextPosition` to 0.
    public func removeAll() {
        count = 0
        nextPosition = 0
    }

    /// Runs `body` with pointers to layer `l`'s key and value storage (`capacity` rows).
    /// The model writes new rows at `count…` and then calls `commit(_:)`.
    func withLayer<R>(_ l: Int, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try body(keyStorage[l], valueStorage[l])
    }

    /// Layer `l`'s key and value storage (`capacity` rows), valid until the next `reserve`.
    func storage(layer l: Int) -> (keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>) {
        (keyStorage[l], valueStorage[l])
    }

    /// Marks `rows` rows written past `count` by the model as filled.
    func commit(_ rows: Int) {
        precondition(count + rows <= capacity)
        count += rows
    }
}

extension KVCache: KVRows {
    /// Layer `l`'s filled rows, `0..<count`.
    public func withRows<R>(layer l: Int, _ body: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: keyStorage[l], count: count * kvDim),
                 UnsafeBufferPointer(start: valueStorage[l], count: count * kvDim))
    }
}

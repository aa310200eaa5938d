/// Keys (after RoPE) and values of a run of positions in every layer of a model, each layer
/// `count × kvDim` floats, row-major (`kvDim = numKVHeads · headDim`).
///
/// The one abstraction of keys and values: a `KVCache` (a prompt being read or decoded), a
/// compressed memory (its carriers) and a training pass's prefix (`PrefixKV`) all are one, and
/// each reads another's rows where it stands, without converting it: the decoder's cache
/// appends a memory's rows (`KVCache.append(_:)`), a training pass or a teacher reads a memory
/// as its prefix (`LlamaPass.forward(prefix:)`). A batch of sequences is a list of them, each
/// with its own `count`.
public protocol KVRows {
    /// Number of layers.
    var layers: Int { get }
    /// Floats per row: KV heads × head size.
    var kvDim: Int { get }
    /// Rows held.
    var count: Int { get }
    /// Runs `body` with layer `l`'s keys and values, `count × kvDim` floats each.
    func withRows<R>(layer l: Int, _ body: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>) throws -> R) rethrows -> R
}

extension KVRows {
    /// Whether these rows fit a model of `config` (same layers and row width; no rows fit any).
    public func fits(_ config: LlamaConfig) -> Bool {
        count == 0 || (layers == config.numLayers && kvDim == config.kvDim)
    }
}

/// Keys and values held in per-layer arrays: a training pass's prefix, built from gathered
/// rows (`Compressor`'s memory while it trains).
public struct PrefixKV: KVRows, Sendable {
    public var keys: [[Float]]
    public var values: [[Float]]
    /// Rows per layer.
    public var count: Int

    public init(keys: [[Float]], values: [[Float]], count: Int) {
        self.keys = keys
        self.values = values
        self.count = count
    }

    public var layers: Int { keys.count }
    public var kvDim: Int { count > 0 ? (keys.first?.count ?? 0) / count : 0 }

    public func withRows<R>(layer l: Int, _ body: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try keys[l].withUnsafeBufferPointer { k in try values[l].withUnsafeBufferPointer { v in try body(k, v) } }
    }

    /// Whether every layer holds exactly `count × kvDim` keys and values.
    var isConsistent: Bool {
        keys.count == values.count && keys.allSatisfy { $0.count == count * kvDim } && values.allSatisfy { $0.count == count * kvDim }
    }
}

import Foundation
import SACModel
import SACTensor

/// A compressed context: what the frozen decoder reads instead of the context.
///
/// For the KV methods, per layer the keys (post-RoPE) and values of the carriers,
/// `[carriers × kvDim]`; for ICAE, the carriers' final hidden states `[carriers × hidden]`,
/// read as input embeddings. It also records what the decoder needs (where its positions
/// start, the learned `[LM]` embedding) and what made it (method, ratio, model and adapter
/// identity), so that it can be checked before use.
public struct CompressedMemory: Sendable, Equatable {
    public var method: CompressionMethod
    public var ratio: Int
    /// Tokens of the encoder input (N).
    public var contextTokens: Int
    /// Carriers (C).
    public var carriers: Int
    /// Position of the decoder's first token (`[LM]`).
    public var decoderStart: Int32
    /// The carriers' positions in the encoder.
    public var carrierPositions: [Int32]
    /// Per layer `[carriers × kvDim]` (empty for ICAE).
    public var keys: [[Float]]
    public var values: [[Float]]
    /// `[carriers × hidden]` (ICAE only; empty otherwise).
    public var embeddings: [Float]
    /// The learned `[LM]` soft token `[hidden]` (nil for the training-free `tokens` method).
    public var lmToken: [Float]?
    /// Identity of the model that made it (`ModelIdentity`).
    public var model: String
    /// Identity of the adapter that made it ("none" for `tokens`).
    public var adapter: String
    public var kvDim: Int
    public var hidden: Int
    /// How the file it was read from stored the carrier data (`.f32` for one just made, and
    /// for files written before the dtype was recorded). Not compared by `==`.
    public var dtype: MemoryDType = .f32

    public static func == (a: CompressedMemory, b: CompressedMemory) -> Bool {
        a.method == b.method && a.ratio == b.ratio && a.contextTokens == b.contextTokens && a.carriers == b.carriers
            && a.decoderStart == b.decoderStart && a.carrierPositions == b.carrierPositions && a.keys == b.keys
            && a.values == b.values && a.embeddings == b.embeddings && a.lmToken == b.lmToken && a.model == b.model
            && a.adapter == b.adapter && a.kvDim == b.kvDim && a.hidden == b.hidden
    }

    /// Context tokens per carrier.
    public var achievedRatio: Double { Double(contextTokens) / Double(max(1, carriers)) }

    /// Bytes of the carrier data as held in RAM (Float32).
    public var byteCount: Int { 4 * carrierValues }

    /// Bytes of the carrier data stored as `dtype`.
    public func byteCount(stored dtype: MemoryDType) -> Int { dtype.bytes * carrierValues }

    /// Keys, values and embeddings: the values a file stores in the memory's dtype.
    var carrierValues: Int { keys.reduce(0) { $0 + $1.count } * 2 + embeddings.count }

    /// The memory with its keys, values and embeddings rounded to `dtype` (to nearest, ties to
    /// even), as a file of that dtype gives them back; `[LM]` and positions are kept exact.
    /// - Throws: `CompressionError.invalidOption` for a finite value that F16 cannot hold.
    public func rounded(to dtype: MemoryDType) throws -> CompressedMemory {
        guard dtype != .f32 else { return self }
        func round(_ xs: [Float], _ what: String) throws -> [Float] {
            try xs.map { x in
                let r = dtype.round(x)
                guard r.isFinite || !x.isFinite else {
                    throw CompressionError.invalidOption(option: "memory dtype \(dtype.rawValue)", detail: "\(what) holds \(x), beyond its range: use bf16 or f32")
                }
                return r
            }
        }
        var m = self
        m.keys = try keys.enumerated().map { try round($1, "keys of layer \($0)") }
        m.values = try values.enumerated().map { try round($1, "values of layer \($0)") }
        m.embeddings = try round(embeddings, "embeddings")
        return m
    }


    static let format = "sac-compressed-memory"

    /// Writes the memory as a safetensors file, atomically (temporary file, then rename), its
    /// keys, values and embeddings stored as `dtype` (F16 by default: half of F32; the dtype is
    /// recorded in the file, and files of every dtype read back as Float32). Carrier positions
    /// and `[LM]` stay F32.
    /// - Throws: `ModelError.invalidField` for a value that F16 cannot hold.
    public func write(to path: String, dtype: MemoryDType = .f16) throws {
        var t: [String: Tensor] = [:]
        if method.usesKV {
            for l in 0..<keys.count {
                t["keys.\(l)"] = try Tensor(shape: [carriers, kvDim], data: keys[l])
                t["values.\(l)"] = try Tensor(shape: [carriers, kvDim], data: values[l])
            }
        } else {
            t["embeddings"] = try Tensor(shape: [carriers, hidden], data: embeddings)
        }
        t["carrier_positions"] = try Tensor(shape: [carriers], data: carrierPositions.map { Float($0) })
        if let lmToken { t["lm_token"] = try Tensor(shape: [hidden], data: lmToken) }
        let meta: [String: String] = [
            "format": Self.format, "version": "1", "method": method.rawValue, "ratio": "\(ratio)",
            "context_tokens": "\(contextTokens)", "carriers": "\(carriers)", "decoder_start": "\(decoderStart)",
            "layers": "\(keys.count)", "kv_dim": "\(kvDim)", "hidden": "\(hidden)", "model": model, "adapter": adapter,
            "dtype": dtype.rawValue,
        ]
        try SafetensorsWriter.write(
            t, metadata: meta, dtype: dtype.safetensors, dtypes: ["carrier_positions": .F32, "lm_token": .F32], to: path)
    }

    /// Reads a memory written by `write(to:)`; throws `CompressionError.invalidFile` naming
    /// the field that is missing or malformed.
    public init(contentsOf path: String) throws {
        let f: SafetensorsFile
        do { f = try SafetensorsFile(path: path) } catch {
            throw CompressionError.invalidFile(file: path, detail: "not a readable safetensors file (\(error))")
        }
        let m = f.metadata
        func field(_ k: String) throws -> String {
            guard let v = m[k] else { throw CompressionError.invalidFile(file: path, detail: "metadata field \(k) is missing") }
            return v
        }
        func int(_ k: String) throws -> Int {
            guard let v = Int(try field(k)), v >= 0 else {
                throw CompressionError.invalidFile(file: path, detail: "metadata field \(k) is not a non-negative integer")
            }
            return v
        }
        guard m["format"] == Self.format else {
            throw CompressionError.invalidFile(file: path, detail: "not a compressed memory (metadata format \(m["format"] ?? "missing"))")
        }
        guard let method = CompressionMethod(rawValue: try field("method")) else {
            throw CompressionError.invalidFile(file: path, detail: "unknown method \(m["method"]!)")
        }
        self.method = method
        ratio = try int("ratio")
        contextTokens = try int("context_tokens")
        carriers = try int("carriers")
        decoderStart = Int32(try int("decoder_start"))
        kvDim = try int("kv_dim")
        hidden = try int("hidden")
        model = try field("model")
        adapter = try field("adapter")
        let layers = try int("layers")
        if let d = m["dtype"], MemoryDType(rawValue: d) == nil {
            throw CompressionError.invalidFile(file: path, detail: "metadata field dtype is \(d), expected f16, bf16 or f32")
        }
        dtype = m["dtype"].flatMap(MemoryDType.init(rawValue:)) ?? .f32
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            let t: Tensor
            do { t = try f.tensor(name) } catch {
                throw CompressionError.invalidFile(file: path, detail: "tensor \(name): \(error)")
            }
            guard t.shape == shape else {
                throw CompressionError.invalidFile(file: path, detail: "tensor \(name) has shape \(t.shape), expected \(shape)")
            }
            guard t.data.allSatisfy({ $0.isFinite }) else {
                throw CompressionError.invalidFile(file: path, detail: "tensor \(name) holds non-finite values")
            }
            return t.data
        }
        guard carriers > 0 else { throw CompressionError.invalidFile(file: path, detail: "no carriers") }
        let (n, kv, d) = (carriers, kvDim, hidden)
        if method.usesKV {
            keys = try (0..<layers).map { try tensor("keys.\($0)", [n, kv]) }
            values = try (0..<layers).map { try tensor("values.\($0)", [n, kv]) }
            embeddings = []
        } else {
            keys = []; values = []
            embeddings = try tensor("embeddings", [n, d])
        }
        carrierPositions = try tensor("carrier_positions", [n]).map { Int32($0) }
        lmToken = f.tensors["lm_token"] != nil ? try tensor("lm_token", [d]) : nil
    }

    /// A memory from its parts.
    public init(
        method: CompressionMethod, ratio: Int, contextTokens: Int, carriers: Int, decoderStart: Int32,
        carrierPositions: [Int32], keys: [[Float]], values: [[Float]], embeddings: [Float], lmToken: [Float]?,
        model: String, adapter: String, kvDim: Int, hidden: Int
    ) {
        self.method = method; self.ratio = ratio; self.contextTokens = contextTokens; self.carriers = carriers
        self.decoderStart = decoderStart; self.carrierPositions = carrierPositions; self.keys = keys
        self.values = values; self.embeddings = embeddings; self.lmToken = lmToken; self.model = model
        self.adapter = adapter; self.kvDim = kvDim; self.hidden = hidden
    }

    /// Throws `identityMismatch` unless the memory was made by a model with `identity`.
    public func checkModel(_ identity: String, file: String) throws {
        guard model == identity else {
            throw CompressionError.identityMismatch(file: file, field: "model", expected: identity, found: model)
        }
    }
}

/// How a memory file stores its carrier data.
public enum MemoryDType: String, Sendable, CaseIterable, Codable {
    case f16, bf16, f32

    var safetensors: SafetensorsDType {
        switch self {
        case .f16: return .F16
        case .bf16: return .BF16
        case .f32: return .F32
        }
    }

    /// Bytes per stored value.
    public var bytes: Int { self == .f32 ? 4 : 2 }

    /// `x` rounded to this type and back, as the file stores it.
    public func round(_ x: Float) -> Float {
        switch self {
        case .f16: return HalfConversion.f16(Float16(x).bitPattern)
        case .bf16: return HalfConversion.bf16(HalfConversion.bf16Bits(x))
        case .f32: return x
        }
    }
}

/// Short, stable fingerprints of models and adapters (FNV-1a 64 over their values).
public enum Identity {
    /// FNV-1a over the bit patterns of `values`, sampling every `stride`-th element.
    public static func hash(_ values: [Float], stride: Int = 1, into h: inout UInt64) {
        var i = 0
        while i < values.count {
            var x = values[i].bitPattern
            for _ in 0..<4 {
                h ^= UInt64(x & 0xff)
                h = h &* 0x100_0000_01b3
                x >>= 8
            }
            i += stride
        }
    }

    /// "llama-L{layers}-d{hidden}-v{vocab}-{hash}" over the embedding table (sampled), the
    /// final norm and the first layer's norms: equal for the same weights however loaded
    /// (dense or quantised projections).
    public static func model(_ m: LlamaModel) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        hash(m.embedTokens, stride: 61, into: &h)
        hash(m.norm, into: &h)
        hash(m.layers[0].inputLayernorm, into: &h)
        let c = m.config
        return "llama-L\(c.numLayers)-d\(c.hiddenSize)-v\(c.vocabSize)-\(String(h, radix: 16))"
    }
}

/// A KV method's memory is its carriers' keys and values (`KVRows`): the decoder's cache
/// appends them and a training pass reads them as its prefix, where they stand. Methods whose
/// memory is a sequence of embeddings (ICAE) hold no rows.
extension CompressedMemory: KVRows {
    public var layers: Int { keys.count }
    public var count: Int { method.usesKV ? carriers : 0 }

    public func withRows<R>(layer l: Int, _ body: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try keys[l].withUnsafeBufferPointer { k in try values[l].withUnsafeBufferPointer { v in try body(k, v) } }
    }
}

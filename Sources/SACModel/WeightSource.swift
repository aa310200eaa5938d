import Foundation
import SACTensor

/// Raw GGUF block bytes of one quantised matrix, rows in Hugging Face order, for kernels
/// that multiply by quantised weights directly.
///
/// Row `r` occupies `bytes[r * bytesPerRow ..< (r + 1) * bytesPerRow]` and holds `cols`
/// elements as `cols / type.blockSize` blocks. The bytes stay valid while this value lives
/// (it keeps the file mapping, or its own copy, alive).
public struct QuantizedWeight: @unchecked Sendable {
    /// Block format of the rows.
    public let type: GGMLType
    /// Number of rows (output features).
    public let rows: Int
    /// Elements per row (input features); a multiple of `type.blockSize`.
    public let cols: Int
    /// Bytes per row: `cols / type.blockSize * type.typeSize`.
    public let bytesPerRow: Int
    /// All rows, `rows * bytesPerRow` bytes.
    public let bytes: UnsafeRawBufferPointer
    /// Keeps `bytes` alive (a `MappedFile` or an owned buffer).
    let owner: AnyObject

    /// The bytes of row `r`. - Precondition: `0 <= r < rows`.
    public func row(_ r: Int) -> UnsafeRawBufferPointer {
        precondition(r >= 0 && r < rows, "QuantizedWeight.row: \(r) out of 0..<\(rows)")
        return UnsafeRawBufferPointer(rebasing: bytes[r * bytesPerRow..<(r + 1) * bytesPerRow])
    }

    /// The whole matrix dequantised to Float32, shape `[rows, cols]`.
    public func dequantized() throws -> Tensor {
        let data = try Dequantize.toFloats(type, bytes: bytes, count: rows * cols)
        return try Tensor(shape: [rows, cols], data: data)
    }
}

/// An owned, immutable byte buffer (used for row-reordered copies of quantised weights).
final class OwnedBytes: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    init(count: Int) { buffer = .allocate(byteCount: max(1, count), alignment: 64) }
    deinit { buffer.deallocate() }
}

/// A source of model weights by Hugging Face name, in Hugging Face layout.
///
/// Names: "model.embed_tokens.weight", "model.layers.N.self_attn.{q,k,v,o}_proj.weight",
/// "model.layers.N.mlp.{gate,up,down}_proj.weight", "model.layers.N.input_layernorm.weight",
/// "model.layers.N.post_attention_layernorm.weight", "model.norm.weight", and
/// "lm_head.weight" (absent when the embedding is tied). Matrices are `[out, in]`.
public protocol WeightSource: AnyObject, Sendable {
    /// The model's configuration.
    var config: LlamaConfig { get }
    /// The Hugging Face names this source holds.
    var tensorNames: [String] { get }
    /// The tensor `hfName` as Float32 in Hugging Face layout. Throws `ModelError.missingField`
    /// when absent, and other `ModelError`s for unsupported or corrupt data.
    func tensor(_ hfName: String) throws -> Tensor
    /// The raw quantised blocks of `hfName` with rows in Hugging Face order, or nil when the
    /// tensor is stored as floats (or the source is not quantised). Throws `missingField`
    /// when absent.
    func quantized(_ hfName: String) throws -> QuantizedWeight?
}

/// Opens weights at `path`: a `.gguf` file, or a Hugging Face directory (config.json plus
/// model.safetensors or a sharded index). Throws `ModelError`.
public func openWeightSource(path: String) throws -> any WeightSource {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw ModelError.unreadable(file: path, reason: "no such file or directory")
    }
    if isDir.boolValue { return try HFDirectoryWeightSource(directory: path) }
    return try GGUFWeightSource(path: path)
}

// MARK: - GGUF

/// Weights from a GGUF file (llama.cpp names and row order), served under Hugging Face names
/// and layout: q_proj and k_proj rows are un-permuted from llama.cpp's interleaved RoPE order
/// (`gguf = hf.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2).reshape(rows, cols)`,
/// with the KV head count for k).
public final class GGUFWeightSource: WeightSource, @unchecked Sendable {
    /// The parsed file.
    public let file: GGUFFile
    public let config: LlamaConfig

    /// Opens and parses `path` and reads its ``LlamaConfig``.
    public init(path: String) throws {
        file = try GGUFFile(path: path)
        config = try LlamaConfig(gguf: file)
    }

    /// The GGUF name for a Hugging Face name, and the head count for RoPE un-permutation
    /// (nil when the rows need no reordering); nil when the name is not a Llama weight.
    public func ggufName(_ hf: String) -> (name: String, permuteHeads: Int?)? {
        switch hf {
        case "model.embed_tokens.weight": return ("token_embd.weight", nil)
        case "model.norm.weight": return ("output_norm.weight", nil)
        case "lm_head.weight": return ("output.weight", nil)
        default: break
        }
        let parts = hf.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let n = Int(parts[2]), n >= 0,
              String(n) == parts[2], parts.last == "weight" else { return nil }
        let rest = parts[3..<(parts.count - 1)].joined(separator: ".")
        let b = "blk.\(n)."
        switch rest {
        case "self_attn.q_proj": return (b + "attn_q.weight", config.numHeads)
        case "self_attn.k_proj": return (b + "attn_k.weight", config.numKVHeads)
        case "self_attn.v_proj": return (b + "attn_v.weight", nil)
        case "self_attn.o_proj": return (b + "attn_output.weight", nil)
        case "mlp.gate_proj": return (b + "ffn_gate.weight", nil)
        case "mlp.up_proj": return (b + "ffn_up.weight", nil)
        case "mlp.down_proj": return (b + "ffn_down.weight", nil)
        case "input_layernorm": return (b + "attn_norm.weight", nil)
        case "post_attention_layernorm": return (b + "ffn_norm.weight", nil)
        default: return nil
        }
    }

    public var tensorNames: [String] {
        var names = ["model.embed_tokens.weight", "model.norm.weight"]
        if file.tensorInfo("output.weight") != nil { names.append("lm_head.weight") }
        for l in 0..<config.numLayers {
            let p = "model.layers.\(l)."
            for s in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm"] {
                names.append(p + s + ".weight")
            }
        }
        return names.filter { ggufName($0).map { file.tensorInfo($0.name) != nil } ?? false }
    }

    private func lookup(_ hf: String) throws -> (GGUFTensorInfo, Int?) {
        guard let (name, heads) = ggufName(hf), let info = file.tensorInfo(name) else {
            throw ModelError.missingField(file: file.path, field: hf)
        }
        if let heads {
            guard info.dims.count == 2, info.rows % (2 * heads) == 0 else {
                throw ModelError.invalidField(
                    file: file.path, field: info.name, expected: "a matrix with rows divisible by 2 × \(heads) heads",
                    found: "shape \(info.shape)")
            }
        }
        return (info, heads)
    }

    /// Source row (GGUF order) of Hugging Face row `r` for a matrix of `rows` rows and
    /// `heads` heads: HF row `h·hd + j·half + i` is GGUF row `h·hd + 2i + j`.
    @inline(__always)
    static func ggufRow(_ r: Int, rows: Int, heads: Int) -> Int {
        let hd = rows / heads
        let half = hd / 2
        let h = r / hd
        let w = r % hd
        let j = w / half
        let i = w % half
        return h * hd + 2 * i + j
    }

    public func tensor(_ hfName: String) throws -> Tensor {
        let (info, heads) = try lookup(hfName)
        guard let heads else { return try file.tensor(info.name) }
        guard info.type.canDequantize else {
            throw ModelError.unsupported(file: file.path, field: info.name, what: "tensor type \(info.type)")
        }
        let q = reordered(info, heads: heads)
        return try q.dequantized()
    }

    public func quantized(_ hfName: String) throws -> QuantizedWeight? {
        let (info, heads) = try lookup(hfName)
        guard info.type.isQuantized, info.dims.count == 2 else { return nil }
        if let heads { return reordered(info, heads: heads) }
        return QuantizedWeight(
            type: info.type, rows: info.rows, cols: info.cols, bytesPerRow: info.byteCount / max(1, info.rows),
            bytes: file.rawBytes(info), owner: file.mapping)
    }

    /// A copy of a 2-D tensor's rows in Hugging Face order.
    private func reordered(_ info: GGUFTensorInfo, heads: Int) -> QuantizedWeight {
        let rows = info.rows
        let bpr = info.byteCount / max(1, rows)
        let owned = OwnedBytes(count: info.byteCount)
        let src = file.rawBytes(info)
        for r in 0..<rows {
            let s = Self.ggufRow(r, rows: rows, heads: heads)
            (owned.buffer.baseAddress! + r * bpr).copyMemory(from: src.baseAddress! + s * bpr, byteCount: bpr)
        }
        return QuantizedWeight(
            type: info.type, rows: rows, cols: info.cols, bytesPerRow: bpr,
            bytes: UnsafeRawBufferPointer(start: owned.buffer.baseAddress, count: info.byteCount), owner: owned)
    }
}

// MARK: - Hugging Face directory

/// Weights from a Hugging Face model directory: `config.json` and either `model.safetensors`
/// or `model.safetensors.index.json` (its `weight_map` names the shard of every tensor).
/// Shards are memory-mapped; F32, F16 and BF16 tensors are converted to Float32.
public final class HFDirectoryWeightSource: WeightSource, @unchecked Sendable {
    /// The directory.
    public let directory: String
    public let config: LlamaConfig
    /// Shard file of every tensor.
    private let shardOf: [String: SafetensorsFile]

    /// Opens `directory`. Throws `ModelError` for a missing or invalid config.json, index or
    /// shard, and for an index that names a tensor its shard lacks.
    public init(directory: String) throws {
        self.directory = directory
        let dir = URL(fileURLWithPath: directory)
        config = try LlamaConfig(configJSONPath: dir.appendingPathComponent("config.json").path)
        let indexPath = dir.appendingPathComponent("model.safetensors.index.json").path
        var shardOf: [String: SafetensorsFile] = [:]
        if FileManager.default.fileExists(atPath: indexPath) {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: indexPath)) } catch {
                throw ModelError.unreadable(file: indexPath, reason: error.localizedDescription)
            }
            guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ModelError.invalidField(file: indexPath, field: "(root)", expected: "a JSON object", found: "invalid JSON")
            }
            guard let map = obj["weight_map"] as? [String: Any] else {
                throw ModelError.missingField(file: indexPath, field: "weight_map")
            }
            var shards: [String: SafetensorsFile] = [:]
            for (name, v) in map {
                guard let shard = v as? String, !shard.contains("/"), !shard.isEmpty, shard != ".." else {
                    throw ModelError.invalidField(file: indexPath, field: "weight_map.\(name)", expected: "a shard file name", found: "\(v)")
                }
                if shards[shard] == nil {
                    shards[shard] = try SafetensorsFile(path: dir.appendingPathComponent(shard).path)
                }
                guard shards[shard]!.tensors[name] != nil else {
                    throw ModelError.missingField(file: shards[shard]!.path, field: name)
                }
                shardOf[name] = shards[shard]
            }
        } else {
            let f = try SafetensorsFile(path: dir.appendingPathComponent("model.safetensors").path)
            for name in f.tensors.keys { shardOf[name] = f }
        }
        self.shardOf = shardOf
    }

    public var tensorNames: [String] { shardOf.keys.sorted() }

    public func tensor(_ hfName: String) throws -> Tensor {
        guard let f = shardOf[hfName] else { throw ModelError.missingField(file: directory, field: hfName) }
        return try f.tensor(hfName)
    }

    /// Always nil for existing tensors: safetensors weights are stored as floats.
    public func quantized(_ hfName: String) throws -> QuantizedWeight? {
        guard shardOf[hfName] != nil else { throw ModelError.missingField(file: directory, field: hfName) }
        return nil
    }
}

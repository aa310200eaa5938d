import Foundation
import SACModel
import SACTensor

/// `sac_config.json`: what an adapter directory was trained for.
public struct AdapterManifest: Codable, Sendable, Equatable {
    public var format = "sac-adapter"
    public var version = 1
    public var settings: CompressorSettings
    /// `Identity.model` of the base model it was trained on.
    public var modelIdentity: String
    /// A readable name of that model (file name).
    public var modelName: String
    /// `Compressor.adapterIdentity` of the saved values (checked on load).
    public var adapterIdentity: String
}

/// PEFT's `adapter_config.json` (the fields PEFT needs to load the LoRA part).
struct PEFTConfig: Codable {
    var peft_type = "LORA"
    var task_type = "CAUSAL_LM"
    var r: Int
    var lora_alpha: Float
    var target_modules: [String]
    var lora_dropout: Float = 0
    var bias = "none"
    var base_model_name_or_path: String
}

extension Compressor {
    static let weightsFile = "adapter_model.safetensors"
    static let manifestFile = "sac_config.json"
    static let peftFile = "adapter_config.json"

    /// Writes the trainable parameters to `dir` (created if needed): `adapter_model.safetensors`
    /// (LoRA under PEFT names, plus `sac.*` embeddings), `adapter_config.json` (PEFT) and
    /// `sac_config.json`. Each file is written atomically (temporary file, then rename), the
    /// manifest last, and loading checks that the three agree.
    ///
    /// With `dtype` F16 or BF16 the weights file is half the size. The parameters are then first
    /// rounded to that dtype **in place**, so that this compressor, its `adapterIdentity` and a
    /// reload of the files all hold the same values (for exporting a finished adapter, not for
    /// checkpoints in the middle of training).
    public func saveAdapter(to dir: String, modelName: String, dtype: SafetensorsDType = .F32) throws {
        guard settings.method.isTrainable else {
            throw CompressionError.invalidOption(option: "method", detail: "tokens has no adapter to save")
        }
        switch dtype {
        case .F32: break
        case .F16, .BF16:
            // Every value is rounded before any is assigned, so that a value out of range leaves
            // the compressor as it was.
            let params = parameters
            var rounded: [Tensor] = []
            for p in params {
                let r = p.value.data.map(dtype.rounded)
                if let i = r.firstIndex(where: { !$0.isFinite }) {
                    throw CompressionError.invalidOption(
                        option: "dtype", detail: "\(dtype): \(p.name) holds \(p.value.data[i]), beyond \(dtype)'s range")
                }
                rounded.append(try Tensor(shape: p.shape, data: r))
            }
            for (p, r) in zip(params, rounded) { try p.assign(r) }
        default:
            throw CompressionError.invalidOption(option: "dtype", detail: "\(dtype): adapters are written as F32, F16 or BF16")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:]
        for p in parameters { tensors[p.name] = p.value }
        let identity = adapterIdentity
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt", "sac_adapter": identity], dtype: dtype,
                                    to: dir + "/" + Self.weightsFile)
        if let l = settings.lora {
            let peft = PEFTConfig(r: l.rank, lora_alpha: l.alpha, target_modules: l.targets.map(\.rawValue),
                                  base_model_name_or_path: modelName)
            try AtomicFile.write(JSONEncoder.sorted.encode(peft), to: dir + "/" + Self.peftFile)
        }
        let manifest = AdapterManifest(settings: settings, modelIdentity: modelIdentity, modelName: modelName,
                                       adapterIdentity: identity)
        try AtomicFile.write(JSONEncoder.sorted.encode(manifest), to: dir + "/" + Self.manifestFile)
    }

    /// Reads an adapter directory's manifest. Throws `CompressionError.invalidFile`.
    public static func readManifest(_ dir: String) throws -> AdapterManifest {
        let path = dir + "/" + manifestFile
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CompressionError.invalidFile(file: path, detail: "missing: is \(dir) an adapter directory (written by `sac train`)?")
        }
        do {
            let m = try JSONDecoder().decode(AdapterManifest.self, from: data)
            guard m.format == "sac-adapter" else {
                throw CompressionError.invalidFile(file: path, detail: "format \(m.format), expected sac-adapter")
            }
            return m
        } catch let e as CompressionError {
            throw e
        } catch {
            throw CompressionError.invalidFile(file: path, detail: "not a valid manifest (\(error))")
        }
    }

    /// Loads the compressor saved in `dir` onto `model`.
    ///
    /// - Throws: `CompressionError.identityMismatch` when the adapter was trained on another
    ///   model, or when the weights do not match the manifest (a mixed or corrupted
    ///   directory); `invalidFile` for missing, extra or misshapen tensors.
    public static func load(adapter dir: String, model: LlamaModel) throws -> Compressor {
        let manifest = try readManifest(dir)
        let compressor = try Compressor(model: model, settings: manifest.settings)
        guard manifest.modelIdentity == compressor.modelIdentity else {
            throw CompressionError.identityMismatch(
                file: dir, field: "model (the adapter was trained on \(manifest.modelName))",
                expected: manifest.modelIdentity, found: compressor.modelIdentity)
        }
        try compressor.loadParameters(from: dir + "/" + weightsFile)
        let identity = compressor.adapterIdentity
        guard identity == manifest.adapterIdentity else {
            throw CompressionError.identityMismatch(
                file: dir, field: "adapter weights (\(weightsFile) vs \(manifestFile))",
                expected: manifest.adapterIdentity, found: identity)
        }
        return compressor
    }

    /// Assigns every trainable parameter from a safetensors file (exact names and shapes).
    public func loadParameters(from path: String) throws {
        let f: SafetensorsFile
        do { f = try SafetensorsFile(path: path) } catch {
            throw CompressionError.invalidFile(file: path, detail: "not a readable safetensors file (\(error))")
        }
        let expected = Set(parameters.map(\.name))
        if let extra = f.tensorNames.first(where: { !expected.contains($0) }) {
            throw CompressionError.invalidFile(file: path, detail: "unexpected tensor \(extra) for these settings")
        }
        for p in parameters {
            guard f.tensors[p.name] != nil else {
                throw CompressionError.invalidFile(file: path, detail: "tensor \(p.name) is missing")
            }
            let t = try f.tensor(p.name)
            guard t.shape == p.shape else {
                throw CompressionError.invalidFile(file: path, detail: "tensor \(p.name) has shape \(t.shape), expected \(p.shape)")
            }
            guard t.data.allSatisfy({ $0.isFinite }) else {
                throw CompressionError.invalidFile(file: path, detail: "tensor \(p.name) holds non-finite values")
            }
            try p.assign(t)
        }
    }
}

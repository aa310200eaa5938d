import ArgumentParser
import Foundation
import SACModel

/// `--model PATH`, shared by every command that runs the LLM.
struct ModelOptions: ParsableArguments {
    @Option(help: "A GGUF file or a Hugging Face directory (default: SmolLM2-135M-Instruct in $SAC_HOME/models).")
    var model: String?

    @Option(help: ArgumentHelp(
        "Decoding's products with quantised weights: f32 (exact, logits within 1e-4 of the Float32 reference) or q8 (activations rounded to 8 bits per block of 32, as llama.cpp does; faster).",
        valueName: "f32|q8"))
    var decodeActivations: DecodeActivations = .f32

    /// Loads the model and its tokenizer, printing what it loads on stderr.
    func load(quiet: Bool = false, dequantize: Bool = false) throws -> LoadedModel {
        let start = Date()
        if !quiet { stderr("loading \(model ?? ModelLoader.defaultModelFile)…") }
        var loaded: LoadedModel
        do { loaded = try ModelLoader.load(path: model, dequantize: dequantize) } catch let ModelError.unreadable(file, reason)
            where model == nil {
            throw ModelError.unreadable(file: file, reason: reason + " (--model PATH)")
        }
        if decodeActivations != .f32 { loaded = loaded.with(decodeActivations: decodeActivations) }
        if !quiet {
            stderr("loaded \(loaded.name) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        }
        return loaded
    }
}

extension DecodeActivations: ExpressibleByArgument {}

/// Writes a line to standard error.
func stderr(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes text to standard output immediately (for streaming).
func stdoutWrite(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

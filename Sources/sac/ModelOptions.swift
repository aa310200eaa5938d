import ArgumentParser
import Foundation
import SACModel

/// `--model PATH`, shared by every command that runs the LLM.
struct ModelOptions: ParsableArguments {
    @Option(help: "A GGUF file or a Hugging Face directory (default: SmolLM2-135M-Instruct in $SAC_HOME/models).")
    var model: String?

    /// Loads the model and its tokenizer, printing what it loads on stderr.
    func load(quiet: Bool = false, dequantize: Bool = false) throws -> LoadedModel {
        let start = Date()
        if !quiet { stderr("loading \(model ?? ModelLoader.defaultModelFile)…") }
        let loaded: LoadedModel
        do { loaded = try ModelLoader.load(path: model, dequantize: dequantize) } catch let ModelError.unreadable(file, reason)
            where model == nil {
            throw ModelError.unreadable(file: file, reason: reason + " (--model PATH)")
        }
        if !quiet {
            stderr("loaded \(loaded.name) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        }
        return loaded
    }
}

/// Writes a line to standard error.
func stderr(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes text to standard output immediately (for streaming).
func stdoutWrite(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

import ArgumentParser
import Foundation
import SACCompression

struct InitAdapter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-adapter",
        abstract: "Write an untrained compressor (fresh LoRA and embeddings) to a directory.",
        discussion: "Its answers are meaningless, but it compresses and answers exactly as fast as a trained one of the same settings: for trying the service and benchmarking latency. Train one with `sac train`.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var methodOptions: MethodOptions
    @Option(help: "Directory to write.") var out: String

    func run() throws {
        let loaded = try modelOptions.load()
        let settings = try methodOptions.settings()
        let c = try Compressor(model: loaded.model, settings: settings, seed: methodOptions.seed ?? 0)
        try c.saveAdapter(to: out, modelName: loaded.name)
        stderr("untrained \(settings.method.rawValue) \(settings.ratio)x adapter \(c.adapterIdentity) written to \(out)")
    }
}

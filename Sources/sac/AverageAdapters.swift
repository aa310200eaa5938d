import ArgumentParser
import Foundation
import SACCompression
import SACModel

struct AverageAdapters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "average-adapters",
        abstract: "Average the weights of several adapters of one training run into one adapter.",
        discussion: "Every trainable tensor becomes the mean of the adapters' (latest weight averaging). Meant for checkpoints or snapshots of one run, e.g. `training/campaign/save.sh` with SNAPSHOTS=DIR; all adapters need the same model and settings. The result has its own identity.")

    @OptionGroup var modelOptions: ModelOptions
    @Argument(help: "Adapter directories to average (at least one).") var adapters: [String]
    @Option(help: "Storage type of the weights: f16, bf16 or f32.") var dtype: String = "f16"
    @Option(help: "Directory to write (may not be one of the adapters).") var out: String

    func run() throws {
        let t = try adapterWeightsDType(dtype)
        guard !adapters.isEmpty else { throw ValidationError("give at least one adapter directory") }
        let to = URL(fileURLWithPath: out).standardizedFileURL.path
        guard !adapters.contains(where: { URL(fileURLWithPath: $0).standardizedFileURL.path == to }) else {
            throw ValidationError("--out must differ from every adapter")
        }
        let loaded = try modelOptions.load()
        let c = try Compressor.average(adapters: adapters, model: loaded.model)
        try c.saveAdapter(to: out, modelName: loaded.name, dtype: t)
        stderr("average of \(adapters.count) adapters → \(c.adapterIdentity) (\(t)), \(out)")
    }
}

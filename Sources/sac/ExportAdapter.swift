import ArgumentParser
import Foundation
import SACCompression
import SACModel
import SACTraining

struct ExportAdapter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-adapter",
        abstract: "Write a trained compressor again, with its weights stored as F16, BF16 or F32.",
        discussion: "F16 halves the weights file (what the shipped adapter uses to fit a higher LoRA rank in its size budget). The values are rounded once, to nearest; the exported adapter has its own identity, so memories made with the original must be made again.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "The adapter directory to read (written by `sac train`).") var adapter: String
    @Option(help: "Storage type of the weights: f16, bf16 or f32.") var dtype: String = "f16"
    @Option(help: "Directory to write (may not be --adapter).") var out: String
    @Flag(help: "--adapter is a training run (`sac train --out`): write its newest checkpoint compactly (weights F16, optimiser moments BF16, with the log and best/) as a run directory that `sac train --resume --out` continues from.")
    var checkpoint = false
    @Flag(inversion: .prefixedNo, help: "With --checkpoint: include the optimiser's moments (twice the weights' size). Without them the copy is a third of the size and its resume starts AdamW afresh, the learning rate re-warmed over max(20, --warmup) updates.")
    var moments = true

    func run() throws {
        let t = try adapterWeightsDType(dtype)
        let from = URL(fileURLWithPath: adapter).standardizedFileURL.path
        let to = URL(fileURLWithPath: out).standardizedFileURL.path
        guard from != to else { throw ValidationError("--out must differ from --adapter") }
        if !moments && !checkpoint { throw ValidationError("--no-moments applies to --checkpoint only") }
        let loaded = try modelOptions.load()
        if checkpoint {
            try Checkpoint.exportCompact(out: adapter, to: out, model: loaded.model, moments: moments)
            stderr("\(out): compact checkpoint \(Checkpoint.latest(out: out) ?? "?")")
            return
        }
        let c = try Compressor.load(adapter: adapter, model: loaded.model)
        let before = c.adapterIdentity
        try c.saveAdapter(to: out, modelName: loaded.name, dtype: t)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: out + "/adapter_model.safetensors")[.size] as? Int) ?? 0
        stderr("\(before) → \(c.adapterIdentity) (\(t)), \(out)/adapter_model.safetensors: \(bytes) bytes")
    }
}

/// The `--dtype` of an adapter's weights file (`export-adapter`, `average-adapters`).
func adapterWeightsDType(_ name: String) throws -> SafetensorsDType {
    let types: [String: SafetensorsDType] = ["f16": .F16, "bf16": .BF16, "f32": .F32]
    guard let t = types[name.lowercased()] else { throw ValidationError("--dtype \(name): expected f16, bf16 or f32") }
    return t
}

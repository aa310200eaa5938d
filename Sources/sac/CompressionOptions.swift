import ArgumentParser
import Foundation
import SACCompression
import SACModel

extension CompressionMethod: ExpressibleByArgument {}
extension AnchorSelection: ExpressibleByArgument {}
extension AnchorEmbeddingMode: ExpressibleByArgument {}
extension EncoderAttention: ExpressibleByArgument {}

/// Options that choose a compression method (for training a new compressor, or for the
/// training-free `tokens` baseline). Options that do not apply to the method are rejected.
struct MethodOptions: ParsableArguments {
    @Option(help: "Compression method: sac (default), epl, 500x, icae, full, tokens.")
    var method: CompressionMethod?

    @Option(help: "Compression ratio r (integer ≥ 2; not for --method full; --method tokens takes 1: the frozen model reading the whole context).")
    var ratio: Int?

    @Option(help: "Tokens per encoder chunk (default 510).")
    var chunkSize: Int?

    @Option(help: "SAC/tokens anchor selection: uniform (default) or random.")
    var anchors: AnchorSelection?

    @Option(help: "SAC anchor embedding: slot (default), shared or none.")
    var anchorEmbedding: AnchorEmbeddingMode?

    @Option(help: "SAC encoder attention within a chunk: bidirectional (default) or causal.")
    var attention: EncoderAttention?

    @Option(help: "LoRA rank (default 128).")
    var loraRank: Int?

    @Option(help: "LoRA alpha (default 256).")
    var loraAlpha: Float?

    @Option(help: "Comma-separated LoRA target modules (default q_proj,v_proj).")
    var loraTargets: String?

    @Flag(help: "Memory tokens per chunk ⌈L/r⌉ instead of ⌊chunk size/r⌋ (epl, 500x, icae).")
    var memoryPerChunkLength = false

    @Option(help: "Longest context accepted, in tokens (default 32768).")
    var maxContextTokens: Int?

    @Option(help: "Seed for initialisation, random anchors and (sac train) the data order.")
    var seed: UInt64?

    /// The validated settings.
    func settings() throws -> CompressorSettings {
        var lora: LoRAConfig?
        if loraRank != nil || loraAlpha != nil || loraTargets != nil {
            var targets: [LoRATarget] = [.qProj, .vProj]
            if let loraTargets {
                targets = try loraTargets.split(separator: ",").map {
                    let name = $0.trimmingCharacters(in: .whitespaces)
                    guard let t = LoRATarget(rawValue: name) else {
                        throw ValidationError("--lora-targets: unknown module \(name); expected some of \(LoRATarget.allCases.map(\.rawValue).joined(separator: ","))")
                    }
                    return t
                }
            }
            let rank = loraRank ?? 128
            lora = LoRAConfig(rank: rank, alpha: loraAlpha ?? Float(2 * rank), targets: targets)
        }
        return try CompressorSettings.from(
            method: method ?? .sac, ratio: ratio, chunkSize: chunkSize, anchors: anchors, anchorEmbedding: anchorEmbedding,
            attention: attention, lora: lora, memoryPerChunkLength: memoryPerChunkLength ? true : nil,
            maxContextTokens: maxContextTokens, seed: seed)
    }
}

/// `--adapter DIR`, defaulting to the shipped adapter.
struct AdapterOptions: ParsableArguments {
    @Option(help: "A trained compressor (directory written by `sac train`; default: the shipped adapters/sac-smollm2-5x).")
    var adapter: String?

    static let shippedName = "adapters/sac-smollm2-5x"

    /// The adapter directory: --adapter, else $SAC_ADAPTER, else the shipped one next to the
    /// repository that built this executable, else ./adapters/sac-smollm2-5x.
    func resolve() throws -> String {
        if let adapter { return adapter }
        if let shipped = Self.shipped() { return shipped }
        throw ValidationError(
            "no --adapter given and the shipped adapter \(Self.shippedName) was not found; "
                + "pass --adapter DIR (a directory written by `sac train`), or --method tokens for the training-free baseline")
    }

    /// $SAC_ADAPTER, else the shipped adapter next to the repository that built this
    /// executable, else ./adapters/sac-smollm2-5x; nil when none of them exists.
    static func shipped() -> String? {
        if let env = ProcessInfo.processInfo.environment["SAC_ADAPTER"], !env.isEmpty { return env }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            exe.deletingLastPathComponent().appendingPathComponent("../../../\(shippedName)").standardized.path,
            FileManager.default.currentDirectoryPath + "/" + shippedName,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/sac_config.json") }
    }

    /// Loads the compressor onto `model`.
    func load(model: LlamaModel) throws -> Compressor {
        try Compressor.load(adapter: resolve(), model: model)
    }
}

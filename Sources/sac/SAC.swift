import ArgumentParser
import SACTensor

@main
struct SAC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sac",
        abstract: "Semantic-Anchor Compression: compress long contexts into a few key-value pairs and answer from them.",
        subcommands: [Demo.self, Train.self, Compress.self, Answer.self, Eval.self, Tokenize.self, Generate.self, Bench.self,
                      Serve.self, StoreCommand.self, InitAdapter.self, ExportAdapter.self, AverageAdapters.self, KVSimilarityCommand.self])

    /// ArgumentParser's entry point, after telling the allocator to keep large freed blocks
    /// (`AllocatorTuning.keepFreedMemory()`: no page faults on the arrays a training step or a
    /// compression allocates again and again).
    static func main() async {
        AllocatorTuning.keepFreedMemory()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: SettingFlags.translate(error))
        }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (build with -c release).",
        subcommands: [BenchGEMM.self, BenchQuant.self, BenchModel.self, BenchTrain.self])
}

import ArgumentParser

@main
struct SAC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sac",
        abstract: "Semantic-Anchor Compression: compress long contexts into a few key-value pairs and answer from them.",
        subcommands: [Demo.self, Train.self, Compress.self, Answer.self, Eval.self, Tokenize.self, Generate.self, Bench.self,
                      Serve.self, StoreCommand.self, InitAdapter.self, ExportAdapter.self])
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (build with -c release).",
        subcommands: [BenchGEMM.self, BenchQuant.self, BenchModel.self, BenchTrain.self])
}

import ArgumentParser
import Foundation
import SACCompression
import SACData
import SACEvaluation
import SACModel

/// `sac kv-similarity`: how close a compressor's memory K/V are to the context's own.
struct KVSimilarityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv-similarity",
        abstract: "Per layer, the cosine similarity of a memory's keys and values to the frozen model's keys and values of the context at the same positions.",
        discussion: """
            Compresses the first --contexts contexts of a QA file, reads each whole with the frozen \
            model (token i at position i + 1, as the encoder numbers them) and compares every carrier \
            with the context token at its position, layer by layer. Prints a table; --json writes \
            {"keys": [...], "values": [...], "carriers", "contexts"}. Methods with K/V carriers only \
            (not icae; 500x numbers its carriers' positions per chunk, so they rarely match).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var adapterOptions: AdapterOptions
    @Option(help: "A QA file (MRQA, SQuAD or QMSum).") var data: String
    @Option(help: "Method; must match the adapter's (tokens: the training-free baseline).") var method: CompressionMethod?
    @Option(help: "Ratio for --method tokens.") var ratio: Int?
    @Option(help: "Distinct contexts to measure.") var contexts = 50
    @Option(help: "Write the result as JSON to this file.") var json: String?

    func validate() throws {
        if contexts < 1 { throw ValidationError("--contexts must be at least 1") }
    }

    func run() throws {
        let set = try DataFile.readQA(url: URL(fileURLWithPath: data))
        guard !set.examples.isEmpty else { throw ValidationError("\(data) holds no usable question") }
        let loaded = try modelOptions.load()
        let compressor = try makeCompressor(method: method, ratio: ratio, adapter: adapterOptions, model: loaded.model)
        let prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: loaded.model.config)
        var acc = KVSimilarity.Accumulator(layers: loaded.model.config.numLayers)
        let groups = set.contexts.prefix(contexts)
        for (i, g) in groups.enumerated() {
            let ids = prompt.context(g.context)
            try acc.add(memory: compressor.compress(ids), ids: ids, model: loaded.model)
            if (i + 1) % 10 == 0 || i + 1 == groups.count { stderr("\(i + 1)/\(groups.count) contexts") }
        }
        let r = acc.result
        let s = compressor.settings
        print("\(s.method.rawValue) \(s.ratio)x on \(set.name): \(r.contexts) contexts, \(r.carriers) carriers"
              + (r.outside > 0 ? " (\(r.outside) past the context's end left out)" : ""))
        print("| layer | keys cos | values cos |\n|---:|---:|---:|")
        for l in r.keys.indices { print(String(format: "| %d | %.4f | %.4f |", l, r.keys[l], r.values[l])) }
        print(String(format: "| mean | %.4f | %.4f |", r.keys.reduce(0, +) / Double(r.keys.count), r.values.reduce(0, +) / Double(r.values.count)))
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(enc.encode(r), to: json)
        }
    }
}

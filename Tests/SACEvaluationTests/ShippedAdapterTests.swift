import Foundation
import SACCompression
import SACModel
import Testing

/// The adapter committed at `adapters/sac-smollm2-5x` stays loadable and usable with the
/// default model, stays under 5 MB, and refuses another model with an identity error.
@Suite struct ShippedAdapterTests {
    /// The repository root (two folders above this file's folder).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let adapter = root.appendingPathComponent("adapters/sac-smollm2-5x").path

    @Test func isCommittedAndSmall() throws {
        let fm = FileManager.default
        for f in ["adapter_model.safetensors", "adapter_config.json", "sac_config.json", "README.md"] {
            #expect(fm.fileExists(atPath: Self.adapter + "/" + f), "missing \(f) in \(Self.adapter)")
        }
        let size = try fm.attributesOfItem(atPath: Self.adapter + "/adapter_model.safetensors")[.size] as? Int ?? .max
        #expect(size < 5_000_000, "adapter file is \(size) bytes")
        let manifest = try Compressor.readManifest(Self.adapter)
        #expect(manifest.settings.method == .sac && manifest.settings.ratio == 5)
    }

    @Test func compressesAndAnswersWithTheDefaultModel() throws {
        guard let m = try EvaluatorTests.loaded() else { return }
        let compressor = try Compressor.load(adapter: Self.adapter, model: m.model)
        let prompt = try QAPrompt(tokenizer: m.tokenizer, config: m.model.config)
        let text = try String(contentsOf: Self.root.appendingPathComponent("examples/lincoln-second-inaugural.txt"), encoding: .utf8)
        let context = prompt.context(text)
        let memory = try compressor.compress(context)
        #expect(memory.method == .sac && memory.contextTokens == context.count)
        #expect(memory.achievedRatio > 4.5 && memory.achievedRatio < 5.5)
        let answer = try MemoryDecoder(model: m.model).answer(
            memory: memory, question: prompt.question("Where were the slaves localized?"), maxTokens: 8,
            stopTokens: [prompt.eos])
        #expect(!answer.ids.isEmpty)
    }

    @Test func refusesAnotherModel() throws {
        let config = try LlamaConfig(
            vocabSize: 64, hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4, numKVHeads: 2,
            rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 4096, tieWordEmbeddings: true,
            bosTokenId: 1, eosTokenId: 2)
        let other = try LlamaModel(weights: InMemoryWeightSource(randomWith: config, seed: 3), file: "other")
        do {
            _ = try Compressor.load(adapter: Self.adapter, model: other)
            Issue.record("the shipped adapter loaded onto another model")
        } catch let CompressionError.identityMismatch(file, field, _, _) {
            #expect(file == Self.adapter && field.hasPrefix("model"))
        }
    }
}

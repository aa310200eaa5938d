import SACCompression
import SACModel
import SACTensor

/// A tiny random Llama (2 layers, d = 64, GQA 4/2 heads) built in memory.
enum Tiny {
    static func model(seed: UInt64 = 7, vocab: Int = 41) throws -> LlamaModel {
        let config = try LlamaConfig(
            vocabSize: vocab, hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4, numKVHeads: 2,
            rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 8192, tieWordEmbeddings: true,
            bosTokenId: 1, eosTokenId: 2)
        return try LlamaModel(weights: InMemoryWeightSource(randomWith: config, seed: seed, std: 0.15), file: "tiny")
    }

    static func ids(_ n: Int, seed: UInt64, vocab: Int = 41) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        return [1] + (1..<n).map { _ in Int32(3 + rng.next() % UInt64(vocab - 3)) }
    }

    /// Makes every LoRA B non-zero so that all adapter gradients are informative.
    static func perturbLoRA(_ c: Compressor, seed: UInt64 = 17) throws {
        var rng = SplitMix64(seed: seed)
        for p in c.lora?.parameters ?? [] where p.name.contains("lora_B") {
            try p.assign(Tensor(randomNormal: p.shape, std: 0.05, using: &rng))
        }
    }
}

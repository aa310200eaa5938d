import Foundation
import SACCompression
import SACModel
import Testing

@testable import SACEvaluation

/// The K/V-similarity analysis on a tiny random model: `full` with an untrained adapter (LoRA
/// B = 0) keeps the frozen model's own keys and values, so every similarity is 1; SAC's
/// anchors, marked and read bidirectionally, move away from them; ICAE has no K/V.
@Suite struct KVSimilarityTests {
    static func model() throws -> LlamaModel {
        let config = try LlamaConfig(
            vocabSize: 64, hiddenSize: 32, intermediateSize: 48, numLayers: 3, numHeads: 4, numKVHeads: 2,
            rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 4096, tieWordEmbeddings: true,
            bosTokenId: 1, eosTokenId: 2)
        return try LlamaModel(weights: InMemoryWeightSource(randomWith: config, seed: 11, std: 0.1, embeddingStd: 0.3), file: "tiny")
    }

    static func ids(_ n: Int) -> [Int32] {
        var g = SystemRandomNumberGenerator()
        return [1] + (1..<n).map { _ in Int32.random(in: 3..<64, using: &g) }
    }

    @Test func fullIsOneAndSACIsBelow() throws {
        let m = try Self.model()
        let ids = Self.ids(700)  // two chunks for SAC
        let full = try Compressor(model: m, settings: CompressorSettings(method: .full, ratio: 1, lora: LoRAConfig(rank: 4, alpha: 8)))
        var a = KVSimilarity.Accumulator(layers: 3)
        try a.add(memory: full.compress(ids), ids: ids, model: m)
        let r = a.result
        #expect(r.carriers == 700 && r.contexts == 1 && r.keys.count == 3)
        // Tolerance 1e-5: float32 products of the same rows in another grouping.
        for x in r.keys + r.values { #expect(abs(x - 1) < 1e-5, "\(r)") }

        let sac = try Compressor(model: m, settings: CompressorSettings(method: .sac, ratio: 5, lora: LoRAConfig(rank: 4, alpha: 8)), seed: 3)
        var b = KVSimilarity.Accumulator(layers: 3)
        let mem = try sac.compress(ids)
        try b.add(memory: mem, ids: ids, model: m)
        try b.add(memory: mem, ids: ids, model: m)
        let s = b.result
        #expect(s.carriers == 2 * mem.carriers && s.contexts == 2)
        #expect(s.keys.allSatisfy { $0 < 0.9999 && $0 > -1 } && s.values.allSatisfy { $0 < 0.9999 && $0 > -1 }, "\(s)")
    }

    @Test func refusesWhatCannotBeCompared() throws {
        let m = try Self.model()
        let ids = Self.ids(40)
        let icae = try Compressor(model: m, settings: CompressorSettings(method: .icae, ratio: 4, lora: LoRAConfig(rank: 4, alpha: 8)))
        var a = KVSimilarity.Accumulator(layers: 3)
        #expect(throws: KVSimilarity.Failure.notKV(method: "icae")) { try a.add(memory: icae.compress(ids), ids: ids, model: m) }
        let sac = try Compressor(model: m, settings: CompressorSettings(method: .sac, ratio: 5, lora: LoRAConfig(rank: 4, alpha: 8)))
        var mem = try sac.compress(ids)
        var none = mem
        none.carrierPositions = none.carrierPositions.map { _ in 41 }
        #expect(throws: KVSimilarity.Failure.positionOutsideContext(position: 41, contextTokens: 40)) { try a.add(memory: none, ids: ids, model: m) }
        var below = mem
        below.carrierPositions[0] = 0
        #expect(throws: KVSimilarity.Failure.positionOutsideContext(position: 0, contextTokens: 40)) { try a.add(memory: below, ids: ids, model: m) }
        #expect(a.result.contexts == 0)
        // A carrier past the end (EPL's last slot of a short chunk) is left out and counted;
        // the others are compared exactly as without it.
        var past = mem
        past.carrierPositions[past.carriers - 1] = 41
        try a.add(memory: past, ids: ids, model: m)
        var ref = KVSimilarity.Accumulator(layers: m.config.numLayers)
        var cut = mem
        cut.carrierPositions.removeLast()
        for l in 0..<m.config.numLayers {
            cut.keys[l].removeLast(m.config.kvDim)
            cut.values[l].removeLast(m.config.kvDim)
        }
        try ref.add(memory: cut, ids: ids, model: m)
        #expect(a.result.outside == 1 && a.result.carriers == mem.carriers - 1 && a.result.contexts == 1)
        #expect(a.result.keys == ref.result.keys && a.result.values == ref.result.values)
    }

    @Test func cosineInFloat64() {
        #expect(KVSimilarity.cosine([1, 0, 3, 4], 2, [0, 3, 4], 1, 2) == 1)
        #expect(abs(KVSimilarity.cosine([1, 0], 0, [0, 1], 0, 2)) < 1e-12)
        #expect(KVSimilarity.cosine([0, 0], 0, [1, 1], 0, 2) == 0)
        #expect(abs(KVSimilarity.cosine([1, 1], 0, [-1, -1], 0, 2) + 1) < 1e-12)
    }
}

import SACCompression
import SACModel
import SACTensor
import Testing

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

    /// Central differences (h = 1e-2, Float32 forward) of `loss` on `perParam` random
    /// coordinates of every parameter of `comp` but the `[AE]` token, against the analytic
    /// gradients already accumulated in `p.grad`: each relative error (floor 0.05) under 3 %,
    /// more than 10 coordinates checked; parameters that `silent` names must have a zero
    /// gradient and a zero difference quotient.
    static func checkGradients(
        _ comp: Compressor, perParam: Int = 3, seed: UInt64 = 21, label: String = "", silent: (String) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation, loss: () throws -> Double
    ) throws {
        var rng = SplitMix64(seed: seed)
        let h: Float = 1e-2
        var worst = 0.0, checked = 0
        for p in comp.parameters where p.name != "sac.ae_token" {
            for _ in 0..<perParam {
                let i = Int(rng.next() % UInt64(p.count))
                let analytic = Double(p.grad.data[i])
                var v = p.value
                let v0 = v.data[i]
                v.data[i] = v0 + h; try p.assign(v)
                let lp = try loss()
                v.data[i] = v0 - h; try p.assign(v)
                let lm = try loss()
                v.data[i] = v0; try p.assign(v)
                let fd = (lp - lm) / Double(2 * h)
                if silent(p.name) { #expect(analytic == 0 && abs(fd) < 1e-4, "\(p.name)", sourceLocation: sourceLocation); continue }
                let err = abs(analytic - fd) / max(0.05, abs(fd))
                worst = max(worst, err)
                checked += 1
                #expect(err < 3e-2, "\(label)\(p.name)[\(i)]: analytic \(analytic), finite difference \(fd)", sourceLocation: sourceLocation)
            }
        }
        #expect(checked > 10, sourceLocation: sourceLocation)
        #expect(worst < 3e-2, sourceLocation: sourceLocation)
    }
}

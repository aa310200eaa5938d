import Foundation
import SACTensor
import Testing

@testable import SACModel

/// The differentiable pass: forward equals inference; every gradient (input embeddings,
/// prefix keys/values, LoRA A and B) matches central finite differences of the Float32 loss.
@Suite struct LlamaPassTests {
    static func tinyModel(seed: UInt64 = 7, tied: Bool = false) throws -> LlamaModel {
        let config = try LlamaConfig(
            vocabSize: 37, hiddenSize: 32, intermediateSize: 44, numLayers: 2, numHeads: 4, numKVHeads: 2,
            rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 512, tieWordEmbeddings: tied)
        return try LlamaModel(weights: InMemoryWeightSource(randomWith: config, seed: seed), file: "tiny")
    }

    static func randomLoRA(_ model: LlamaModel, targets: [LoRATarget]) throws -> LlamaLoRA {
        let lora = try LlamaLoRA(config: LoRAConfig(rank: 3, alpha: 6, targets: targets), model: model.config, seed: 3)
        var rng = SplitMix64(seed: 11)
        for p in lora.parameters where p.name.contains("lora_B") {
            try p.assign(Tensor(randomNormal: p.shape, std: 0.2, using: &rng))
        }
        return lora
    }

    @Test func forwardMatchesInference() throws {
        let model = try Self.tinyModel()
        let ids: [Int32] = [1, 5, 9, 33, 2, 17, 4]
        var ref: [Float] = []
        _ = try model.forward(ids, cache: model.makeCache(), logits: .none) { i, h in
            if i == model.config.numLayers + 1 { ref = Array(h) }
        }
        let pass = LlamaPass(model: model)
        try pass.forward(embeddings: model.embed(ids), positions: (0..<7).map { Int32($0) }, mask: .causal(prefix: 0))
        // One layer function serves both: the same bits.
        #expect(pass.hidden == ref)
        // The inference cache holds the same keys.
        let cache = model.makeCache()
        _ = try model.forward(ids, cache: cache, logits: .none)
        #expect(cache.layer(1).keys == pass.keys(layer: 1))
    }

    /// A loss that touches everything: cross-entropy on some rows plus random linear
    /// functionals of every layer's keys and values.
    struct Setup {
        var model: LlamaModel
        var lora: LlamaLoRA?
        var x: [Float]
        var positions: [Int32]
        var mask: AttentionMask
        var prefix: PrefixKV?
        var rows: [Int]
        var targets: [Int32]
        var wk: [[Float]]
        var wv: [[Float]]
        var keysOnly: Bool

        func loss(_ pass: LlamaPass) throws -> Double {
            try pass.forward(embeddings: x, positions: positions, mask: mask, prefix: prefix, lora: lora, keysOnly: keysOnly)
            var total = 0.0
            if !keysOnly { total += try pass.crossEntropy(rows: rows, targets: targets, gradScale: 1).lossSum }
            for l in 0..<model.config.numLayers {
                let k = pass.keys(layer: l), v = pass.values(layer: l)
                for i in 0..<k.count { total += Double(wk[l][i] * k[i]) + Double(wv[l][i] * v[i]) }
            }
            return total
        }
    }

    static func makeSetup(mask: AttentionMask, prefixRows: Int, keysOnly: Bool, targets: [LoRATarget]) throws -> Setup {
        let model = try tinyModel()
        var rng = SplitMix64(seed: 99)
        let c = model.config, T = 6, d = c.hiddenSize, kv = c.numKVHeads * c.headDim
        let x = Tensor(randomNormal: [T, d], std: 1, using: &rng).data
        var prefix: PrefixKV?
        if prefixRows > 0 {
            prefix = PrefixKV(
                keys: (0..<c.numLayers).map { _ in Tensor(randomNormal: [prefixRows, kv], std: 1, using: &rng).data },
                values: (0..<c.numLayers).map { _ in Tensor(randomNormal: [prefixRows, kv], std: 1, using: &rng).data },
                count: prefixRows)
        }
        let wk = (0..<c.numLayers).map { _ in Tensor(randomNormal: [T, kv], std: 0.3, using: &rng).data }
        let wv = (0..<c.numLayers).map { _ in Tensor(randomNormal: [T, kv], std: 0.3, using: &rng).data }
        return Setup(
            model: model, lora: targets.isEmpty ? nil : try randomLoRA(model, targets: targets), x: x,
            positions: [3, 4, 5, 9, 10, 11], mask: mask, prefix: prefix, rows: [1, 3, 5], targets: [4, 30, 12],
            wk: wk, wv: wv, keysOnly: keysOnly)
    }

    /// Checks analytic against central differences for a sample of coordinates.
    static func check(_ s: Setup, sample: Int = 12) throws {
        var s = s
        let pass = LlamaPass(model: s.model)
        _ = try s.loss(pass)
        let dHidden = s.keysOnly ? nil : try pass.crossEntropy(rows: s.rows, targets: s.targets, gradScale: 1).dHidden
        let g = try pass.backward(dHidden: dHidden, dKeys: s.wk, dValues: s.wv)
        let h: Float = 1e-2
        var worst = 0.0
        func compare(_ analytic: Float, _ plus: Double, _ minus: Double, _ what: String) {
            let fd = (plus - minus) / Double(2 * h)
            let err = abs(Double(analytic) - fd) / max(0.05, abs(fd))
            worst = max(worst, err)
            // Float32 forward, h = 1e-2: truncation and rounding stay well under 2 %.
            #expect(err < 2e-2, "\(what): analytic \(analytic), finite difference \(fd)")
        }
        var rng = SplitMix64(seed: 5)
        for _ in 0..<sample {
            let i = Int(rng.next() % UInt64(s.x.count))
            let x0 = s.x[i]
            s.x[i] = x0 + h; let p = try s.loss(pass)
            s.x[i] = x0 - h; let m = try s.loss(pass)
            s.x[i] = x0
            compare(g.embeddings[i], p, m, "d input[\(i)]")
        }
        if var prefix = s.prefix {
            for _ in 0..<sample {
                let l = Int(rng.next() % 2), i = Int(rng.next() % UInt64(prefix.keys[l].count))
                let useK = rng.next() % 2 == 0
                let v0 = useK ? prefix.keys[l][i] : prefix.values[l][i]
                if useK { prefix.keys[l][i] = v0 + h } else { prefix.values[l][i] = v0 + h }
                s.prefix = prefix; let p = try s.loss(pass)
                if useK { prefix.keys[l][i] = v0 - h } else { prefix.values[l][i] = v0 - h }
                s.prefix = prefix; let m = try s.loss(pass)
                if useK { prefix.keys[l][i] = v0 } else { prefix.values[l][i] = v0 }
                s.prefix = prefix
                compare(useK ? g.prefixKeys[l][i] : g.prefixValues[l][i], p, m, "d prefix \(useK ? "K" : "V")[\(l)][\(i)]")
            }
        }
        if let lora = s.lora {
            for p in lora.parameters {
                if s.keysOnly && p.name.contains("layers.1.") && p.name.contains("q_proj") { continue }
                for _ in 0..<3 {
                    let i = Int(rng.next() % UInt64(p.count))
                    let analytic = p.grad.data[i]
                    var v = p.value
                    let v0 = v.data[i]
                    v.data[i] = v0 + h; try p.assign(v); let lp = try s.loss(pass)
                    v.data[i] = v0 - h; try p.assign(v); let lm = try s.loss(pass)
                    v.data[i] = v0; try p.assign(v)
                    compare(analytic, lp, lm, "\(p.name)[\(i)]")
                }
            }
        }
        #expect(worst < 2e-2)
    }

    @Test func gradientsCausalWithPrefixAndLoRAEverywhere() throws {
        try Self.check(Self.makeSetup(mask: .causal(prefix: 4), prefixRows: 4, keysOnly: false, targets: LoRATarget.allCases))
    }

    @Test func gradientsBidirectionalNoPrefix() throws {
        try Self.check(Self.makeSetup(mask: .none, prefixRows: 0, keysOnly: false, targets: [.qProj, .vProj]))
    }

    @Test func gradientsKeysOnlyEncoder() throws {
        try Self.check(Self.makeSetup(mask: .none, prefixRows: 0, keysOnly: true, targets: [.qProj, .vProj]))
    }

    @Test func gradientsWithoutAdapter() throws {
        try Self.check(Self.makeSetup(mask: .causal(prefix: 2), prefixRows: 2, keysOnly: false, targets: []))
    }

    /// A model whose weights are also packed for the GEMM (`LlamaModel.prepacked`, what
    /// `sac train` runs) gives bit-for-bit the same pass: hidden states, keys, values, loss,
    /// and every gradient. 13 tokens: more than `Projection.fusedTokenLimit`, so the packed
    /// products run; the tied head goes through the packed head, on all 13 rows and on 6 (more
    /// than `GEMM.smallRowLimit`, at most `fusedTokenLimit`: the packed head on Float32 weights).
    @Test(arguments: [false, true], [13, 6]) func prepackedModelIsBitForBitTheSame(tied: Bool, headRows: Int) throws {
        let plain = try Self.tinyModel(tied: tied)
        let packed = plain.prepacked(forward: true, backward: true, head: true)
        #expect(plain.packedBytes == 0 && packed.packedBytes > 0)
        var rng = SplitMix64(seed: 21)
        let T = 13, c = plain.config, kv = c.numKVHeads * c.headDim
        let x = Tensor(randomNormal: [T, c.hiddenSize], std: 1, using: &rng).data
        let prefix = PrefixKV(
            keys: (0..<c.numLayers).map { _ in Tensor(randomNormal: [3, kv], std: 1, using: &rng).data },
            values: (0..<c.numLayers).map { _ in Tensor(randomNormal: [3, kv], std: 1, using: &rng).data }, count: 3)
        let dK = (0..<c.numLayers).map { _ in Tensor(randomNormal: [T, kv], std: 0.3, using: &rng).data }
        let dV = (0..<c.numLayers).map { _ in Tensor(randomNormal: [T, kv], std: 0.3, using: &rng).data }
        let rows = Array((T - headRows)..<T), targets = rows.map { Int32(($0 * 7) % c.vocabSize) }
        func run(_ model: LlamaModel) throws -> (hidden: [Float], keys: [Float], loss: Double, g: PassGradients, lora: [[Float]]) {
            let lora = try Self.randomLoRA(model, targets: LoRATarget.allCases)
            let pass = LlamaPass(model: model)
            try pass.forward(embeddings: x, positions: (0..<T).map { Int32($0 + 3) }, mask: .causal(prefix: 3),
                             prefix: prefix, lora: lora)
            let ce = try pass.crossEntropy(rows: rows, targets: targets, gradScale: 0.5)
            let g = try pass.backward(dHidden: ce.dHidden, dKeys: dK, dValues: dV)
            return (pass.hidden, pass.keys(layer: 1), ce.lossSum, g, lora.parameters.map { $0.grad.data })
        }
        let a = try run(plain), b = try run(packed)
        #expect(a.hidden == b.hidden)
        #expect(a.keys == b.keys)
        #expect(a.loss == b.loss)
        #expect(a.g.embeddings == b.g.embeddings)
        #expect(a.g.prefixKeys == b.g.prefixKeys && a.g.prefixValues == b.g.prefixValues)
        #expect(a.lora == b.lora)
        #expect(a.lora.contains { $0.contains { $0 != 0 } })
    }

    @Test func badInputsThrow() throws {
        let model = try Self.tinyModel()
        let pass = LlamaPass(model: model)
        #expect(throws: TensorError.self) { try pass.forward(embeddings: [1, 2, 3], positions: [0], mask: .none) }
        let x = model.embed([1, 2])
        #expect(throws: TensorError.self) { try pass.forward(embeddings: x, positions: [0], mask: .none) }
        #expect(throws: TensorError.self) { try pass.backward(dHidden: nil) }
        try pass.forward(embeddings: x, positions: [0, 1], mask: .none)
        #expect(throws: TensorError.self) { try pass.crossEntropy(rows: [2], targets: [1], gradScale: 1) }
        #expect(throws: TensorError.self) { try pass.crossEntropy(rows: [0], targets: [99], gradScale: 1) }
    }

    /// `keyRows`: the last two layers at the key rows only give the same keys and values at
    /// those rows in every layer, and the same gradients (inputs at every row, every LoRA
    /// parameter) for gradients arriving at those rows, as the pass over all rows. Two and
    /// three layers (the pruned layers then follow a full one), LoRA on every projection.
    @Test(arguments: [2, 3]) func keyRowsMatchTheFullPass(layers: Int) throws {
        let config = try LlamaConfig(
            vocabSize: 37, hiddenSize: 32, intermediateSize: 44, numLayers: layers, numHeads: 4, numKVHeads: 2,
            rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 512, tieWordEmbeddings: false)
        let model = try LlamaModel(weights: InMemoryWeightSource(randomWith: config, seed: 21), file: "tiny")
        let lora = try Self.randomLoRA(model, targets: LoRATarget.allCases)
        var rng = SplitMix64(seed: 8)
        let T = 11, d = config.hiddenSize, kv = config.numKVHeads * config.headDim, L = layers
        let x = Tensor(randomNormal: [T, d], std: 1, using: &rng).data
        let positions = (0..<T).map { Int32($0 + 1) }
        let keyRows = [0, 3, 4, 8, 10]
        // Gradients at the key rows of every layer, zero elsewhere (what a compressor sends).
        var dK = [[Float]](repeating: [Float](repeating: 0, count: T * kv), count: L), dV = dK
        for l in 0..<L {
            for r in keyRows {
                for q in 0..<kv {
                    dK[l][r * kv + q] = Float(rng.nextGaussian())
                    dV[l][r * kv + q] = Float(rng.nextGaussian())
                }
            }
        }
        func run(_ rows: [Int]?, keep: Bool = false) throws -> (k: [[Float]], v: [[Float]], dx: [Float], lora: [[Float]]) {
            for p in lora.parameters { p.zeroGrad() }
            let pass = LlamaPass(model: model)
            try pass.forward(embeddings: x, positions: positions, mask: .none, lora: lora, keysOnly: true, keyRows: rows,
                             keepProbabilities: keep)
            #expect(pass.keptProbabilities == keep)
            #expect(pass.keyRows == rows)
            var k = [[Float]](repeating: [], count: L), v = k
            for l in 0..<L { pass.gatherKV(layer: l, rows: keyRows, keys: &k[l], values: &v[l]) }
            let g = try pass.backward(dHidden: nil, dKeys: dK, dValues: dV)
            return (k, v, g.embeddings, lora.parameters.map { $0.grad.data })
        }
        let full = try run(nil)
        // Float32 sums in another order (products over fewer rows, probabilities kept instead
        // of recomputed): agreement to 1e-5 relative.
        func close(_ a: [Float], _ b: [Float], _ what: String) {
            #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) values")
            let scale = max(1e-3, a.map { abs($0) }.max() ?? 0)
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * scale, "\(what): max difference \(worst) (scale \(scale))")
        }
        for (rows, keep) in [(keyRows, false), (keyRows, true), (nil, true)] {
            let pruned = try run(rows, keep: keep)
            let how = "rows \(rows == nil ? "all" : "key"), kept probabilities \(keep)"
            for l in 0..<L {
                close(full.k[l], pruned.k[l], "keys \(l), \(how)")
                close(full.v[l], pruned.v[l], "values \(l), \(how)")
            }
            close(full.dx, pruned.dx, "input gradient, \(how)")
            #expect(full.dx.contains { $0 != 0 })
            for (i, p) in lora.parameters.enumerated() {
                // The last layer's q/o/MLP adapters are unused in a keys-only pass, with or without key rows.
                close(full.lora[i], pruned.lora[i], "\(p.name), \(how)")
            }
            #expect(pruned.lora.filter { $0.contains { $0 != 0 } }.count > lora.parameters.count / 2)
        }
    }

    @Test func badKeyRowsThrow() throws {
        let model = try Self.tinyModel()
        let pass = LlamaPass(model: model)
        let x = model.embed([1, 2, 3, 4])
        let pos: [Int32] = [1, 2, 3, 4]
        for rows in [[], [2, 1], [1, 1], [-1, 2], [0, 4]] {
            #expect(throws: TensorError.self, "\(rows)") {
                try pass.forward(embeddings: x, positions: pos, mask: .none, keysOnly: true, keyRows: rows)
            }
        }
        // Ignored where it does not apply: a causal mask, or without keysOnly.
        try pass.forward(embeddings: x, positions: pos, mask: .causal(prefix: 0), keysOnly: true, keyRows: [1, 2])
        #expect(pass.keyRows == nil)
        try pass.forward(embeddings: x, positions: pos, mask: .none, keyRows: [1, 2])
        #expect(pass.keyRows == nil)
    }
}

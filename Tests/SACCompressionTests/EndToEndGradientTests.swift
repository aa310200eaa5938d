import SACCompression
import SACModel
import SACTensor
import Testing

/// Finite-difference checks of the whole QA loss (encoder with LoRA → memory → frozen
/// decoder → answer tokens) with respect to every kind of trainable parameter.
@Suite struct EndToEndGradientTests {
    static let question: [Int32] = [5, 9, 11, 6]
    static let answer: [Int32] = [20, 31, 2]

    /// `Tiny.checkGradients` on `perParam` random coordinates of every parameter.
    static func check(_ settings: CompressorSettings, contextLength: Int, perParam: Int = 3) throws {
        let model = try Tiny.model()
        let comp = try Compressor(model: model, settings: settings, seed: 4)
        try Tiny.perturbLoRA(comp)
        let ctx = Tiny.ids(contextLength, seed: 8)
        let all = question + answer
        var targets = [Int32](repeating: -100, count: all.count)
        for i in question.count..<all.count { targets[i] = all[i] }
        let seq = DecoderSequence(soft: .lm, ids: Array(all.dropLast()), targets: targets)
        for p in comp.parameters { p.zeroGrad() }
        let base = try comp.loss(context: ctx, decoder: seq)
        #expect(base.count == answer.count)
        // The last layer's q_proj never gets a gradient in a KV method (SPEC §9).
        try Tiny.checkGradients(
            comp, perParam: perParam, label: settings.method.rawValue + " ",
            silent: { settings.method.usesKV && $0.contains("layers.1.self_attn.q_proj") }
        ) { try comp.loss(context: ctx, decoder: seq, backward: false).lossSum }
    }

    static let lora = LoRAConfig(rank: 4, alpha: 8)

    @Test func sacSlotAnchors() throws {
        try Self.check(CompressorSettings(method: .sac, ratio: 3, chunkSize: 16, lora: Self.lora), contextLength: 14)
    }

    @Test func sacMultiChunkRecomputesEarlierChunks() throws {
        try Self.check(CompressorSettings(method: .sac, ratio: 4, chunkSize: 8, anchorEmbedding: .shared, lora: Self.lora),
                       contextLength: 21)
    }

    @Test func sacCausalRandomAnchors() throws {
        try Self.check(CompressorSettings(method: .sac, ratio: 3, chunkSize: 16, anchors: .random, attention: .causal, lora: Self.lora),
                       contextLength: 15)
    }

    @Test func epl() throws {
        try Self.check(CompressorSettings(method: .epl, ratio: 4, chunkSize: 8, lora: Self.lora), contextLength: 13)
    }

    @Test func x500() throws {
        try Self.check(CompressorSettings(method: .x500, ratio: 4, chunkSize: 16, lora: Self.lora), contextLength: 12)
    }

    @Test func icae() throws {
        try Self.check(CompressorSettings(method: .icae, ratio: 4, chunkSize: 8, lora: Self.lora), contextLength: 13)
    }

    @Test func full() throws {
        try Self.check(CompressorSettings(method: .full, ratio: 1, lora: Self.lora), contextLength: 9)
    }

    /// AE + LM on one memory (two decoder sequences, weights 0.3 and 0.7): the gradients of
    /// both meet in the memory; checked against finite differences of the weighted sum.
    @Test func mixedAutoencodingAndLanguageModelling() throws {
        let model = try Tiny.model()
        for method in [CompressionMethod.sac, .icae] {
            let comp = try Compressor(model: model, settings: CompressorSettings(method: method, ratio: 3, chunkSize: 8, lora: Self.lora), seed: 2)
            try Tiny.perturbLoRA(comp)
            let ctx = Tiny.ids(11, seed: 4)
            let ae = DecoderSequence(soft: .ae, ids: ctx, targets: ctx + [2])
            let cont: [Int32] = [7, 19, 23, 2]
            let lm = DecoderSequence(soft: .lm, ids: Array(cont.dropLast()), targets: cont)
            let decs: [(DecoderSequence, Float)] = [(ae, 0.3), (lm, 0.7)]
            func total() throws -> Double {
                let r = try comp.loss(context: ctx, decoders: decs, backward: false)
                return 0.3 * r[0].lossSum + 0.7 * r[1].lossSum
            }
            for p in comp.parameters { p.zeroGrad() }
            _ = try comp.loss(context: ctx, decoders: decs)
            var rng = SplitMix64(seed: 5)
            let h: Float = 1e-2
            for p in comp.parameters where !(method.usesKV && p.name.contains("layers.1.self_attn.q_proj")) {
                for _ in 0..<2 {
                    let i = Int(rng.next() % UInt64(p.count))
                    let analytic = Double(p.grad.data[i])
                    var v = p.value
                    let v0 = v.data[i]
                    v.data[i] = v0 + h; try p.assign(v); let lp = try total()
                    v.data[i] = v0 - h; try p.assign(v); let lm = try total()
                    v.data[i] = v0; try p.assign(v)
                    let fd = (lp - lm) / Double(2 * h)
                    #expect(abs(analytic - fd) / max(0.05, abs(fd)) < 3e-2, "\(method) \(p.name)[\(i)]: \(analytic) vs \(fd)")
                }
            }
        }
    }
}

/// `Compressor.loss` reports its stages to a hook without changing what it computes.
@Suite struct LossStageTests {
    @Test(arguments: [CompressionMethod.sac, .icae]) func stagesAreReportedInOrderAndChangeNothing(method: CompressionMethod) throws {
        let model = try Tiny.model()
        let comp = try Compressor(
            model: model, settings: CompressorSettings(method: method, ratio: 4, chunkSize: 8, lora: LoRAConfig(rank: 2, alpha: 4)),
            seed: 4)
        try Tiny.perturbLoRA(comp)
        let ctx = Tiny.ids(21, seed: 8)
        let seq = DecoderSequence(soft: .lm, ids: [5, 9, 11, 20], targets: [-100, -100, -100, 20, 31])
        for p in comp.parameters { p.zeroGrad() }
        let plain = try comp.loss(context: ctx, decoders: [(seq, 1)], distillation: nil)
        let plainGrads = comp.parameters.map(\.grad.data)
        for p in comp.parameters { p.zeroGrad() }
        var seen: [(LossStage, Double)] = []
        let timed = try comp.loss(context: ctx, decoders: [(seq, 1)], distillation: nil, stageTimes: { seen.append(($0, $1)) })
        #expect(seen.map(\.0) == LossStage.allCases)
        #expect(seen.allSatisfy { $0.1 >= 0 && $0.1 < 60 })
        #expect(timed[0].lossSum == plain[0].lossSum && timed[0].count == plain[0].count)
        #expect(comp.parameters.map(\.grad.data) == plainGrads)
        // Without a backward only the forward stages run.
        seen = []
        _ = try comp.loss(context: ctx, decoders: [(seq, 1)], distillation: nil, backward: false, stageTimes: { seen.append(($0, $1)) })
        #expect(seen.map(\.0) == [.encode, .decoderForward])
    }
}

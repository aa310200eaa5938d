import Foundation
import SACCompression
import SACModel
import SACTensor
import Testing

/// Finite-difference checks of the distillation objective (SAC student → frozen decoder,
/// against a teacher): cross-entropy on the answer + KL divergence from the teacher's
/// next-token distributions + the per-layer hidden-state error, each with its own weight,
/// with respect to every kind of trainable parameter; for the frozen teacher (the base model
/// reading the whole context) and for a trained `full` compressor as the teacher.
@Suite struct DistillationGradientTests {
    static let question: [Int32] = [5, 9, 11, 6]
    static let answer: [Int32] = [20, 31, 2]
    static let lora = LoRAConfig(rank: 4, alpha: 8)

    static func check(teacher makeTeacher: (LlamaModel) throws -> Teacher, ce: Float, kl: Float, hidden: Float,
                      settings: CompressorSettings, contextLength: Int) throws {
        let model = try Tiny.model()
        let comp = try Compressor(model: model, settings: settings, seed: 4)
        try Tiny.perturbLoRA(comp)
        let teacher = try makeTeacher(model)
        let ctx = Tiny.ids(contextLength, seed: 8)
        let all = question + answer
        var targets = [Int32](repeating: -100, count: all.count)
        for i in question.count..<all.count { targets[i] = all[i] }
        let seq = DecoderSequence(soft: .lm, ids: Array(all.dropLast()), targets: targets)
        let t = try teacher.targets(context: ctx, decoder: seq)
        #expect(t.rows == all.count)
        let dist = Distillation(teacher: t, klScale: kl, hiddenScale: hidden)
        func total(backward: Bool) throws -> Double {
            let r = try comp.loss(context: ctx, decoders: [(seq, ce)], distillation: [dist], backward: backward)[0]
            #expect(r.distilledRows == all.count)
            return Double(ce) * r.lossSum + Double(kl) * r.klSum + Double(hidden) * r.hiddenSum
        }
        for p in comp.parameters { p.zeroGrad() }
        let base = try total(backward: true)
        #expect(base.isFinite && base > 0)
        try Tiny.checkGradients(comp, silent: { $0.contains("layers.1.self_attn.q_proj") }) { try total(backward: false) }
    }

    static let sac = CompressorSettings(method: .sac, ratio: 3, chunkSize: 16, lora: lora)

    @Test func frozenTeacherKLOnly() throws {
        try Self.check(teacher: { Teacher(model: $0) }, ce: 0, kl: 1, hidden: 0, settings: Self.sac, contextLength: 14)
    }

    @Test func frozenTeacherHiddenOnly() throws {
        try Self.check(teacher: { Teacher(model: $0) }, ce: 0, kl: 0, hidden: 2, settings: Self.sac, contextLength: 14)
    }

    @Test func frozenTeacherAllTermsMultiChunk() throws {
        let s = CompressorSettings(method: .sac, ratio: 4, chunkSize: 8, anchorEmbedding: .shared, lora: Self.lora)
        try Self.check(teacher: { Teacher(model: $0) }, ce: 0.7, kl: 0.5, hidden: 0.3, settings: s, contextLength: 21)
    }

    @Test func fullCompressorTeacher() throws {
        try Self.check(teacher: { model in
            let full = try Compressor(model: model, settings: CompressorSettings(method: .full, ratio: 1, lora: Self.lora), seed: 9)
            try Tiny.perturbLoRA(full)
            return try Teacher(compressor: full)
        }, ce: 1, kl: 1, hidden: 1, settings: Self.sac, contextLength: 14)
    }

    /// The frozen teacher's rows are the base model's own causal pass over context + ids:
    /// its logits at the row of the context's last token equal a plain forward's, and a
    /// student whose memory is the whole context (the `full` method without training, `[LM]`
    /// replaced by that token) would see the same distributions.
    @Test func frozenTeacherRowsAreTheModelsNextTokenLogits() throws {
        let model = try Tiny.model()
        let ctx = Tiny.ids(10, seed: 3)
        let ids: [Int32] = [5, 9, 11]
        let seq = DecoderSequence(soft: .lm, ids: ids, targets: [9, 11, 6, 2])
        let t = try Teacher(model: model).targets(context: ctx, decoder: seq)
        let all = ctx + ids
        let cache = model.makeCache(capacity: all.count)
        let logits = try model.forward(all, positions: (0..<all.count).map { Int32($0 + 1) }, cache: cache, logits: .all)
        let V = model.config.vocabSize
        var worst: Float = 0
        for i in 0..<t.rows {
            let row = ctx.count - 1 + i
            for j in 0..<V { worst = max(worst, abs(t.logits[i * V + j] - logits[row * V + j])) }
        }
        #expect(worst < 1e-4, "teacher logits differ from the model's forward by \(worst)")
    }

    /// A teacher with another method's memory is refused, and a zero-weight objective without
    /// a teacher is refused by the trainer configuration.
    @Test func refusesATeacherWithoutKeyValueMemory() throws {
        let model = try Tiny.model()
        let icae = try Compressor(model: model, settings: CompressorSettings(method: .icae, ratio: 4, chunkSize: 8, lora: Self.lora))
        #expect(throws: CompressionError.self) { _ = try Teacher(compressor: icae) }
    }
}

/// The KL divergence op against a Float64 reference and finite differences, on random logits.
@Suite struct KLDivergenceTests {
    @Test func matchesFloat64AndFiniteDifferences() throws {
        var rng = SplitMix64(seed: 7)
        let rows = 5, V = 37
        let s = Tensor(randomNormal: [rows, V], std: 2, using: &rng)
        let t = Tensor(randomNormal: [rows, V], std: 2, using: &rng)
        func ref(_ s: [Float]) -> Double {
            var sum = 0.0
            for r in 0..<rows {
                let sr = s[(r * V)..<((r + 1) * V)].map(Double.init), tr = t.data[(r * V)..<((r + 1) * V)].map(Double.init)
                let ls = log(sr.map { exp($0) }.reduce(0, +)), lt = log(tr.map { exp($0) }.reduce(0, +))
                for j in 0..<V { sum += exp(tr[j] - lt) * ((tr[j] - lt) - (sr[j] - ls)) }
            }
            return sum
        }
        let (loss, g) = try KLDivergence.loss(student: s, teacher: t, scale: 0.5)
        #expect(abs(loss - ref(s.data)) < 1e-5 * max(1, abs(loss)))
        #expect(loss > 0)
        let h = 1e-3
        for i in stride(from: 0, to: rows * V, by: 7) {
            var p = s.data, m = s.data
            p[i] += Float(h); m[i] -= Float(h)
            let fd = (ref(p) - ref(m)) / (2 * h) * 0.5
            #expect(abs(Double(g.data[i]) - fd) < 2e-4, "element \(i): \(g.data[i]) vs \(fd)")
        }
        // Identical distributions: zero loss, zero gradient.
        let (z, gz) = try KLDivergence.loss(student: t, teacher: t)
        #expect(abs(z) < 1e-6 && gz.data.allSatisfy { abs($0) < 1e-6 })
        #expect(throws: TensorError.self) { _ = try KLDivergence.loss(student: s, teacher: Tensor(zeros: [rows, V + 1])) }
    }
}

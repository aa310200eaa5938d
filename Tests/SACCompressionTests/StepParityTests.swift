import Foundation
import SACCompression
import SACModel
import SACTensor
import Testing

/// One reference case of `StepParityReference` (made by scripts/make_step_parity_fixture.py).
struct StepParityCase {
    let name: String
    let context: [Int32]
    let question: [Int32]
    let answer: [Int32]
    /// Summed cross-entropy on the answer tokens, from PyTorch (float32 model, float64 loss).
    let lossSum: Double
    /// L2 norm of the gradient of `lossSum`, per trainable tensor.
    let gradientNorms: [String: Double]
    /// (tensor, flat row-major index, d lossSum / d value) at seeded coordinates.
    let gradients: [(String, Int, Double)]
}

/// llm.c-style parity at the top seam: one SAC QA step on SmolLM2-135M (the GGUF dequantised
/// to float32) against the same step in PyTorch with transformers + peft. Both sides set the
/// trainable parameters from one formula (see the script); the loss and the gradients of
/// every LoRA tensor (q/k/v, 30 layers), the anchor embedding and `[LM]` must agree.
///
/// Tolerances: the loss within 1e-4 relative; each tensor's gradient norm within 1e-3
/// relative; each sampled gradient within 1e-3 of its tensor's RMS gradient. Float32 sums in
/// another order over 30 layers and 600 tokens move the gradients by about 1e-5 relative;
/// a wrong mask, position or scale moves them by far more than 1e-3.
@Suite struct StepParityTests {
    /// `scale · sin(0.731 i + 0.013 h(name))`, the script's formula, rounded to float32.
    static func formula(_ name: String, count: Int, scale: Double) -> [Float] {
        let h = name.utf8.enumerated().reduce(0) { ($0 + ($1.offset + 1) * Int($1.element)) } % 9973
        return (0..<count).map { Float(scale * sin(0.731 * Double($0) + 0.013 * Double(h))) }
    }

    static func scale(_ name: String) -> Double {
        if name.hasSuffix("lora_A.weight") { return 0.02 }
        if name.hasSuffix("lora_B.weight") { return 0.01 }
        return name == "sac.lm_token" ? 0.05 : 0.02
    }

    @Test(arguments: StepParityReference.cases.map(\.name))
    func lossAndGradientsMatchPyTorch(_ caseName: String) throws {
        let ref = try #require(StepParityReference.cases.first { $0.name == caseName })
        let loaded: LoadedModel
        do { loaded = try ModelLoader.load(path: nil, dequantize: true) } catch {
            if ProcessInfo.processInfo.environment["SAC_REQUIRE_MODEL"] == "1" { throw error }
            return
        }
        let targets = StepParityReference.targets.compactMap(LoRATarget.init(rawValue:))
        #expect(targets.count == 3)
        let settings = CompressorSettings(
            method: .sac, ratio: 5, lora: LoRAConfig(rank: StepParityReference.rank, alpha: StepParityReference.alpha, targets: targets))
        let comp = try Compressor(model: loaded.model, settings: settings, seed: 0)
        var byName: [String: Parameter] = [:]
        for p in comp.parameters where p.name != "sac.ae_token" {
            try p.assign(Tensor(shape: p.value.shape, data: Self.formula(p.name, count: p.count, scale: Self.scale(p.name))))
            p.zeroGrad()
            byName[p.name] = p
        }
        #expect(Set(byName.keys) == Set(ref.gradientNorms.keys), "trainable tensors differ from the reference's")

        let all = ref.question + ref.answer
        var rowTargets = [Int32](repeating: CrossEntropy.defaultIgnoreIndex, count: all.count)
        for i in ref.question.count..<all.count { rowTargets[i] = all[i] }
        let seq = DecoderSequence(soft: .lm, ids: Array(all.dropLast()), targets: rowTargets)
        let result = try comp.loss(context: ref.context, decoder: seq)
        #expect(result.count == ref.answer.count)
        let lossError = abs(result.lossSum - ref.lossSum) / abs(ref.lossSum)
        #expect(lossError < 1e-4, "\(caseName): loss sum \(result.lossSum), PyTorch \(ref.lossSum)")

        var worstNorm = 0.0
        for (name, refNorm) in ref.gradientNorms {
            guard let p = byName[name] else { continue }
            let norm = p.grad.data.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let err = abs(norm - refNorm) / max(refNorm, 1e-12)
            worstNorm = max(worstNorm, err)
            #expect(err < 1e-3, "\(caseName): ‖∂/∂\(name)‖ = \(norm), PyTorch \(refNorm)")
        }
        var worstEntry = 0.0
        for (name, index, refValue) in ref.gradients {
            guard let p = byName[name], let refNorm = ref.gradientNorms[name] else { continue }
            let rms = refNorm / Double(p.count).squareRoot()
            let err = abs(Double(p.grad.data[index]) - refValue) / max(rms, 1e-12)
            worstEntry = max(worstEntry, err)
            #expect(err < 1e-3, "\(caseName): ∂/∂\(name)[\(index)] = \(p.grad.data[index]), PyTorch \(refValue)")
        }
        #expect(ref.gradients.count > 50)
        print("StepParity \(caseName): loss rel. error \(lossError), worst norm rel. error \(worstNorm), worst entry error / RMS \(worstEntry)")
    }
}

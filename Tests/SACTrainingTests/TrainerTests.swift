import Foundation
import SACCompression
import SACData
import SACModel
import SACTensor
import Testing

@testable import SACTraining

@Suite struct TrainerTests {
    static func trainer(out: String, steps: Int, objective: Objective = .qa, files: DataFiles = TinySetup.qaFiles(),
                        method: CompressionMethod = .sac, lr: Float = 3e-3, batch: Int = 3) throws -> Trainer {
        let model = try TinySetup.model()
        let tok = try TinySetup.tokenizer()
        let prompt = try QAPrompt(tokenizer: tok, config: model.config)
        let settings = CompressorSettings(method: method, ratio: 4, chunkSize: 32, lora: LoRAConfig(rank: 4, alpha: 8))
        let comp = try Compressor(model: model, settings: settings, seed: 1)
        let data = try TrainingData(files: files, objective: objective, prompt: prompt, lmTokens: 24...40, seed: 3)
        var cfg = TrainerConfig(objective: objective, steps: steps, lr: lr)
        cfg.batchSize = batch
        cfg.warmupSteps = 1
        cfg.checkpointEvery = 2
        cfg.validEvery = 2
        cfg.validExamples = 4
        return try Trainer(compressor: comp, data: data, dataFingerprint: files.fingerprint, config: cfg, out: out, modelName: "tiny")
    }

    @Test func resumeContinuesToTheSameResult() throws {
        let a = Self.tmp("a"), b = Self.tmp("b")
        let straight = try Self.trainer(out: a, steps: 4)
        try straight.run { _ in }
        let first = try Self.trainer(out: b, steps: 2)
        try first.run { _ in }
        let resumed = try Self.trainer(out: b, steps: 4)
        try resumed.resume()
        #expect(resumed.step == 2)
        try resumed.run { _ in }
        let pa = straight.compressor.parameters, pb = resumed.compressor.parameters
        var worst: Float = 0
        for (x, y) in zip(pa, pb) {
            for i in 0..<x.count { worst = max(worst, abs(x.value.data[i] - y.value.data[i])) }
        }
        // Same data, same optimiser state: equal up to the order of threaded float sums.
        #expect(worst <= 1e-6, "largest parameter difference \(worst)")
        // And training moved the parameters.
        let fresh = try Self.trainer(out: Self.tmp("c"), steps: 1).compressor.parameters
        #expect(zip(fresh, pa).contains { $0.value != $1.value })
    }

    /// Resuming a run that already reached its last step (a checkpoint carried to a fresh
    /// machine) does no update but leaves the adapter files in `out`, with the checkpoint's values.
    @Test func resumeAtTheEndWritesTheAdapter() throws {
        let a = Self.tmp("done")
        let t = try Self.trainer(out: a, steps: 2)
        try t.run { _ in }
        let b = Self.tmp("copied")
        try FileManager.default.createDirectory(atPath: b, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: a + "/checkpoints", toPath: b + "/checkpoints")
        #expect(!FileManager.default.fileExists(atPath: b + "/adapter_model.safetensors"))
        let resumed = try Self.trainer(out: b, steps: 2)
        try resumed.resume()
        var updates = 0
        try resumed.run { _ in updates += 1 }
        #expect(updates == 0)
        let written = try Data(contentsOf: URL(fileURLWithPath: b + "/adapter_model.safetensors"))
        let original = try Data(contentsOf: URL(fileURLWithPath: a + "/adapter_model.safetensors"))
        #expect(written == original)
    }

    /// Over-fitting one QA example: the loss must fall well below where it started.
    @Test func trainingLowersTheLoss() throws {
        var files = try DataFiles(paths: [])
        files.qa = [QAExample(context: "The cat sat on the red mat.", question: "Where?", answers: ["mat"], id: "1", source: "t")]
        files.fingerprint = "one"
        let t = try Self.trainer(out: Self.tmp("lm"), steps: 15, objective: .qa, files: files, lr: 1e-2, batch: 1)
        var losses: [Double] = []
        try t.run { losses.append($0.loss) }
        #expect(losses.count == 15)
        let early: Double = losses.prefix(2).reduce(0, +), late: Double = losses.suffix(2).reduce(0, +)
        #expect(late < early * 0.75, "\(losses)")
    }

    @Test func aeLMAndOtherMethodsRun() throws {
        var files = try DataFiles(paths: [])
        files.texts = (0..<30).map { "document \($0) says hello to the world and counts \($0 * 7) apples." }
        files.fingerprint = "docs"
        for method in [CompressionMethod.epl, .x500, .icae, .full] {
            let t = try Self.trainer(out: Self.tmp("m"), steps: 1, objective: .aeLM, files: files, method: method)
            var p: TrainingProgress?
            try t.run { p = $0 }
            #expect(p!.loss.isFinite && p!.loss > 0, "\(method)")
        }
    }

    @Test func interruptedCheckpointLeavesThePreviousOne() throws {
        let out = Self.tmp("kill")
        let t = try Self.trainer(out: out, steps: 2)
        try t.run { _ in }
        // A later checkpoint that was being written when the process died.
        let partial = out + "/checkpoints/.step-000004.tmp-999"
        try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: true)
        try Data("{\"trunc".utf8).write(to: URL(fileURLWithPath: partial + "/trainer_state.json"))
        let r = try Self.trainer(out: out, steps: 4)
        try r.resume()
        #expect(r.step == 2)
        // A corrupted complete checkpoint is reported, not used.
        let latest = Checkpoint.latest(out: out)!
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: latest + "/optimizer.safetensors"))
        #expect(throws: TrainingError.self) { try Self.trainer(out: out, steps: 4).resume() }
        // Other settings are refused.
        #expect(throws: (any Error).self) { try Self.trainer(out: out, steps: 4, objective: .lm, files: TinySetup.qaFiles()).resume() }
    }

    static func tmp(_ n: String) -> String { TinySetup.tmp(n) }
}

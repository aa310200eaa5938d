import Foundation
import SACCompression
import SACData
import SACModel
import SACTensor
import Testing

@testable import SACTraining

/// What a long training campaign relies on: held-out contexts, validation F1 with the best
/// adapter kept, multi-chunk QA examples, a time budget, a learning-rate decay, distillation
/// that resumes only with the same teacher, and compact checkpoints that resume.
@Suite struct CampaignTests {
    static func setup(
        out: String, steps: Int, files: DataFiles = TinySetup.qaFiles(), teacher: ((LlamaModel) throws -> Teacher)? = nil,
        configure: (inout TrainerConfig) -> Void = { _ in }
    ) throws -> Trainer {
        let model = try TinySetup.model()
        let prompt = try QAPrompt(tokenizer: try TinySetup.tokenizer(), config: model.config)
        let settings = CompressorSettings(method: .sac, ratio: 4, chunkSize: 32, lora: LoRAConfig(rank: 4, alpha: 8))
        let comp = try Compressor(model: model, settings: settings, seed: 1)
        var cfg = TrainerConfig(objective: .qa, steps: steps, lr: 3e-3)
        cfg.batchSize = 2
        cfg.warmupSteps = 1
        cfg.checkpointEvery = 2
        cfg.validEvery = 2
        cfg.validExamples = 2
        cfg.validQuestions = 3
        cfg.validContexts = 2
        configure(&cfg)
        let data = try TrainingData(
            files: files, objective: cfg.objective, prompt: prompt, lmTokens: 24...40, seed: 3, validContexts: cfg.validContexts,
            multiChunkFraction: cfg.multiChunkFraction, distractors: cfg.distractors)
        return try Trainer(
            compressor: comp, data: data, dataFingerprint: files.fingerprint, config: cfg, out: out, modelName: "tiny",
            teacher: try teacher?(model))
    }

    @Test func heldOutContextsAreNeverTrainedOn() throws {
        let t = try Self.setup(out: TinySetup.tmp("held"), steps: 1)
        let d = t.data
        let held = Set(d.qaHeldOut.map(\.context))
        #expect(held == ["Bees make honey in hives.", "The sun rises in the east."])  // the last two contexts
        #expect(d.qaHeldOut.count == 4)
        for k in 0..<64 {
            let e = d.trainExample(k)
            let text = d.prompt.text(e.context)
            #expect(!held.contains { text.contains($0) }, "example \(k) reads a held-out context")
        }
        // Spread over the held-out contexts, grouped by context: both first questions, then one second.
        let v = d.validationQA(limit: 3)
        #expect(v.map(\.id) == ["q3", "r3", "q4"])
        #expect(d.validationQA(limit: 100).count == 4)
        // LM data leaves the held-out contexts out of its text stream too.
        var files = TinySetup.qaFiles()
        files.texts = (0..<40).map { "plain document number \($0) about apples and pears." }
        let lm = try TrainingData(files: files, objective: .lm, prompt: d.prompt, lmTokens: 24...40, seed: 3, validContexts: 2)
        let stream = d.prompt.text(lm.stream)
        #expect(!held.contains { stream.contains($0) })
        #expect(stream.contains("Paris is the capital of France."))
    }

    @Test func multiChunkExamplesPlaceTheParagraphAmongOthers() throws {
        let plain = try Self.setup(out: TinySetup.tmp("mc0"), steps: 1).data
        let mixed = try Self.setup(out: TinySetup.tmp("mc1"), steps: 1, configure: { $0.multiChunkFraction = 0.5; $0.distractors = 2 }).data
        var longer = 0
        for k in 0..<40 {
            let a = plain.trainExample(k), b = mixed.trainExample(k)
            #expect(a.decoders.map { $0.0 } == b.decoders.map { $0.0 }, "same question at \(k)")
            if a.context != b.context {
                longer += 1
                func body(_ ids: [Int32]) -> String {
                    mixed.prompt.text(ids).replacingOccurrences(of: "### Context:\n", with: "")
                }
                let parts = body(b.context).components(separatedBy: "\n\n")
                #expect(parts.count == 3 && parts.contains(body(a.context)))
            }
        }
        #expect(longer > 8 && longer < 32, "\(longer) of 40 with distractors at fraction 0.5")
        var rng = SplitMix64(seed: 9)
        let c = mixed.multiChunkContext("Paris is the capital of France.", rng: &rng).components(separatedBy: "\n\n")
        #expect(Set(c).count == 3 && c.contains("Paris is the capital of France."))
    }

    @Test func validationLogsF1AndKeepsTheBestAdapter() throws {
        let out = TinySetup.tmp("valid")
        let t = try Self.setup(out: out, steps: 4)
        var log: [TrainingProgress] = []
        try t.run { log.append($0) }
        #expect(log.count == 4)
        for p in log where p.step % 2 == 0 {
            #expect(p.validF1 != nil && p.validEM != nil && p.validLoss != nil && p.validSeconds != nil)
            #expect(p.validQuestions == 3)
        }
        #expect(log[0].validF1 == nil)
        #expect(zip(log, log.dropFirst()).allSatisfy { $0.trainSeconds < $1.trainSeconds })
        let best = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/best/best.json"))) as! [String: Double]
        #expect(Int(best["step"]!) == t.bestStep)
        #expect(best["f1"] == t.bestF1)
        _ = try Compressor.load(adapter: out + "/best", model: t.compressor.model)
        // The run's training time and best score survive a resume.
        let r = try Self.setup(out: out, steps: 6)
        try r.resume()
        #expect(r.trainSeconds == t.trainSeconds && r.bestStep == t.bestStep)
    }

    @Test func timeBudgetStopsWithACheckpoint() throws {
        let out = TinySetup.tmp("budget")
        let t = try Self.setup(out: out, steps: 50, configure: { $0.maxTrainSeconds = 1e-9 })
        var log: [TrainingProgress] = []
        try t.run { log.append($0) }
        #expect(log.count == 1 && log[0].validF1 != nil)
        #expect(Checkpoint.latest(out: out)?.hasSuffix("step-000001") == true)
        // A resumed run over its budget does nothing; a larger budget continues it.
        let again = try Self.setup(out: out, steps: 50, configure: { $0.maxTrainSeconds = 1e-9 })
        try again.resume()
        var n = 0
        try again.run { _ in n += 1 }
        #expect(n == 0)
    }

    @Test func learningRateDecaysLinearlyAtTheEnd() {
        var c = TrainerConfig(objective: .qa, steps: 10, lr: 1e-3)
        c.warmupSteps = 2
        c.decaySteps = 4
        let lrs = (0..<10).map { c.lr(atStep: $0) }
        #expect(lrs[0] == 0 && abs(lrs[1] - 5e-4) < 1e-9 && lrs[2] == 1e-3 && lrs[5] == 1e-3)
        #expect(abs(lrs[6] - 1e-3) < 1e-9 && abs(lrs[7] - 7.5e-4) < 1e-9 && abs(lrs[9] - 2.5e-4) < 1e-9)
        c.decaySteps = 11
        #expect(throws: TrainingError.invalidSetting(field: "decaySteps", detail: "11, expected in 0...10")) { try c.validate() }
    }

    @Test func learningRateDecaysByTrainingTime() throws {
        var c = TrainerConfig(objective: .qa, steps: 100, lr: 1e-3)
        c.warmupSteps = 0
        c.maxTrainSeconds = 100
        c.decaySeconds = 40
        try c.validate()
        #expect(c.lr(atStep: 5, trainSeconds: 0) == 1e-3 && c.lr(atStep: 5, trainSeconds: 60) == 1e-3)
        #expect(abs(c.lr(atStep: 5, trainSeconds: 70) - 7.5e-4) < 1e-9)
        #expect(abs(c.lr(atStep: 5, trainSeconds: 90) - 2.5e-4) < 1e-9)
        #expect(c.lr(atStep: 5, trainSeconds: 100) == 0 && c.lr(atStep: 5, trainSeconds: 130) == 0)
        // With a decay by updates as well, the smaller factor applies.
        c.decaySteps = 10
        #expect(abs(c.lr(atStep: 95, trainSeconds: 70) - 5e-4) < 1e-9)  // updates 0.5, time 0.75
        #expect(abs(c.lr(atStep: 91, trainSeconds: 90) - 2.5e-4) < 1e-9)  // updates 0.9, time 0.25
        c.decaySteps = 0
        // A decay longer than the budget, or without one, or negative: refused, naming the field.
        for (budget, decay) in [(30.0, 40.0), (0, 40), (100, -1), (100, .infinity)] {
            c.maxTrainSeconds = budget
            c.decaySeconds = decay
            #expect(throws: TrainingError.self) { try c.validate() }
            do { try c.validate() } catch let TrainingError.invalidSetting(field, _) { #expect(field == "decaySeconds") } catch {}
        }
        // The trainer sets each update's rate from the training time before it.
        let t = try Self.setup(out: TinySetup.tmp("decay-time"), steps: 5, configure: {
            $0.maxTrainSeconds = 1000; $0.decaySeconds = 1000; $0.validEvery = 0
        })
        var log: [TrainingProgress] = []
        try t.run { log.append($0) }
        #expect(log.count == 5)
        for (i, p) in log.enumerated() {
            let before = i == 0 ? 0 : log[i - 1].trainSeconds
            #expect(p.lr == t.config.lr(atStep: i, trainSeconds: before), "update \(i + 1)")
            if i >= 2 { #expect(p.lr < log[i - 1].lr && p.lr < 3e-3, "update \(i + 1): \(p.lr)") }
        }
    }

    @Test func distillationTrainsAndResumesOnlyWithTheSameTeacher() throws {
        let out = TinySetup.tmp("kd")
        let t = try Self.setup(out: out, steps: 2, teacher: { Teacher(model: $0) }, configure: { $0.hiddenWeight = 0.5 })
        #expect(t.config.teacher == "frozen")
        var log: [TrainingProgress] = []
        try t.run { log.append($0) }
        let p = log.last!
        #expect(p.kl! > 0 && p.hiddenError! > 0 && p.ce! > 0)
        #expect(abs(p.loss - (p.ce! + p.kl! + 0.5 * p.hiddenError!)) < 1e-9 * max(1, p.loss))
        // Resuming without the teacher, or with another one, is refused naming the field.
        do {
            try Self.setup(out: out, steps: 4, configure: { $0.hiddenWeight = 0.5 }).resume()
            Issue.record("resumed without the teacher")
        } catch let TrainingError.mismatch(_, field, _, _) {
            #expect(field.contains("teacher"))
        }
        #expect(throws: TrainingError.self) {
            try Self.setup(out: out, steps: 4, teacher: { model in
                let full = try Compressor(model: model, settings: CompressorSettings(method: .full, ratio: 1, lora: LoRAConfig(rank: 2, alpha: 4)))
                return try Teacher(compressor: full)
            }, configure: { $0.hiddenWeight = 0.5 }).resume()
        }
        let same = try Self.setup(out: out, steps: 4, teacher: { Teacher(model: $0) }, configure: { $0.hiddenWeight = 0.5 })
        try same.resume()
        #expect(same.step == 2)
        // A teacher of another model is refused.
        #expect(throws: TrainingError.self) {
            _ = try Self.setup(out: TinySetup.tmp("kd2"), steps: 1, teacher: { _ in Teacher(model: try TinySetup.model(seed: 99)) })
        }
    }

    @Test func compactCheckpointResumes() throws {
        let out = TinySetup.tmp("full"), dest = TinySetup.tmp("compact") + "/run"
        let t = try Self.setup(out: out, steps: 2)
        try t.run { _ in }
        try Checkpoint.exportCompact(out: out, to: dest, model: t.compressor.model)
        let st = try SafetensorsFile(path: Checkpoint.latest(out: dest)! + "/optimizer.safetensors")
        #expect(st.tensors.values.allSatisfy { $0.dtype == .BF16 })
        #expect(FileManager.default.fileExists(atPath: dest + "/best/best.json"))
        let r = try Self.setup(out: dest, steps: 3)
        try r.resume()
        #expect(r.step == 2 && r.trainSeconds == t.trainSeconds)
        var worst: Float = 0
        for (a, b) in zip(t.compressor.parameters, r.compressor.parameters) {
            for i in 0..<a.count { worst = max(worst, abs(a.value.data[i] - b.value.data[i]) / max(1e-3, abs(a.value.data[i]))) }
        }
        #expect(worst < 1e-3, "F16 rounding only: \(worst)")
        try r.run { _ in }
        #expect(r.step == 3)
    }

    /// A compact copy without moments: no optimiser file, and its resume starts AdamW afresh
    /// with the learning rate re-warmed over `rewarmSteps` updates, a re-warm that later
    /// checkpoints carry on.
    @Test func compactCheckpointWithoutMomentsResumesWithARewarm() throws {
        let out = TinySetup.tmp("full-nomoments"), dest = TinySetup.tmp("compact-nomoments") + "/run"
        let t = try Self.setup(out: out, steps: 2)
        try t.run { _ in }
        try Checkpoint.exportCompact(out: out, to: dest, model: t.compressor.model, moments: false)
        let ck = Checkpoint.latest(out: dest)!
        #expect(!FileManager.default.fileExists(atPath: ck + "/optimizer.safetensors"))
        let state = try Checkpoint.readState(ck)
        #expect(state.hasMoments == false && state.optimizerSteps.isEmpty && state.step == 2)
        let r = try Self.setup(out: dest, steps: 5, configure: { $0.validEvery = 0 })
        try r.resume()
        #expect(r.step == 2 && r.rewarmFrom == 2 && r.rewarmSteps == 20)
        #expect(r.optimizer.state().entries.values.allSatisfy { $0.step == 0 })
        var log: [TrainingProgress] = []
        try r.run { log.append($0) }
        #expect(log.map(\.step) == [3, 4, 5])
        let base = r.config.lr(atStep: 2)
        #expect(base > 0)
        for (i, p) in log.enumerated() {
            #expect(abs(Double(p.lr) - Double(base) * Double(i + 1) / 21) <= 1e-6 * Double(base), "update \(p.step): \(p.lr)")
        }
        // Later checkpoints hold moments again, and the re-warm goes on after another resume.
        let later = try Checkpoint.readState(Checkpoint.latest(out: dest)!)
        #expect(later.hasMoments == true && later.rewarmFrom == 2 && Set(later.optimizerSteps.values).subtracting([0]) == [3])
        let again = try Self.setup(out: dest, steps: 6, configure: { $0.validEvery = 0 })
        try again.resume()
        #expect(again.rewarmFrom == 2 && Set(again.optimizer.state().entries.values.map(\.step)).subtracting([0]) == [3])
        #expect(again.learningRate(atStep: 5) == again.config.lr(atStep: 5) * 4 / 21)
        #expect(again.learningRate(atStep: 22) == again.config.lr(atStep: 22))
        // A checkpoint that claims moments but lost its file is refused.
        try FileManager.default.removeItem(atPath: Checkpoint.latest(out: out)! + "/optimizer.safetensors")
        let broken = try Self.setup(out: out, steps: 3)
        #expect(throws: TrainingError.self) { try broken.resume() }
    }
}

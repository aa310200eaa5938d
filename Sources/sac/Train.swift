import ArgumentParser
import Foundation
import SACCompression
import SACData
import SACModel
import SACTensor
import SACTraining

extension Objective: ExpressibleByArgument {}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a compressor (LM/AE pre-training or QA fine-tuning).",
        discussion: """
            Writes the adapter to --out (adapter_model.safetensors, adapter_config.json, sac_config.json), \
            checkpoints to --out/checkpoints (atomic; --resume continues from the newest) and one JSON line \
            per update to --out/train_log.jsonl. Progress (step, loss, lr, tokens/s, ETA) goes to stderr.
            Data: MRQA .jsonl/.jsonl.gz and SQuAD .json (QA; their contexts also serve as text for lm/ae), \
            plain .txt corpora (lm/ae).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var methodOptions: MethodOptions
    @Option(help: "Objective: lm, ae, ae+lm, qa.") var objective: Objective
    @Option(parsing: .upToNextOption, help: "Data files.") var data: [String]
    @Option(help: "Optimiser updates.") var steps: Int
    @Option(help: "Examples per update (gradient accumulation).") var batch = 16
    @Option(help: "Peak learning rate (default 1e-4, or 5e-5 for qa).") var lr: Float?
    @Option(help: "Linear warm-up updates.") var warmup = 300
    @Option(help: "Gradient-norm clipping.") var clip: Float = 2.0
    @Option(help: "AdamW weight decay.") var weightDecay: Float = 0.1
    @Option(help: "Validation every N updates (0: never): the loss, and greedy F1/EM on held-out questions.") var validEvery = 50
    @Option(help: "Validation examples for the loss.") var validExamples = 16
    @Option(help: "Held-out questions answered greedily for F1/EM at each validation (0: loss only). The best adapter by F1 goes to --out/best.")
    var validQuestions = 200
    @Option(help: "Distinct contexts, the last ones of the QA files, held out for validation and never trained on.")
    var validContexts = 100
    @Option(help: "Share of QA examples whose paragraph is placed among --distractors other training paragraphs (contexts longer than a chunk).")
    var multiChunk: Double = 0
    @Option(help: "Other paragraphs around the question's paragraph in a multi-chunk example.") var distractors = 3
    @Option(help: "Keep the first N tokens of each context (0: all): for contexts longer than the model's positions (QMSum transcripts).")
    var contextTokens = 0
    @Option(help: "Final updates over which the learning rate falls linearly to 0 (0: constant after warm-up). May change on --resume.")
    var decaySteps = 0
    @Option(help: "Stop once the run's training time (validation excluded, all sittings) reaches this many minutes (0: no limit).")
    var trainMinutes: Double = 0
    @Option(help: "Final minutes of --train-minutes over which the learning rate falls linearly to 0 (0: none): a decay for runs whose length is set by time. May change on --resume.")
    var decayMinutes: Double = 0
    @Option(help: "Checkpoint every N updates.") var checkpointEvery = 50
    @Option(help: "LM/AE window length range in tokens, e.g. 510-1020.") var lmTokens = "510-1020"
    @Option(help: "AE weight for ae+lm.") var aeWeight: Float = 0.5
    @Option(help: "LM weight for ae+lm.") var lmWeight: Float = 0.5
    @Option(help: "Distil from a teacher: 'frozen' (the base model reading the whole context; for lm, segment A then B) or a trained adapter directory (e.g. a full adapter).")
    var teacher: String?
    @Option(help: "With --teacher: weight of the answer cross-entropy.") var ceWeight: Float = 1
    @Option(help: "With --teacher: weight of the KL divergence from the teacher's next-token distributions (every decoder row).")
    var klWeight: Float = 1
    @Option(help: "With --teacher: weight of the per-layer hidden-state error against the teacher (every decoder row).")
    var hiddenWeight: Float = 1
    @Option(name: .customLong("init"), help: "Start from this trained adapter (e.g. LM pre-training before QA fine-tuning).")
    var initFrom: String?
    @Option(help: "Read at most N lines of each QA file.") var limit: Int?
    @Option(help: "Output directory.") var out: String
    @Flag(help: "Continue from the newest checkpoint in --out.") var resume = false
    @Flag(inversion: .prefixedNo, help: "Keep the frozen weights packed for the GEMM in both directions: faster steps for ≈ 8 bytes more per weight (1.1 GB for SmolLM2-135M).")
    var prepack = true

    func run() throws {
        let parts = lmTokens.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 4, parts[0] <= parts[1] else {
            throw ValidationError("--lm-tokens: expected MIN-MAX with 4 ≤ MIN ≤ MAX, got \(lmTokens)")
        }
        guard trainMinutes >= 0, trainMinutes.isFinite else {
            throw ValidationError("--train-minutes: expected a number of minutes ≥ 0 (0: no limit), got \(trainMinutes)")
        }
        let trainSeed = methodOptions.seed ?? 0
        // Settings are checked before the model loads: a typo costs no time.
        var cfg = TrainerConfig(objective: objective, steps: steps, lr: lr)
        cfg.batchSize = batch
        cfg.warmupSteps = warmup
        cfg.clipNorm = clip
        cfg.weightDecay = weightDecay
        cfg.seed = trainSeed
        cfg.validEvery = validEvery
        cfg.validExamples = validExamples
        cfg.validQuestions = validQuestions
        cfg.validContexts = validContexts
        cfg.multiChunkFraction = multiChunk
        cfg.distractors = distractors
        cfg.contextTokens = contextTokens
        cfg.decaySteps = decaySteps
        cfg.maxTrainSeconds = trainMinutes * 60
        cfg.decaySeconds = decayMinutes * 60
        cfg.checkpointEvery = checkpointEvery
        cfg.aeWeight = aeWeight
        cfg.lmWeight = lmWeight
        cfg.ceWeight = ceWeight
        cfg.klWeight = klWeight
        cfg.hiddenWeight = hiddenWeight
        cfg.teacher = teacher ?? "none"  // the teacher's identity replaces it once loaded
        try cfg.validate()
        // Checked before the model loads; a resumed run takes its settings from its checkpoint.
        let settings = initFrom == nil && !resume ? try methodOptions.settings() : nil
        var loaded = try modelOptions.load(dequantize: true)
        if prepack {
            let t0 = Date()
            loaded = loaded.prepacked(forward: true, backward: true, head: true)
            stderr(String(format: "packed the frozen weights for the GEMM (%.0f MB) in %.2f s",
                          Double(loaded.model.packedBytes) / 1e6, Date().timeIntervalSince(t0)))
        }
        let files = try DataFiles(paths: data, limit: limit)
        for (f, s) in files.skipped.prefix(20) { stderr("skipped \(f) \(s)") }
        if !files.skipped.isEmpty { stderr("skipped \(files.skipped.count) unreadable line(s) in the data") }
        let compressor: Compressor
        // A resumed run takes its compressor settings from its checkpoint (it may have begun
        // from an --init adapter with settings the flags leave out); options given must match.
        let resumeFrom = resume && initFrom == nil ? Checkpoint.latest(out: out) : nil
        if let source = initFrom ?? resumeFrom {
            compressor = try Compressor.load(adapter: source, model: loaded.model)
            let conflicts = try methodOptions.conflicts(with: compressor.settings)
            if !conflicts.isEmpty {
                let what = initFrom != nil ? "--init \(source)" : "the checkpoint \(source)"
                throw ValidationError("\(what) was trained with other compressor settings: \(conflicts.joined(separator: "; ")); drop these options or make them match")
            }
        } else {
            compressor = try Compressor(model: loaded.model, settings: settings ?? methodOptions.settings(), seed: trainSeed)
        }
        var prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: loaded.model.config)
        prompt.contextLimit = contextTokens > 0 ? contextTokens : nil
        stderr("preparing \(objective.rawValue) data from \(data.count) file(s)…")
        let trainingData = try TrainingData(
            files: files, objective: objective, prompt: prompt, lmTokens: parts[0]...parts[1], seed: trainSeed,
            validContexts: validContexts, multiChunkFraction: multiChunk, distractors: distractors)
        var teacherModel: Teacher?
        if let teacher {
            if teacher == "frozen" {
                teacherModel = Teacher(model: loaded.model)
            } else {
                teacherModel = try Teacher(compressor: Compressor.load(adapter: teacher, model: loaded.model))
            }
            stderr("teacher: \(teacher) (\(teacherModel!.identity)); weights CE \(ceWeight), KL \(klWeight), hidden \(hiddenWeight)")
        } else if ceWeight != 1 || klWeight != 1 || hiddenWeight != 1 {
            throw ValidationError("--ce-weight, --kl-weight and --hidden-weight need --teacher")
        }
        let trainer = try Trainer(
            compressor: compressor, data: trainingData, dataFingerprint: files.fingerprint, config: cfg, out: out,
            modelName: loaded.name, teacher: teacherModel)
        let stop = StopFlag.installed()
        trainer.shouldStop = { stop.isSet }
        if resume {
            try trainer.resume()
            stderr("resumed from step \(trainer.step)")
            if let from = trainer.rewarmFrom, trainer.step - from < trainer.rewarmSteps {
                stderr("the checkpoint has no optimiser moments: fresh AdamW, learning rate re-warmed over updates \(from + 1)–\(from + trainer.rewarmSteps)")
            }
        } else if Checkpoint.latest(out: out) != nil {
            throw ValidationError("\(out) already holds checkpoints: pass --resume to continue, or choose another --out")
        }
        let s = compressor.settings
        let trainable = compressor.parameters.reduce(0) { $0 + $1.count }
        stderr("training \(s.method.rawValue) \(s.method == .full ? "" : "\(s.ratio)x ")with \(objective.rawValue): "
            + "\(trainable) trainable parameters, \(trainingData.trainCount) training examples, batch \(batch), \(steps) updates; "
            + "\(trainingData.qaHeldOut.count) held-out questions, \(min(validQuestions, trainingData.qaHeldOut.count)) answered at each validation")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let log = FileHandle.forAppending(path: out + "/train_log.jsonl")
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try trainer.run { p in
            stderr(p.line)
            if let line = try? enc.encode(p) { log?.write(line + Data("\n".utf8)) }
        }
        try? log?.close()
        if stop.isSet { stderr("stopped by a signal at update \(trainer.step) (checkpoint written; --resume continues)") }
        stderr("adapter written to \(out)")
    }
}

extension FileHandle {
    /// A handle appending to `path` (created if missing), or nil.
    static func forAppending(path: String) -> FileHandle? {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let h = FileHandle(forWritingAtPath: path)
        h?.seekToEndOfFile()
        return h
    }
}

extension MethodOptions {
    /// The options given explicitly on the command line that disagree with `s` (the settings
    /// an `--init` adapter or a resumed checkpoint was trained with), each as "--option given
    /// (adapter: value)". Options left out take the adapter's values; `--seed` only orders the
    /// data when continuing.
    func conflicts(with s: CompressorSettings) throws -> [String] {
        var out: [String] = []
        func check<T: Equatable>(_ name: String, _ given: T?, _ actual: T) {
            if let given, given != actual { out.append("\(name) \(given) (adapter: \(actual))") }
        }
        check("--method", method?.rawValue, s.method.rawValue)
        check("--ratio", ratio, s.ratio)
        check("--chunk-size", chunkSize, s.chunkSize)
        check("--anchors", anchors.map { "\($0)" }, "\(s.anchors)")
        check("--anchor-embedding", anchorEmbedding.map { "\($0)" }, "\(s.anchorEmbedding)")
        check("--attention", attention.map { "\($0)" }, "\(s.attention)")
        let none = "none"
        check("--lora-rank", loraRank.map { "\($0)" }, s.lora.map { "\($0.rank)" } ?? none)
        check("--lora-alpha", loraAlpha.map { "\($0)" }, s.lora.map { "\($0.alpha)" } ?? none)
        if let loraTargets {
            let given = try Set(loraTargets.split(separator: ",").map { name -> String in
                let n = name.trimmingCharacters(in: .whitespaces)
                guard LoRATarget(rawValue: n) != nil else {
                    throw ValidationError("--lora-targets: unknown module \(n); expected some of \(LoRATarget.allCases.map(\.rawValue).joined(separator: ","))")
                }
                return n
            })
            let actual = Set(s.lora?.targets.map(\.rawValue) ?? [])
            if given != actual {
                out.append("--lora-targets \(loraTargets) (adapter: \(s.lora.map { $0.targets.map(\.rawValue).joined(separator: ",") } ?? none))")
            }
        }
        if memoryPerChunkLength && !s.memoryPerChunkLength { out.append("--memory-per-chunk-length (adapter: off)") }
        check("--max-context-tokens", maxContextTokens, s.maxContextTokens)
        return out
    }
}

/// Set by SIGINT or SIGTERM: the trainer finishes its update, checkpoints and stops (a second
/// signal ends the process at once).
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    private var sources: [DispatchSourceSignal] = []

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return set }

    static func installed() -> StopFlag {
        let flag = StopFlag()
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                flag.lock.lock()
                let again = flag.set
                flag.set = true
                flag.lock.unlock()
                if again { exit(130) }
                FileHandle.standardError.write(Data("signal \(sig): stopping after this update (again to quit now)\n".utf8))
            }
            src.resume()
            flag.sources.append(src)
        }
        return flag
    }
}

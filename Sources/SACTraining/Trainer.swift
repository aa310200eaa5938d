import Foundation
import SACCompression
import SACData
import SACEvaluation
import SACModel
import SACTensor

/// One line of training progress.
public struct TrainingProgress: Sendable, Codable {
    public var step: Int
    public var steps: Int
    /// Mean token loss of the update (per objective mean, weighted for ae+lm).
    public var loss: Double
    public var lr: Float
    public var gradNorm: Float
    /// Encoder + decoder tokens per second over this update.
    public var tokensPerSecond: Double
    public var elapsedSeconds: Double
    /// Seconds to the end: the steps left at this sitting's pace, or the training-time budget
    /// left (`maxTrainSeconds`), whichever is less. Validations not counted.
    public var etaSeconds: Double
    /// With a teacher: the update's plain cross-entropy (token mean), KL divergence and
    /// hidden-state error (row means), unweighted.
    public var ce: Double?
    public var kl: Double?
    public var hiddenError: Double?
    /// Validation loss (plain cross-entropy, whatever the objective's terms), on updates that ran it.
    public var validLoss: Double?
    /// Greedy SQuAD F1 / EM and the paper's ROUGE-1 F / EM (percent) on the held-out
    /// questions, on updates that ran them; their number.
    public var validF1: Double?
    public var validEM: Double?
    public var validRouge1F: Double?
    public var validPaperEM: Double?
    public var validQuestions: Int?
    /// Seconds this validation took (not counted in `trainSeconds`).
    public var validSeconds: Double?
    /// Seconds of training updates over the whole run, every sitting (no validation or checkpoints).
    public var trainSeconds: Double = 0

    /// "step 12/2000 | loss 3.2140 | lr 4.00e-06 | |g| 1.23 | 812 tok/s | 1m03s | ETA 1h44m".
    public var line: String {
        var s = "step \(step)/\(steps) | loss \(String(format: "%.4f", loss))"
        if let ce, let kl, let h = hiddenError {
            s += " (ce \(String(format: "%.3f", ce)) kl \(String(format: "%.3f", kl)) hid \(String(format: "%.3f", h)))"
        }
        s += " | lr \(String(format: "%.2e", lr))"
        s += " | |g| \(String(format: "%.2f", gradNorm)) | \(Int(tokensPerSecond)) tok/s"
        s += " | \(Self.duration(elapsedSeconds)) | ETA \(Self.duration(etaSeconds))"
        if let v = validLoss { s += " | valid \(String(format: "%.4f", v))" }
        if let f = validF1, let e = validEM {
            s += " | F1 \(String(format: "%.2f", f)) EM \(String(format: "%.2f", e)) on \(validQuestions ?? 0)"
        }
        if let v = validSeconds { s += " (\(Self.duration(v)))" }
        return s
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        if t >= 3600 { return "\(t / 3600)h\(String(format: "%02d", (t % 3600) / 60))m" }
        if t >= 60 { return "\(t / 60)m\(String(format: "%02d", t % 60))s" }
        return "\(t)s"
    }
}

/// Trains a compressor: gradient accumulation over `batchSize` examples, token-level mean
/// loss per objective, global norm clipping, AdamW with linear warm-up then constant,
/// validation, atomic checkpoints and exact resume.
public final class Trainer {
    public let compressor: Compressor
    public let data: TrainingData
    public let config: TrainerConfig
    public let out: String
    public let modelName: String
    public let optimizer: AdamW
    /// The distillation target (nil: plain cross-entropy).
    public let teacher: Teacher?
    let dataFingerprint: String
    /// Updates done.
    public private(set) var step = 0
    /// Seconds of training updates over the run (restored on resume).
    public private(set) var trainSeconds = 0.0
    /// The update from which the learning rate is re-warmed: set when a run resumes from a
    /// checkpoint without optimiser moments (fresh AdamW), and restored from later checkpoints.
    public private(set) var rewarmFrom: Int?
    /// Updates of a re-warm: the configured warm-up, at least 20.
    public var rewarmSteps: Int { max(20, config.warmupSteps) }

    /// The learning rate of update `k`: the configured schedule (`TrainerConfig.lr`, at the
    /// training time so far), scaled by (k − from + 1) / (rewarmSteps + 1) during a re-warm.
    public func learningRate(atStep k: Int) -> Float {
        let lr = config.lr(atStep: k, trainSeconds: trainSeconds)
        guard let from = rewarmFrom, k >= from, k - from < rewarmSteps else { return lr }
        return lr * Float(k - from + 1) / Float(rewarmSteps + 1)
    }
    /// Asked after every update; true stops the run there with a checkpoint (a signal handler's flag).
    public var shouldStop: @Sendable () -> Bool = { false }
    /// The best validation F1 so far and its update.
    public private(set) var bestF1: Double?
    public private(set) var bestStep: Int?

    public init(
        compressor: Compressor, data: TrainingData, dataFingerprint: String, config: TrainerConfig, out: String, modelName: String,
        teacher: Teacher? = nil
    ) throws {
        var config = config
        if let teacher {
            guard Identity.model(teacher.model) == compressor.modelIdentity else {
                throw TrainingError.mismatch(
                    file: "teacher", field: "model", expected: compressor.modelIdentity, found: Identity.model(teacher.model))
            }
            config.teacher = teacher.identity
        }
        try config.validate()
        self.teacher = teacher
        guard compressor.settings.method.isTrainable else {
            throw TrainingError.nothingToTrain(method: compressor.settings.method.rawValue)
        }
        self.compressor = compressor
        self.data = data
        self.config = config
        self.out = out
        self.modelName = modelName
        self.dataFingerprint = dataFingerprint
        optimizer = try AdamW(
            groups: [AdamW.ParamGroup(params: compressor.parameters, weightDecay: config.weightDecay)],
            lr: config.lr, betas: (config.beta1, config.beta2), eps: 1e-8)
    }

    /// Continues from `out`'s latest checkpoint. Throws when there is none, or when it was
    /// made with other settings, objective, seed, batch or data.
    public func resume() throws {
        guard let path = Checkpoint.latest(out: out) else {
            throw TrainingError.invalidCheckpoint(file: out + "/checkpoints/latest", detail: "no checkpoint to resume from")
        }
        let state = try Checkpoint.readState(path)
        let differing = config.resultAffectingDifferences(from: state.config)
        guard differing.isEmpty else {
            throw TrainingError.mismatch(
                file: path, field: "training configuration (\(differing.map(\.name).joined(separator: ", ")))",
                expected: differing.map { "\($0.name) \($0.now)" }.joined(separator: ", "),
                found: differing.map { "\($0.name) \($0.saved)" }.joined(separator: ", "))
        }
        guard state.data == dataFingerprint else {
            throw TrainingError.mismatch(file: path, field: "training data", expected: dataFingerprint, found: state.data)
        }
        try Checkpoint.restore(path, compressor: compressor, optimizer: optimizer, state: state)
        rewarmFrom = state.hasMoments == false ? state.step : state.rewarmFrom
        step = state.step
        trainSeconds = state.trainSeconds ?? 0
        bestF1 = state.bestF1
        bestStep = state.bestStep
    }

    /// The weighted sum of `examples`' losses (per-kind token-mean cross-entropy, and with a
    /// teacher and `distill` the row-mean KL divergence and hidden-state error), with gradients
    /// when `backward`; and the unweighted terms.
    func batchLoss(_ examples: [TrainingExample], backward: Bool, distill: Bool = true) throws
        -> (total: Double, ce: Double, kl: Double, hidden: Double)
    {
        let teacher = distill ? self.teacher : nil
        var counts: [LossKind: Int] = [:]
        var rows = 0
        for e in examples {
            for k in [LossKind.lm, .ae, .qa] { counts[k, default: 0] += e.supervisedTokens(k) }
            for d in e.decoders { rows += d.0.ids.count + 1 }
        }
        func weight(_ k: LossKind) -> Float {
            switch (config.objective, k) {
            case (.aeLM, .ae): return config.aeWeight
            case (.aeLM, .lm): return config.lmWeight
            default: return 1
            }
        }
        let ceWeight = teacher == nil ? 1 : config.ceWeight
        var sums: [LossKind: Double] = [:]
        var klSum = 0.0, hiddenSum = 0.0
        for e in examples {
            let decs = e.decoders.map { d -> (DecoderSequence, Float) in
                let n = counts[d.1] ?? 0
                return (d.0, n > 0 ? ceWeight * weight(d.1) / Float(n) : 0)
            }
            var dist: [Distillation?]? = nil
            if let teacher {
                dist = try e.decoders.map { d in
                    Distillation(
                        teacher: try teacher.targets(context: e.context, decoder: d.0),
                        klScale: config.klWeight / Float(rows), hiddenScale: config.hiddenWeight / Float(rows))
                }
            }
            let r = try compressor.loss(context: e.context, decoders: decs, distillation: dist, backward: backward)
            for (i, d) in e.decoders.enumerated() {
                sums[d.1, default: 0] += r[i].lossSum
                klSum += r[i].klSum
                hiddenSum += r[i].hiddenSum
            }
        }
        var ce = 0.0
        for (k, s) in sums where (counts[k] ?? 0) > 0 { ce += Double(weight(k)) * s / Double(counts[k]!) }
        guard teacher != nil, rows > 0 else { return (ce, ce, 0, 0) }
        let kl = klSum / Double(rows), hidden = hiddenSum / Double(rows)
        let total = Double(config.ceWeight) * ce + Double(config.klWeight) * kl + Double(config.hiddenWeight) * hidden
        return (total, ce, kl, hidden)
    }

    /// Mean validation loss over `config.validExamples` held-out examples (no gradients).
    public func validationLoss() throws -> Double? {
        let ex = data.validationExamples(limit: config.validExamples)
        if ex.isEmpty { return nil }
        return try batchLoss(ex, backward: false, distill: false).ce
    }

    /// Greedy answers to `config.validQuestions` held-out questions (`TrainingData.validationQA`),
    /// scored; nil when there are none or `validQuestions` is 0.
    public func validationScores() throws -> DatasetScores? {
        guard config.validQuestions > 0 else { return nil }
        let qa = data.validationQA(limit: config.validQuestions)
        if qa.isEmpty { return nil }
        var ev = Evaluator(compressor: compressor, prompt: data.prompt, maxNewTokens: 32)
        return try ev.evaluate(QAReadResult(examples: qa, skipped: [], name: "held-out"))
    }

    /// Runs updates `step..<config.steps`, calling `progress` after each, checkpointing every
    /// `checkpointEvery` updates and at the end. A run resumed at its last step has nothing to
    /// do; it still writes the adapter files at the top of `out` (from the checkpoint's values),
    /// so that `out` always holds the adapter when `run` returns.
    public func run(progress: (TrainingProgress) -> Void) throws {
        let params = compressor.parameters
        var sittingSeconds = 0.0
        var tokensDone = 0
        let firstStep = step
        var lastLoss: Double?
        if step >= config.steps || (config.maxTrainSeconds > 0 && trainSeconds >= config.maxTrainSeconds) {
            try compressor.saveAdapter(to: out, modelName: modelName)
            return
        }
        while step < config.steps {
            let t0 = Date()
            let examples = (0..<config.batchSize).map { data.trainExample(step * config.batchSize + $0) }
            optimizer.zeroGrad()
            let terms = try batchLoss(examples, backward: true)
            let loss = terms.total
            let norm = try clipGradNorm(params, maxNorm: config.clipNorm)
            optimizer.lr = learningRate(atStep: step)
            if norm.isFinite { optimizer.step() }
            optimizer.zeroGrad()
            step += 1
            let tokens = examples.reduce(0) { $0 + $1.tokenCount }
            tokensDone += tokens
            let seconds = Date().timeIntervalSince(t0)
            sittingSeconds += seconds
            trainSeconds += seconds
            let perStep = sittingSeconds / Double(step - firstStep)
            // The end is the step limit or the training-time budget, whichever comes first.
            var eta = perStep * Double(config.steps - step)
            if config.maxTrainSeconds > 0 { eta = min(eta, max(0, config.maxTrainSeconds - trainSeconds)) }
            var p = TrainingProgress(
                step: step, steps: config.steps, loss: loss, lr: optimizer.lr, gradNorm: norm,
                tokensPerSecond: Double(tokens) / max(1e-9, seconds), elapsedSeconds: sittingSeconds,
                etaSeconds: eta, validLoss: nil)
            p.trainSeconds = trainSeconds
            if teacher != nil { p.ce = terms.ce; p.kl = terms.kl; p.hiddenError = terms.hidden }
            var improved = false
            let outOfTime = config.maxTrainSeconds > 0 && trainSeconds >= config.maxTrainSeconds
            let stopping = shouldStop()
            let last = step == config.steps || outOfTime
            if config.validEvery > 0 && (step % config.validEvery == 0 || last) {
                let v0 = Date()
                p.validLoss = try validationLoss()
                if let sc = try validationScores() {
                    p.validF1 = sc.squadF1; p.validEM = sc.squadEM
                    p.validRouge1F = sc.rouge1F; p.validPaperEM = sc.em
                    p.validQuestions = sc.count
                    if bestF1 == nil || sc.squadF1 > bestF1! { bestF1 = sc.squadF1; bestStep = step; improved = true }
                }
                p.validSeconds = Date().timeIntervalSince(v0)
            }
            lastLoss = loss
            progress(p)
            if improved { try saveBest() }
            if step % config.checkpointEvery == 0 || last || improved || stopping {
                try checkpoint(loss: lastLoss)
            }
            if outOfTime || stopping { break }
        }
    }

    /// Writes a checkpoint at the current step and the adapter files at the top of `out`.
    public func checkpoint(loss: Double?) throws {
        let state = TrainerState(
            step: step, config: config, settings: compressor.settings, data: dataFingerprint, optimizerSteps: [:], loss: loss,
            trainSeconds: trainSeconds, bestF1: bestF1, bestStep: bestStep, hasMoments: true, rewarmFrom: rewarmFrom)
        try Checkpoint.save(out: out, compressor: compressor, optimizer: optimizer, state: state, modelName: modelName)
        try compressor.saveAdapter(to: out, modelName: modelName)
    }

    /// Writes the current adapter to `out/best` (the checkpoint with the best validation F1)
    /// with `best.json` {step, f1}: into a temporary directory first, then renamed into place.
    func saveBest() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try AtomicFile.replaceDirectory(at: out + "/best") { tmp in
            try compressor.saveAdapter(to: tmp, modelName: modelName)
            let info: [String: Double] = ["step": Double(step), "f1": bestF1 ?? 0, "trainSeconds": trainSeconds]
            try AtomicFile.write(JSONEncoder.pretty.encode(info), to: tmp + "/best.json")
        }
    }
}

import Foundation
import SACCompression
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
    public var etaSeconds: Double
    /// Validation loss, on updates that ran it.
    public var validLoss: Double?

    /// "step 12/2000 | loss 3.2140 | lr 4.00e-06 | |g| 1.23 | 812 tok/s | 1m03s | ETA 1h44m".
    public var line: String {
        var s = "step \(step)/\(steps) | loss \(String(format: "%.4f", loss)) | lr \(String(format: "%.2e", lr))"
        s += " | |g| \(String(format: "%.2f", gradNorm)) | \(Int(tokensPerSecond)) tok/s"
        s += " | \(Self.duration(elapsedSeconds)) | ETA \(Self.duration(etaSeconds))"
        if let v = validLoss { s += " | valid \(String(format: "%.4f", v))" }
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
    let dataFingerprint: String
    /// Updates done.
    public private(set) var step = 0

    public init(compressor: Compressor, data: TrainingData, dataFingerprint: String, config: TrainerConfig, out: String, modelName: String) throws {
        try config.validate()
        guard compressor.settings.method.isTrainable else {
            throw CompressionError.invalidOption(option: "--method tokens", detail: "is training-free: nothing to train")
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
            throw CompressionError.invalidFile(file: out + "/checkpoints/latest", detail: "no checkpoint to resume from")
        }
        let state = try Checkpoint.readState(path)
        let differing = config.resultAffectingDifferences(from: state.config)
        guard differing.isEmpty else {
            throw CompressionError.identityMismatch(
                file: path, field: "training configuration (\(differing.map(\.name).joined(separator: ", ")))",
                expected: differing.map { "\($0.name) \($0.now)" }.joined(separator: ", "),
                found: differing.map { "\($0.name) \($0.saved)" }.joined(separator: ", "))
        }
        guard state.data == dataFingerprint else {
            throw CompressionError.identityMismatch(file: path, field: "training data", expected: dataFingerprint, found: state.data)
        }
        try Checkpoint.restore(path, compressor: compressor, optimizer: optimizer, state: state)
        step = state.step
    }

    /// Weighted sum of per-kind token-mean losses of `examples`, with gradients when `backward`.
    func batchLoss(_ examples: [TrainingExample], backward: Bool) throws -> Double {
        var counts: [LossKind: Int] = [:]
        for e in examples {
            for k in [LossKind.lm, .ae, .qa] { counts[k, default: 0] += e.supervisedTokens(k) }
        }
        func weight(_ k: LossKind) -> Float {
            switch (config.objective, k) {
            case (.aeLM, .ae): return config.aeWeight
            case (.aeLM, .lm): return config.lmWeight
            default: return 1
            }
        }
        var sums: [LossKind: Double] = [:]
        for e in examples {
            let decs = e.decoders.map { d -> (DecoderSequence, Float) in
                let n = counts[d.1] ?? 0
                return (d.0, n > 0 ? weight(d.1) / Float(n) : 0)
            }
            let r = try compressor.loss(context: e.context, decoders: decs, backward: backward)
            for (i, d) in e.decoders.enumerated() { sums[d.1, default: 0] += r[i].lossSum }
        }
        var total = 0.0
        for (k, s) in sums where (counts[k] ?? 0) > 0 { total += Double(weight(k)) * s / Double(counts[k]!) }
        return total
    }

    /// Mean validation loss over `config.validExamples` held-out examples (no gradients).
    public func validationLoss() throws -> Double? {
        let ex = data.validationExamples(limit: config.validExamples)
        if ex.isEmpty { return nil }
        return try batchLoss(ex, backward: false)
    }

    /// Runs updates `step..<config.steps`, calling `progress` after each, checkpointing every
    /// `checkpointEvery` updates and at the end. A run resumed at its last step has nothing to
    /// do; it still writes the adapter files at the top of `out` (from the checkpoint's values),
    /// so that `out` always holds the adapter when `run` returns.
    public func run(progress: (TrainingProgress) -> Void) throws {
        let params = compressor.parameters
        let start = Date()
        var tokensDone = 0
        let firstStep = step
        var lastLoss: Double?
        if step >= config.steps {
            try compressor.saveAdapter(to: out, modelName: modelName)
            return
        }
        while step < config.steps {
            let t0 = Date()
            let examples = (0..<config.batchSize).map { data.trainExample(step * config.batchSize + $0) }
            optimizer.zeroGrad()
            let loss = try batchLoss(examples, backward: true)
            let norm = try clipGradNorm(params, maxNorm: config.clipNorm)
            optimizer.lr = config.schedule.lr(atStep: step)
            if norm.isFinite { optimizer.step() }
            optimizer.zeroGrad()
            step += 1
            let tokens = examples.reduce(0) { $0 + $1.tokenCount }
            tokensDone += tokens
            let elapsed = Date().timeIntervalSince(start)
            let perStep = elapsed / Double(step - firstStep)
            var p = TrainingProgress(
                step: step, steps: config.steps, loss: loss, lr: optimizer.lr, gradNorm: norm,
                tokensPerSecond: Double(tokens) / max(1e-9, Date().timeIntervalSince(t0)), elapsedSeconds: elapsed,
                etaSeconds: perStep * Double(config.steps - step), validLoss: nil)
            if config.validEvery > 0 && (step % config.validEvery == 0 || step == config.steps) {
                p.validLoss = try validationLoss()
            }
            lastLoss = loss
            progress(p)
            if step % config.checkpointEvery == 0 || step == config.steps {
                try checkpoint(loss: lastLoss)
            }
        }
    }

    /// Writes a checkpoint at the current step and the adapter files at the top of `out`.
    public func checkpoint(loss: Double?) throws {
        let state = TrainerState(
            step: step, config: config, settings: compressor.settings, data: dataFingerprint, optimizerSteps: [:], loss: loss)
        try Checkpoint.save(out: out, compressor: compressor, optimizer: optimizer, state: state, modelName: modelName)
        try compressor.saveAdapter(to: out, modelName: modelName)
    }
}

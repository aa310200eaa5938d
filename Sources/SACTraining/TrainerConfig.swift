import SACTensor

/// Optimisation settings; the defaults are the paper's (SPEC §7) except the number of steps.
public struct TrainerConfig: Codable, Sendable, Equatable {
    public var objective: Objective
    /// Optimiser updates.
    public var steps: Int
    /// Examples per update (gradient accumulation; the paper's batch is 16).
    public var batchSize = 16
    /// Peak learning rate (paper: 1e-4 pre-training, 5e-5 fine-tuning).
    public var lr: Float
    /// Linear warm-up updates, then constant.
    public var warmupSteps = 300
    public var clipNorm: Float = 2.0
    public var weightDecay: Float = 0.1
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var seed: UInt64 = 0
    /// Validation (loss, and greedy F1/EM on held-out questions) every N updates (0: never).
    public var validEvery = 100
    /// Validation examples for the loss.
    public var validExamples = 32
    /// Held-out questions answered greedily for F1/EM at each validation (0: loss only).
    public var validQuestions = 200
    /// Distinct contexts (the last ones of the QA files) held out for validation, never trained on.
    public var validContexts = 100
    /// Share of QA examples whose paragraph is placed among `distractors` other paragraphs.
    public var multiChunkFraction: Double = 0
    public var distractors = 3
    /// Context tokens kept from the start of each context (0: all): `QAPrompt.contextLimit`,
    /// for contexts longer than the model's positions allow (QMSum transcripts).
    public var contextTokens = 0
    /// Updates at the end of `steps` over which the learning rate falls linearly to 0
    /// (0: constant after warm-up, the paper's schedule). Not compared on resume, so a
    /// constant-rate run can be resumed with a decay to finish it.
    public var decaySteps = 0
    /// Stop after the update at which the run's training time (validation excluded, every
    /// sitting counted) reaches this many seconds, with a validation and a checkpoint there
    /// (0: no limit). For comparisons at equal wall time; not compared on resume.
    public var maxTrainSeconds: Double = 0
    /// Training seconds at the end of `maxTrainSeconds` over which the learning rate falls
    /// linearly to 0 (0: none): the decay of a run whose length is set by time, not updates
    /// (arms compared at equal wall time). The rate of each update then depends on the time
    /// the run has trained so far; the log records it. Not compared on resume.
    public var decaySeconds: Double = 0
    /// Distillation: "none", "frozen" (the base model reading the whole context) or the
    /// teacher adapter's identity. Set from the `Teacher` given to the `Trainer`.
    public var teacher = "none"
    /// Weights of the token-mean cross-entropy, the row-mean KL divergence from the teacher and
    /// the row-mean hidden-state error (the last two only with a teacher).
    public var ceWeight: Float = 1
    public var klWeight: Float = 1
    public var hiddenWeight: Float = 1
    /// Checkpoint every N updates (and at the end).
    public var checkpointEvery = 100
    /// Weights of the AE and LM losses for `ae+lm`.
    public var aeWeight: Float = 0.5
    public var lmWeight: Float = 0.5

    /// The paper's learning rate for the objective: 5e-5 for QA fine-tuning, else 1e-4.
    public init(objective: Objective, steps: Int, lr: Float? = nil) {
        self.objective = objective
        self.steps = steps
        self.lr = lr ?? (objective == .qa ? 5e-5 : 1e-4)
    }

    /// Linear warm-up, constant, then (with `decaySteps`) a linear decay to 0 at `steps`; with
    /// `decaySeconds` also a linear decay to 0 at `maxTrainSeconds`, by `trainSeconds`, the
    /// run's training time before update `k` (the smaller of the two factors applies).
    public func lr(atStep k: Int, trainSeconds: Double = 0) -> Float {
        let base = LRSchedule.constantWithWarmup(lr: lr, warmupSteps: warmupSteps).lr(atStep: k)
        var factor = 1.0
        if decaySteps > 0, k >= steps - decaySteps {
            factor = max(0, Double(steps - k) / Double(decaySteps))
        }
        if decaySeconds > 0, maxTrainSeconds > 0, trainSeconds > maxTrainSeconds - decaySeconds {
            factor = min(factor, max(0, (maxTrainSeconds - trainSeconds) / decaySeconds))
        }
        return factor == 1 ? base : Float(Double(base) * factor)
    }

    enum CodingKeys: String, CodingKey {
        case objective, steps, batchSize, lr, warmupSteps, clipNorm, weightDecay, beta1, beta2, seed, validEvery,
             validExamples, validQuestions, validContexts, multiChunkFraction, distractors, contextTokens, decaySteps, maxTrainSeconds, decaySeconds, teacher, ceWeight, klWeight, hiddenWeight, aeWeight, lmWeight
    }

    /// Decodes a configuration; fields added after a checkpoint was written take the values
    /// that reproduce what that run did (`validContexts` 0 there means "the old 5 % rule").
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        objective = try c.decode(Objective.self, forKey: .objective)
        steps = try c.decode(Int.self, forKey: .steps)
        lr = try c.decode(Float.self, forKey: .lr)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        warmupSteps = try c.decode(Int.self, forKey: .warmupSteps)
        clipNorm = try c.decode(Float.self, forKey: .clipNorm)
        weightDecay = try c.decode(Float.self, forKey: .weightDecay)
        beta1 = try c.decode(Float.self, forKey: .beta1)
        beta2 = try c.decode(Float.self, forKey: .beta2)
        seed = try c.decode(UInt64.self, forKey: .seed)
        validEvery = try c.decode(Int.self, forKey: .validEvery)
        validExamples = try c.decode(Int.self, forKey: .validExamples)
        validQuestions = try c.decodeIfPresent(Int.self, forKey: .validQuestions) ?? 0
        validContexts = try c.decodeIfPresent(Int.self, forKey: .validContexts) ?? 0
        multiChunkFraction = try c.decodeIfPresent(Double.self, forKey: .multiChunkFraction) ?? 0
        distractors = try c.decodeIfPresent(Int.self, forKey: .distractors) ?? 3
        contextTokens = try c.decodeIfPresent(Int.self, forKey: .contextTokens) ?? 0
        decaySteps = try c.decodeIfPresent(Int.self, forKey: .decaySteps) ?? 0
        maxTrainSeconds = try c.decodeIfPresent(Double.self, forKey: .maxTrainSeconds) ?? 0
        decaySeconds = try c.decodeIfPresent(Double.self, forKey: .decaySeconds) ?? 0
        teacher = try c.decodeIfPresent(String.self, forKey: .teacher) ?? "none"
        ceWeight = try c.decodeIfPresent(Float.self, forKey: .ceWeight) ?? 1
        klWeight = try c.decodeIfPresent(Float.self, forKey: .klWeight) ?? 1
        hiddenWeight = try c.decodeIfPresent(Float.self, forKey: .hiddenWeight) ?? 1
        aeWeight = try c.decode(Float.self, forKey: .aeWeight)
        lmWeight = try c.decode(Float.self, forKey: .lmWeight)
    }

    /// Throws `TrainingError.invalidSetting` (naming the field) for values that cannot work.
    public func validate() throws {
        func fail(_ field: String, _ detail: String) -> TrainingError { .invalidSetting(field: field, detail: detail) }
        guard steps >= 1 else { throw fail("steps", "\(steps), expected ≥ 1") }
        guard batchSize >= 1 else { throw fail("batchSize", "\(batchSize), expected ≥ 1") }
        guard lr.isFinite, lr > 0 else { throw fail("lr", "\(lr), expected > 0") }
        guard warmupSteps >= 0 else { throw fail("warmupSteps", "\(warmupSteps), expected ≥ 0") }
        guard clipNorm > 0 else { throw fail("clipNorm", "\(clipNorm), expected > 0") }
        guard validEvery >= 0 else { throw fail("validEvery", "\(validEvery), expected ≥ 0") }
        guard checkpointEvery >= 1 else { throw fail("checkpointEvery", "\(checkpointEvery), expected ≥ 1") }
        guard validQuestions >= 0 else { throw fail("validQuestions", "\(validQuestions), expected ≥ 0") }
        guard validContexts >= 1 else { throw fail("validContexts", "\(validContexts), expected ≥ 1") }
        guard multiChunkFraction >= 0, multiChunkFraction <= 1 else {
            throw fail("multiChunkFraction", "\(multiChunkFraction), expected in [0, 1]")
        }
        guard distractors >= 1 else { throw fail("distractors", "\(distractors), expected ≥ 1") }
        guard contextTokens >= 0 else { throw fail("contextTokens", "\(contextTokens), expected ≥ 0") }
        for (field, w) in [("ceWeight", ceWeight), ("klWeight", klWeight), ("hiddenWeight", hiddenWeight)]
        where !(w >= 0 && w.isFinite) {
            throw fail(field, "\(w), expected finite and ≥ 0")
        }
        guard ceWeight > 0 || (teacher != "none" && klWeight + hiddenWeight > 0) else {
            throw fail("ceWeight", "0 leaves nothing to train without a teacher and a positive KL or hidden-state weight")
        }
        guard maxTrainSeconds >= 0, maxTrainSeconds.isFinite else { throw fail("maxTrainSeconds", "\(maxTrainSeconds), expected ≥ 0") }
        guard decaySeconds >= 0, decaySeconds.isFinite else { throw fail("decaySeconds", "\(decaySeconds), expected ≥ 0") }
        guard decaySeconds == 0 || (maxTrainSeconds > 0 && decaySeconds <= maxTrainSeconds) else {
            throw fail("decaySeconds", "\(decaySeconds / 60) minutes, expected at most the time budget (\(maxTrainSeconds / 60) minutes)")
        }
        guard decaySteps >= 0, decaySteps <= steps else { throw fail("decaySteps", "\(decaySteps), expected in 0...\(steps)") }
        guard aeWeight >= 0, lmWeight >= 0, aeWeight + lmWeight > 0 else {
            throw fail("aeWeight", "AE \(aeWeight) and LM \(lmWeight) weights must be ≥ 0, not both 0")
        }
    }

    /// The settings that change what training computes (everything except the number of
    /// steps and how often to validate or checkpoint) that differ from `saved`, as
    /// (name, this value, saved value): resuming requires none.
    public func resultAffectingDifferences(from saved: TrainerConfig) -> [(name: String, now: String, saved: String)] {
        var out: [(name: String, now: String, saved: String)] = []
        func cmp<T: Equatable>(_ name: String, _ a: T, _ b: T) { if a != b { out.append((name, "\(a)", "\(b)")) } }
        cmp("objective", objective, saved.objective)
        cmp("batch", batchSize, saved.batchSize)
        cmp("lr", lr, saved.lr)
        cmp("warmup", warmupSteps, saved.warmupSteps)
        cmp("clip", clipNorm, saved.clipNorm)
        cmp("weight decay", weightDecay, saved.weightDecay)
        cmp("beta1", beta1, saved.beta1)
        cmp("beta2", beta2, saved.beta2)
        cmp("seed", seed, saved.seed)
        cmp("AE weight", aeWeight, saved.aeWeight)
        cmp("LM weight", lmWeight, saved.lmWeight)
        cmp("valid contexts", validContexts, saved.validContexts)
        cmp("teacher", teacher, saved.teacher)
        cmp("CE weight", ceWeight, saved.ceWeight)
        if teacher != "none" {
            cmp("KL weight", klWeight, saved.klWeight)
            cmp("hidden weight", hiddenWeight, saved.hiddenWeight)
        }
        cmp("multi-chunk", multiChunkFraction, saved.multiChunkFraction)
        cmp("distractors", distractors, saved.distractors)
        cmp("context tokens", contextTokens, saved.contextTokens)
        return out
    }
}

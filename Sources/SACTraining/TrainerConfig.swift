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
    /// Validation loss every N updates (0: never).
    public var validEvery = 100
    /// Validation examples.
    public var validExamples = 32
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

    public var schedule: LRSchedule { .constantWithWarmup(lr: lr, warmupSteps: warmupSteps) }

    /// Throws `TensorError.invalidArgument` for values that cannot work.
    public func validate() throws {
        func fail(_ d: String) -> TensorError { .invalidArgument(op: "TrainerConfig", detail: d) }
        guard steps >= 1 else { throw fail("--steps \(steps), expected ≥ 1") }
        guard batchSize >= 1 else { throw fail("--batch \(batchSize), expected ≥ 1") }
        guard lr.isFinite, lr > 0 else { throw fail("--lr \(lr), expected > 0") }
        guard warmupSteps >= 0 else { throw fail("--warmup \(warmupSteps), expected ≥ 0") }
        guard clipNorm > 0 else { throw fail("--clip \(clipNorm), expected > 0") }
        guard validEvery >= 0, checkpointEvery >= 1 else { throw fail("--valid-every ≥ 0 and --checkpoint-every ≥ 1") }
        guard aeWeight >= 0, lmWeight >= 0, aeWeight + lmWeight > 0 else { throw fail("AE/LM weights must be ≥ 0, not both 0") }
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
        return out
    }
}

import Foundation

/// Learning-rate schedules with the formulas of Hugging Face `transformers`
/// (`get_constant_schedule`, `get_constant_schedule_with_warmup`,
/// `get_linear_schedule_with_warmup`, `get_cosine_schedule_with_warmup`).
///
/// Step convention (as with `torch.optim.lr_scheduler.LambdaLR` stepped after each
/// optimiser step): the optimiser update number `k`, counting from **0**, uses
/// `lr(atStep: k)`. So with warmup the very first update uses `lr(atStep: 0) == 0`, and the
/// schedule reaches the base learning rate at update `warmupSteps`. The multiplier is
/// computed in Float64 (Python floats) and the product rounded once to Float32.
public enum LRSchedule: Sendable, Equatable, Codable {
    /// `lr` at every step.
    case constant(lr: Float)
    /// `lr · k / max(1, warmupSteps)` for `k < warmupSteps`, then `lr`.
    case constantWithWarmup(lr: Float, warmupSteps: Int)
    /// Linear warmup as above, then `lr · max(0, (totalSteps − k) / max(1, totalSteps − warmupSteps))`.
    case linear(lr: Float, warmupSteps: Int, totalSteps: Int)
    /// Linear warmup as above, then with `progress = (k − warmupSteps) / max(1, totalSteps − warmupSteps)`:
    /// `lr · max(0, f·(1 − minLRRate) + minLRRate)` where `f = 0.5·(1 + cos(π · numCycles · 2 · progress))`.
    /// HF's defaults are `numCycles = 0.5` (one half cosine down to 0) and `minLRRate = 0`.
    case cosine(lr: Float, warmupSteps: Int, totalSteps: Int, numCycles: Double = 0.5, minLRRate: Double = 0)

    /// The base (peak) learning rate.
    public var baseLR: Float {
        switch self {
        case .constant(let lr), .constantWithWarmup(let lr, _), .linear(let lr, _, _), .cosine(let lr, _, _, _, _):
            return lr
        }
    }

    /// Throws `TensorError.invalidArgument` when the schedule cannot work: a negative or
    /// non-finite learning rate, negative step counts, non-finite `numCycles`, or `minLRRate`
    /// outside `[0, 1]`. Call it on user-supplied schedules before training.
    public func validate() throws {
        let op = "LRSchedule"
        func fail(_ detail: String) -> TensorError { .invalidArgument(op: op, detail: detail) }
        guard baseLR.isFinite, baseLR >= 0 else { throw fail("lr = \(baseLR), expected finite >= 0") }
        switch self {
        case .constant: break
        case .constantWithWarmup(_, let w):
            guard w >= 0 else { throw fail("warmupSteps = \(w), expected >= 0") }
        case .linear(_, let w, let t):
            guard w >= 0, t >= 0 else { throw fail("warmupSteps = \(w), totalSteps = \(t), expected >= 0") }
        case .cosine(_, let w, let t, let c, let r):
            guard w >= 0, t >= 0 else { throw fail("warmupSteps = \(w), totalSteps = \(t), expected >= 0") }
            guard c.isFinite else { throw fail("numCycles = \(c), expected finite") }
            guard r >= 0, r <= 1 else { throw fail("minLRRate = \(r), expected in [0, 1]") }
        }
    }

    /// The factor applied to the base rate at update `step` (HF's `lr_lambda`), in Float64.
    /// Precondition: `step >= 0`.
    public func multiplier(atStep step: Int) -> Double {
        precondition(step >= 0, "LRSchedule: step = \(step)")
        func warm(_ w: Int) -> Double { Double(step) / Double(max(1, w)) }
        switch self {
        case .constant:
            return 1
        case .constantWithWarmup(_, let w):
            return step < w ? warm(w) : 1
        case .linear(_, let w, let t):
            if step < w { return warm(w) }
            return max(0, Double(t - step) / Double(max(1, t - w)))
        case .cosine(_, let w, let t, let cycles, let minRate):
            if step < w { return warm(w) }
            let progress = Double(step - w) / Double(max(1, t - w))
            let f = 0.5 * (1 + cos(Double.pi * cycles * 2 * progress))
            return max(0, f * (1 - minRate) + minRate)
        }
    }

    /// The learning rate of optimiser update `step` (0-based, see the type's step
    /// convention): `Float(Double(baseLR) · multiplier(atStep: step))`.
    /// Precondition: `step >= 0`.
    public func lr(atStep step: Int) -> Float {
        Float(Double(baseLR) * multiplier(atStep: step))
    }
}

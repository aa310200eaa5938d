/// Bookkeeping for gradient accumulation over several micro-batches per optimiser step,
/// normalised by tokens so that `k` micro-batches give exactly the gradient of one batch
/// holding their union.
///
/// The rule: each micro-batch's backward pass uses the **sum** of its per-token losses
/// (not the mean), so gradients add up over the window; at the end of the window the
/// gradients are multiplied by `1 / tokenCount`, the number of counted (unmasked) tokens
/// over the whole window. The result equals the gradient of the mean per-token loss over
/// the union, whatever the sizes of the micro-batches. Usage:
///
///     var acc = try GradAccumulation(microBatches: 4)
///     for batch in batches {
///         let (lossSum, tokens) = model.forwardBackwardSummed(batch)   // grads +=
///         if acc.record(tokens: tokens, lossSum: lossSum) {             // window complete
///             if let s = acc.gradientScale { scaleGradients(params, by: s) ; clip; step }
///             log(acc.meanLoss); optimizer.zeroGrad(); acc.reset()
///         }
///     }
public struct GradAccumulation: Sendable, Equatable, Codable {
    /// Micro-batches per optimiser step, `>= 1`.
    public let microBatches: Int
    /// Micro-batches recorded in the current window, `0...microBatches`.
    public private(set) var recorded: Int = 0
    /// Counted tokens recorded in the current window.
    public private(set) var tokenCount: Int = 0
    /// Sum of the per-token losses recorded in the current window (nats).
    public private(set) var lossSum: Double = 0

    /// Throws `TensorError.invalidArgument` unless `microBatches >= 1`.
    public init(microBatches: Int) throws {
        guard microBatches >= 1 else {
            throw TensorError.invalidArgument(
                op: "GradAccumulation.init", detail: "microBatches = \(microBatches), expected >= 1")
        }
        self.microBatches = microBatches
    }

    /// Whether the window holds `microBatches` micro-batches (time to step).
    public var isComplete: Bool { recorded == microBatches }

    /// Records one micro-batch whose summed per-token loss `lossSum` over `tokens` counted
    /// tokens has been back-propagated; returns `isComplete`.
    /// Preconditions: `tokens >= 0`, and the window is not already complete (call
    /// `reset()` after stepping).
    @discardableResult
    public mutating func record(tokens: Int, lossSum: Double = 0) -> Bool {
        precondition(tokens >= 0, "GradAccumulation.record: tokens = \(tokens)")
        precondition(!isComplete, "GradAccumulation.record: window already complete; call reset()")
        recorded += 1
        tokenCount += tokens
        self.lossSum += lossSum
        return isComplete
    }

    /// The factor `1 / tokenCount` (Float64 division, rounded once) to apply to the
    /// accumulated gradients; `nil` when no token was counted (skip the step).
    public var gradientScale: Float? {
        tokenCount > 0 ? Float(1.0 / Double(tokenCount)) : nil
    }

    /// Mean per-token loss over the window, `lossSum / tokenCount`; `nil` without tokens.
    public var meanLoss: Double? {
        tokenCount > 0 ? lossSum / Double(tokenCount) : nil
    }

    /// Starts a new window.
    public mutating func reset() {
        recorded = 0
        tokenCount = 0
        lossSum = 0
    }
}

/// Multiplies the gradient of every parameter with `requiresGrad` by `factor`, in place
/// (SIMD, threaded for large tensors). Frozen parameters are left alone.
public func scaleGradients(_ params: [Parameter], by factor: Float) {
    for p in params where p.requiresGrad {
        p.withMutableGrad { g in
            guard let base = g.baseAddress else { return }
            let n = g.count
            if n < (1 << 15) {
                scale(base, 0..<n, factor)
            } else {
                Parallel.forRanges(n, grain: 1 << 14) { r in scale(base, r, factor) }
            }
        }
    }
}

/// `x[i] *= factor` over `range`, 16 lanes at a time.
@inline(__always)
private func scale(_ x: UnsafeMutablePointer<Float>, _ range: Range<Int>, _ factor: Float) {
    let f = SIMD16<Float>(repeating: factor)
    var i = range.lowerBound
    let end = range.upperBound
    while i + 16 <= end {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(x + i).storeBytes(of: v * f, as: SIMD16<Float>.self)
        i += 16
    }
    while i < end {
        x[i] *= factor
        i += 1
    }
}

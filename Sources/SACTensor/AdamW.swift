import Foundation

#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// The AdamW optimiser with the semantics of `torch.optim.AdamW` (amsgrad off, not
/// maximising).
///
/// For every trainable parameter `p` with gradient `g`, one `step()` does, with `t` the
/// parameter's step count after incrementing it:
///
///     p ← p · (1 − lr·wd)                        (decoupled weight decay, first)
///     m ← m + (1 − β1)·(g − m)                    (torch's lerp)
///     v ← β2·v + (1 − β2)·g²
///     denom = sqrt(v) / sqrt(1 − β2^t) + eps
///     p ← p − (lr / (1 − β1^t)) · m / denom
///
/// Bias corrections are computed in Float64 like torch's Python scalars and rounded to
/// Float32 where they multiply tensors. Parameters come in groups, each with its own weight
/// decay (e.g. `0` for embeddings and norms). Parameters with `requiresGrad == false` are
/// skipped and get no state; the moments of a parameter are allocated at its first update.
///
/// Not thread-safe: one training loop owns it. The element loop is SIMD (16 lanes, FMA) and
/// is split over `Parallel.threads` for tensors of at least `parallelThreshold` elements.
public final class AdamW {
    /// A set of parameters sharing a weight decay.
    public struct ParamGroup {
        /// The parameters of the group.
        public var params: [Parameter]
        /// Decoupled weight decay coefficient (torch's `weight_decay`), `>= 0`.
        public var weightDecay: Float

        public init(params: [Parameter], weightDecay: Float) {
            self.params = params
            self.weightDecay = weightDecay
        }
    }

    /// The learning rate used by the next `step()`; set it from an `LRSchedule` before each
    /// step. Must be finite and `>= 0` when `step()` runs.
    public var lr: Float
    /// Decay rate of the first moment, in `[0, 1)`.
    public let beta1: Float
    /// Decay rate of the second moment, in `[0, 1)`.
    public let beta2: Float
    /// Added to the bias-corrected `sqrt(v)`, `>= 0`.
    public let eps: Float
    /// The groups, in the order given.
    public let groups: [ParamGroup]
    /// Tensors with at least this many elements are updated on several threads.
    public static let parallelThreshold = 1 << 15

    /// Per-parameter state, in group order.
    private struct Slot {
        let param: Parameter
        let weightDecay: Float
        var step: Int = 0
        var m: [Float] = []
        var v: [Float] = []
    }
    private var slots: [Slot]

    /// An optimiser over `groups`.
    ///
    /// Throws `TensorError.invalidArgument` when a hyper-parameter is out of range
    /// (`lr < 0`, a beta outside `[0, 1)`, `eps < 0`, a weight decay `< 0`, non-finite values)
    /// or when two parameters share a name (the state is keyed by name).
    public init(
        groups: [ParamGroup], lr: Float, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8
    ) throws {
        let op = "AdamW.init"
        guard lr.isFinite, lr >= 0 else { throw TensorError.invalidArgument(op: op, detail: "lr = \(lr), expected finite >= 0") }
        for (label, b) in [("beta1", betas.0), ("beta2", betas.1)] {
            guard b >= 0, b < 1 else { throw TensorError.invalidArgument(op: op, detail: "\(label) = \(b), expected in [0, 1)") }
        }
        guard eps.isFinite, eps >= 0 else { throw TensorError.invalidArgument(op: op, detail: "eps = \(eps), expected finite >= 0") }
        var names = Set<String>()
        var slots: [Slot] = []
        for (gi, group) in groups.enumerated() {
            guard group.weightDecay.isFinite, group.weightDecay >= 0 else {
                throw TensorError.invalidArgument(
                    op: op, detail: "group \(gi): weight decay = \(group.weightDecay), expected finite >= 0")
            }
            for p in group.params {
                guard names.insert(p.name).inserted else {
                    throw TensorError.invalidArgument(op: op, detail: "parameter \(p.name) appears more than once")
                }
                slots.append(Slot(param: p, weightDecay: group.weightDecay))
            }
        }
        self.lr = lr
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.eps = eps
        self.groups = groups
        self.slots = slots
    }

    /// An optimiser over one group of `parameters` with weight decay `weightDecay`
    /// (torch's default `0.01`). Throws like `init(groups:lr:betas:eps:)`.
    public convenience init(
        parameters: [Parameter], lr: Float, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
        weightDecay: Float = 0.01
    ) throws {
        try self.init(groups: [ParamGroup(params: parameters, weightDecay: weightDecay)], lr: lr, betas: betas, eps: eps)
    }

    /// All parameters, in group order.
    public var parameters: [Parameter] { slots.map(\.param) }

    /// Number of updates applied to the parameter named `name` (0 before its first update or
    /// when unknown).
    public func stepCount(of name: String) -> Int {
        slots.first { $0.param.name == name }?.step ?? 0
    }

    /// Sets the gradient of every parameter to zero.
    public func zeroGrad() {
        for s in slots { s.param.zeroGrad() }
    }

    /// Applies one AdamW update with the current `lr` to every parameter with
    /// `requiresGrad`, reading its `grad`. Precondition: `lr` finite and `>= 0`.
    public func step() {
        precondition(lr.isFinite && lr >= 0, "AdamW.step: lr = \(lr)")
        for i in slots.indices where slots[i].param.requiresGrad {
            let n = slots[i].param.count
            if slots[i].m.count != n {
                slots[i].m = [Float](repeating: 0, count: n)
                slots[i].v = [Float](repeating: 0, count: n)
            }
            slots[i].step += 1
            let t = Double(slots[i].step)
            let lrD = Double(lr), b1 = Double(beta1), b2 = Double(beta2)
            let bc1 = 1 - pow(b1, t)
            let bc2 = 1 - pow(b2, t)
            let k = AdamWScalars(
                decay: Float(1 - lrD * Double(slots[i].weightDecay)),
                oneMinusBeta1: Float(1 - b1),
                beta2: beta2,
                oneMinusBeta2: Float(1 - b2),
                bc2Sqrt: Float(bc2.squareRoot()),
                eps: eps,
                negStepSize: Float(-(lrD / bc1)))
            let param = slots[i].param
            // Move the moments out of the array so that the two buffers are borrowed
            // independently (no overlapping access to `slots`), then move them back.
            var mBuf = slots[i].m, vBuf = slots[i].v
            slots[i].m = []
            slots[i].v = []
            defer {
                slots[i].m = mBuf
                slots[i].v = vBuf
            }
            mBuf.withUnsafeMutableBufferPointer { m in
                vBuf.withUnsafeMutableBufferPointer { v in
                    param.withMutableValueAndGrad { p, g in
                        guard n > 0 else { return }
                        let pp = p.baseAddress!, gp = g.baseAddress!, mp = m.baseAddress!, vp = v.baseAddress!
                        if n < AdamW.parallelThreshold {
                            adamWUpdate(pp, gp, mp, vp, 0..<n, k)
                        } else {
                            Parallel.forRanges(n, grain: AdamW.parallelThreshold / 2) { r in
                                adamWUpdate(pp, gp, mp, vp, r, k)
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: - State

    /// The optimiser state to save in a checkpoint: per parameter name, its step count,
    /// shape and moments. Plain data, `Codable`; file I/O is the caller's.
    public struct State: Codable, Equatable, Sendable {
        /// The state of one parameter.
        public struct Entry: Codable, Equatable, Sendable {
            /// Updates applied so far (torch's `state[p]["step"]`).
            public var step: Int
            /// Shape of the parameter.
            public var shape: [Int]
            /// First moment (`exp_avg`), row-major; empty when `step == 0`.
            public var m: [Float]
            /// Second moment (`exp_avg_sq`), row-major; empty when `step == 0`.
            public var v: [Float]

            public init(step: Int, shape: [Int], m: [Float], v: [Float]) {
                self.step = step
                self.shape = shape
                self.m = m
                self.v = v
            }
        }
        /// One entry per parameter that had `requiresGrad` when saved, keyed by its name.
        public var entries: [String: Entry]

        public init(entries: [String: Entry]) { self.entries = entries }
    }

    /// A copy of the current state: an entry for every parameter with `requiresGrad` (and
    /// for any frozen parameter that already has moments).
    public func state() -> State {
        var entries: [String: State.Entry] = [:]
        for s in slots where s.param.requiresGrad || s.step > 0 {
            entries[s.param.name] = State.Entry(step: s.step, shape: s.param.shape, m: s.m, v: s.v)
        }
        return State(entries: entries)
    }

    /// Replaces the state with `state` so that training continues exactly where it was saved.
    ///
    /// Checks everything before changing anything, and throws `TensorError` naming the
    /// parameter when: an entry names no parameter of this optimiser; a parameter with
    /// `requiresGrad` has no entry; an entry's shape differs from the parameter's; its
    /// moments do not hold `shape.reduce(1, *)` elements each (or are not both empty with
    /// `step == 0`); or its step is negative. Parameters without an entry get empty state.
    public func restore(_ state: State) throws {
        let op = "AdamW.restore"
        let known = Set(slots.map(\.param.name))
        for name in state.entries.keys.sorted() where !known.contains(name) {
            throw TensorError.invalidArgument(op: op, detail: "state has parameter \(name), which this optimiser does not hold")
        }
        for s in slots {
            let name = s.param.name
            guard let e = state.entries[name] else {
                if s.param.requiresGrad {
                    throw TensorError.invalidArgument(op: op, detail: "state has no entry for trainable parameter \(name)")
                }
                continue
            }
            guard e.shape == s.param.shape else {
                throw TensorError.shapeMismatch(
                    op: op, detail: "parameter \(name) has shape \(s.param.shape), state has shape \(e.shape)")
            }
            guard e.step >= 0 else {
                throw TensorError.invalidArgument(op: op, detail: "parameter \(name): step = \(e.step), expected >= 0")
            }
            let n = s.param.count
            let emptyFresh = e.step == 0 && e.m.isEmpty && e.v.isEmpty
            guard emptyFresh || (e.m.count == n && e.v.count == n) else {
                throw TensorError.shapeMismatch(
                    op: op,
                    detail: "parameter \(name): moments hold \(e.m.count) and \(e.v.count) elements, expected \(n) each")
            }
        }
        for i in slots.indices {
            if let e = state.entries[slots[i].param.name] {
                slots[i].step = e.step
                slots[i].m = e.m
                slots[i].v = e.v
            } else {
                slots[i].step = 0
                slots[i].m = []
                slots[i].v = []
            }
        }
    }
}

/// Scalars of one AdamW update, rounded to Float32 as torch does.
struct AdamWScalars {
    var decay: Float
    var oneMinusBeta1: Float
    var beta2: Float
    var oneMinusBeta2: Float
    var bc2Sqrt: Float
    var eps: Float
    var negStepSize: Float
}

/// Lane-wise square root as one `vsqrtps` (the generic `SIMD.squareRoot()` compiles to
/// scalar `sqrtss` with `sqrtf` calls on Linux). Correctly rounded, like `Float.squareRoot()`.
@inline(__always)
private func sqrt8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    #if arch(x86_64)
    return _mm256_sqrt_ps(x)
    #else
    return x.squareRoot()
    #endif
}

/// The AdamW element update over `range` (see `AdamW`), 8 lanes at a time, two vectors per
/// iteration. Preconditions: the four pointers address at least `range.upperBound`
/// elements each and `p`, `m`, `v` do not overlap.
@inline(__always)
func adamWUpdate(
    _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
    _ v: UnsafeMutablePointer<Float>, _ range: Range<Int>, _ k: AdamWScalars
) {
    typealias V = SIMD8<Float>
    let decay = V(repeating: k.decay), a1 = V(repeating: k.oneMinusBeta1)
    let b2 = V(repeating: k.beta2), a2 = V(repeating: k.oneMinusBeta2)
    let bc2 = V(repeating: k.bc2Sqrt), eps = V(repeating: k.eps), step = V(repeating: k.negStepSize)
    @inline(__always) func lane(_ j: Int) {
        let gi = UnsafeRawPointer(g + j).loadUnaligned(as: V.self)
        var mi = UnsafeRawPointer(m + j).loadUnaligned(as: V.self)
        var vi = UnsafeRawPointer(v + j).loadUnaligned(as: V.self)
        var pi = UnsafeRawPointer(p + j).loadUnaligned(as: V.self)
        pi = pi * decay
        mi = mi.addingProduct(a1, gi - mi)
        vi = (vi * b2).addingProduct(a2 * gi, gi)
        let denom = sqrt8(vi) / bc2 + eps
        pi = pi.addingProduct(step, mi / denom)
        UnsafeMutableRawPointer(m + j).storeBytes(of: mi, as: V.self)
        UnsafeMutableRawPointer(v + j).storeBytes(of: vi, as: V.self)
        UnsafeMutableRawPointer(p + j).storeBytes(of: pi, as: V.self)
    }
    var i = range.lowerBound
    let end = range.upperBound
    while i + 16 <= end {
        lane(i)
        lane(i + 8)
        i += 16
    }
    while i < end {
        let gi = g[i]
        var pi = p[i] * k.decay
        let mi = m[i] + k.oneMinusBeta1 * (gi - m[i])
        let vi = v[i] * k.beta2 + k.oneMinusBeta2 * gi * gi
        let denom = vi.squareRoot() / k.bc2Sqrt + k.eps
        pi += k.negStepSize * (mi / denom)
        m[i] = mi
        v[i] = vi
        p[i] = pi
        i += 1
    }
}

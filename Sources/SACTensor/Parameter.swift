/// A trainable tensor: a value, its gradient of the same shape, and a name.
///
/// `Parameter` is a reference type because the model (which reads `value` in the forward
/// pass and accumulates into `grad` in the backward pass) and the optimiser (which reads
/// `grad` and updates `value`) share the same storage. The shape is fixed at creation, so
/// `value` and `grad` always have the same shape; the only way to replace the value is
/// `assign(_:)`, which checks it.
///
/// Thread safety: `Parameter` is **not** thread-safe and is not `Sendable`. One training
/// loop owns its parameters; a threaded kernel obtains raw pointers through the `with…`
/// helpers on the owning thread and splits the work itself into disjoint element ranges
/// (see `Parallel`). Usage in a training step:
///
///     model.forward/backward            // kernels += into p.grad via withMutableGrad
///     let norm = try clipGradNorm(params, maxNorm: 1)
///     if norm.isFinite { optimizer.lr = schedule.lr(atStep: k); optimizer.step() }
///     optimizer.zeroGrad()
public final class Parameter {
    /// Hugging Face style name, e.g. `"model.layers.0.self_attn.q_proj.lora_A"`. Used as the
    /// key of the optimiser state in checkpoints.
    public let name: String
    /// The current value.
    public private(set) var value: Tensor
    /// The gradient of the loss with respect to `value`, same shape. Backward kernels add
    /// into it (`+=`); `zeroGrad()` clears it.
    public private(set) var grad: Tensor
    /// Whether the optimiser and gradient clipping consider this parameter. A frozen
    /// parameter (e.g. a base weight under LoRA) keeps its value and its optimiser keeps no
    /// state for it.
    public var requiresGrad: Bool
    /// Counts the ways the value may have changed: `assign`, `withMutableValue` and
    /// `withMutableValueAndGrad` each add one. Equal versions mean an unchanged value (for
    /// caches of something computed from it).
    public private(set) var version: UInt64 = 0

    /// A parameter holding `value`, with a zero gradient of the same shape.
    public init(name: String, value: Tensor, requiresGrad: Bool = true) {
        self.name = name
        self.value = value
        self.grad = Tensor(zeros: value.shape)
        self.requiresGrad = requiresGrad
    }

    /// The shape of `value` and `grad`.
    public var shape: [Int] { value.shape }
    /// The number of elements of `value` (and of `grad`).
    public var count: Int { value.count }

    /// Sets every gradient element to zero (keeps the storage).
    public func zeroGrad() {
        grad.data.withUnsafeMutableBufferPointer { g in
            guard let base = g.baseAddress else { return }
            base.update(repeating: 0, count: g.count)
        }
    }

    /// Replaces the value (e.g. when loading weights). Throws `TensorError.shapeMismatch`
    /// naming the parameter when `newValue.shape != shape`. The gradient is left untouched.
    public func assign(_ newValue: Tensor) throws {
        guard newValue.shape == value.shape else {
            throw TensorError.shapeMismatch(
                op: "Parameter.assign",
                detail: "parameter \(name) has shape \(value.shape), new value has shape \(newValue.shape)")
        }
        value = newValue
        version &+= 1
    }

    /// Adds `g` element-wise into the gradient (`grad += g`). Throws
    /// `TensorError.shapeMismatch` naming the parameter when `g.shape != shape`.
    public func accumulateGrad(_ g: Tensor) throws {
        guard g.shape == value.shape else {
            throw TensorError.shapeMismatch(
                op: "Parameter.accumulateGrad",
                detail: "parameter \(name) has shape \(value.shape), gradient has shape \(g.shape)")
        }
        g.data.withUnsafeBufferPointer { src in
            grad.data.withUnsafeMutableBufferPointer { dst in
                for i in 0..<dst.count { dst[i] += src[i] }
            }
        }
    }

    /// Read-only pointer to the `count` value elements (row-major), valid inside `body`.
    public func withValue<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try value.data.withUnsafeBufferPointer(body)
    }

    /// Mutable pointer to the `count` value elements, valid inside `body`.
    public func withMutableValue<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        version &+= 1
        return try value.data.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Read-only pointer to the `count` gradient elements, valid inside `body`.
    public func withGrad<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try grad.data.withUnsafeBufferPointer(body)
    }

    /// Mutable pointer to the `count` gradient elements (backward kernels add into it),
    /// valid inside `body`.
    public func withMutableGrad<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try grad.data.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Mutable value pointer and read-only gradient pointer at once (both `count` elements,
    /// distinct storage), as an optimiser update needs; valid inside `body`.
    public func withMutableValueAndGrad<R>(
        _ body: (UnsafeMutableBufferPointer<Float>, UnsafeBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        version &+= 1
        return try grad.data.withUnsafeBufferPointer { g in
            try value.data.withUnsafeMutableBufferPointer { v in try body(v, g) }
        }
    }
}

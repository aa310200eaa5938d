/// A dense, row-major Float32 tensor: a shape and a flat buffer.
///
/// Value semantics (the buffer is a copy-on-write `[Float]`). Kernels work on raw pointers
/// obtained with `withUnsafeBufferPointer`/`withUnsafeMutableBufferPointer`; this type adds
/// shape bookkeeping and checked, throwing entry points.
public struct Tensor: Sendable, Equatable {
    /// Sizes of the dimensions, outermost first.
    public private(set) var shape: [Int]
    /// The elements, row-major. `data.count == shape.reduce(1, *)`.
    public var data: [Float]

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// A tensor over existing data; throws when the element count does not match the shape.
    public init(shape: [Int], data: [Float]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidArgument(op: "Tensor.init", detail: "negative dimension in \(shape)")
        }
        let n = shape.reduce(1, *)
        guard n == data.count else {
            throw TensorError.shapeMismatch(
                op: "Tensor.init", detail: "shape \(shape) holds \(n) elements, data has \(data.count)")
        }
        self.shape = shape
        self.data = data
    }

    /// Number of elements.
    @inlinable public var count: Int { data.count }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        try Tensor(shape: newShape, data: data)
    }

    /// Throws unless `shape == expected`; `name` identifies the operand in the message.
    public func expectShape(_ expected: [Int], _ name: String, op: String) throws {
        guard shape == expected else {
            throw TensorError.shapeMismatch(op: op, detail: "\(name) has shape \(shape), expected \(expected)")
        }
    }
}

extension Tensor {
    /// A tensor of values from `N(0, std²)` drawn from `rng`.
    public init<G: RandomNumberGenerator>(randomNormal shape: [Int], std: Float = 1, using rng: inout G) {
        self.init(zeros: shape)
        for i in 0..<data.count { data[i] = std * Float(rng.nextGaussian()) }
    }

    /// A tensor of values uniform in `[-bound, bound)`.
    public init<G: RandomNumberGenerator>(randomUniform shape: [Int], bound: Float, using rng: inout G) {
        self.init(zeros: shape)
        for i in 0..<data.count { data[i] = Float.random(in: -bound..<bound, using: &rng) }
    }
}

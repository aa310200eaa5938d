/// Errors raised by the tensor API when the caller passes shapes or arguments that cannot work.
///
/// The hot pointer-level kernels do not throw: they state their requirements as
/// preconditions. The `Tensor`-level wrappers check shapes and throw these.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// Two shapes that must agree do not. `detail` names the operands and their shapes.
    case shapeMismatch(op: String, detail: String)
    /// An argument is outside its valid range.
    case invalidArgument(op: String, detail: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let op, let detail): return "\(op): shape mismatch: \(detail)"
        case .invalidArgument(let op, let detail): return "\(op): invalid argument: \(detail)"
        }
    }
}

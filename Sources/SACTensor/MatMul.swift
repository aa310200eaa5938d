/// `op(a)·op(b)` for rank-2 tensors, where `op(x)` is `x` or its transpose.
///
/// - `a`: [m, k], or [k, m] when `transA`; `b`: [k, n], or [n, k] when `transB`.
/// - Returns a new [m, n] tensor. Runs `GEMM.sgemm` on `Parallel.threads` threads.
/// - Throws `TensorError.shapeMismatch` when an operand is not rank 2 or the inner
///   dimensions differ.
public func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) throws -> Tensor {
    guard a.rank == 2 else {
        throw TensorError.shapeMismatch(op: "matmul", detail: "a has shape \(a.shape), expected rank 2")
    }
    guard b.rank == 2 else {
        throw TensorError.shapeMismatch(op: "matmul", detail: "b has shape \(b.shape), expected rank 2")
    }
    let m = transA ? a.shape[1] : a.shape[0]
    let ka = transA ? a.shape[0] : a.shape[1]
    let kb = transB ? b.shape[1] : b.shape[0]
    let n = transB ? b.shape[0] : b.shape[1]
    guard ka == kb else {
        throw TensorError.shapeMismatch(
            op: "matmul",
            detail: "inner dimensions differ: op(a) is [\(m), \(ka)] (a \(a.shape), transA=\(transA)), "
                + "op(b) is [\(kb), \(n)] (b \(b.shape), transB=\(transB))")
    }
    var out = Tensor(zeros: [m, n])
    if m == 0 || n == 0 { return out }
    a.data.withUnsafeBufferPointer { pa in
        b.data.withUnsafeBufferPointer { pb in
            out.data.withUnsafeMutableBufferPointer { pc in
                // Empty operands (k == 0) have no base address; any valid pointer works.
                let dummy = UnsafeMutablePointer<Float>.allocate(capacity: 1)
                defer { dummy.deallocate() }
                GEMM.sgemm(
                    transA: transA, transB: transB, m: m, n: n, k: ka, alpha: 1,
                    a: pa.baseAddress ?? UnsafePointer(dummy), lda: max(1, a.shape[1]),
                    b: pb.baseAddress ?? UnsafePointer(dummy), ldb: max(1, b.shape[1]),
                    beta: 0, c: pc.baseAddress!, ldc: n)
            }
        }
    }
    return out
}

extension GEMM {
    /// `batch` independent products `C_b = alpha·op(A_b)·op(B_b) + beta·C_b`, where
    /// `A_b = a + b·strideA`, `B_b = b + b·strideB`, `C_b = c + b·strideC` (strides in
    /// floats) and each product follows `sgemm`'s conventions and preconditions. The C
    /// matrices must not overlap. Small products run whole batch entries on separate
    /// threads; large ones are threaded inside each product.
    public static func sgemmStridedBatched(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, strideA: Int,
        b: UnsafePointer<Float>, ldb: Int, strideB: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int, batch: Int
    ) {
        precondition(batch >= 0, "sgemmStridedBatched: negative batch \(batch)")
        if batch == 0 { return }
        let threads = Parallel.threads
        let perItem = m * n * max(k, 1)
        if threads > 1 && batch >= threads && perItem < 256 * 256 * 256 {
            // Split batch entries over threads; each product runs single-threaded.
            let parts = min(batch, 4 * threads)
            Parallel.forEach(parts) { part in
                for i in (batch * part / parts)..<(batch * (part + 1) / parts) {
                    sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                          a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                          beta: beta, c: c + i * strideC, ldc: ldc, threads: 1)
                }
            }
        } else {
            for i in 0..<batch {
                sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                      a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                      beta: beta, c: c + i * strideC, ldc: ldc, threads: threads)
            }
        }
    }
}

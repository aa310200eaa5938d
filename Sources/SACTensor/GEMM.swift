/// Single-precision general matrix multiply (row-major), the project's BLAS-3 kernel.
///
/// `C = alpha·op(A)·op(B) + beta·C` with `op(A)` of shape m×k and `op(B)` of shape k×n.
/// Large products pack panels of A and B (Goto/BLIS blocking) and run a 12×32 AVX-512
/// micro-kernel where the CPU has it (checked at run time), else a 6×16 AVX2 one, on
/// disjoint blocks of C over `Parallel.threads` threads; products with
/// m ≤ 4 (decoding) stream B once without packing.
public enum GEMM {
    /// Products with at most this many rows (m) stream B once without packing; larger ones run
    /// the packed driver.
    public static var smallRowLimit: Int { GEMMSmallM.maxM }

    /// The micro-kernels large products use on this machine, in words (for benchmarks and logs).
    public static var kernelFamily: String {
        GEMMKernel.useAVX512 ? "AVX-512 12×32 (AVX2 6×16 at the edges)" : "AVX2 6×16"
    }

    /// Computes `C[m×n] = alpha·op(A)·op(B) + beta·C`, all matrices row-major.
    ///
    /// - `op(A)` is m×k: A is stored m×k (`A[i,p] = a[i·lda + p]`), or k×m when `transA`
    ///   (`op(A)[i,p] = a[p·lda + i]`).
    /// - `op(B)` is k×n: B is stored k×n (`b[p·ldb + j]`), or n×k when `transB`
    ///   (`op(B)[p,j] = b[j·ldb + p]`).
    /// - `C[i,j] = c[i·ldc + j]`. With `beta == 0`, C is overwritten and never read (it may
    ///   hold NaN). With `k == 0`, `C = beta·C`. Nothing happens when `m == 0` or `n == 0`.
    ///
    /// Preconditions: `m, n, k ≥ 0`; the leading dimensions are at least the stored row
    /// widths (`lda ≥ transA ? m : k`, `ldb ≥ transB ? k : n`, `ldc ≥ n`); C does not
    /// overlap A or B. Runs on `Parallel.threads` threads.
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        sgemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
            b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: Parallel.threads)
    }

    /// `sgemm` with an explicit thread count (1 runs inline on the caller's thread).
    static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
        precondition(lda >= max(1, transA ? m : k), "sgemm: lda=\(lda) too small")
        precondition(ldb >= max(1, transB ? k : n), "sgemm: ldb=\(ldb) too small")
        precondition(ldc >= max(1, n), "sgemm: ldc=\(ldc) too small")
        if m == 0 || n == 0 { return }
        if k == 0 || alpha == 0 {
            scaleC(m: m, n: n, beta: beta, c: c, ldc: ldc)
            return
        }
        // Small problems are not worth waking a second thread (waking one costs tens of µs;
        // the m ≤ 4 path moves about 4 bytes per flop pair, so it needs a larger B).
        let work = m * n * k
        if m <= GEMMSmallM.maxM {
            let t = n * k < 1 << 21 ? 1 : max(1, threads)
            GEMMProfile.measure(transA: transA, transB: transB, m: m, n: n, k: k, threads: t, prepacked: false) {
                GEMMSmallM.run(
                    transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                    b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: t)
            }
        } else {
            let t = work < 64 * 64 * 64 ? 1 : max(1, threads)
            GEMMProfile.measure(transA: transA, transB: transB, m: m, n: n, k: k, threads: t, prepacked: false) {
                GEMMDriver.run(
                    transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                    b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: t)
            }
        }
    }

    /// C = beta·C (zeros when beta == 0, without reading C).
    static func scaleC(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if beta == 1 { return }
        for i in 0..<m {
            let r = c + i * ldc
            if beta == 0 {
                r.update(repeating: 0, count: n)
            } else {
                for j in 0..<n { r[j] *= beta }
            }
        }
    }
}

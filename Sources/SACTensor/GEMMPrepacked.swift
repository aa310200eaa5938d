/// op(B) of a GEMM packed once, in the panel layout the packed driver reads, for a matrix
/// that many products share (a frozen weight): `GEMM.sgemm(…, packedB:)` then skips packing
/// B, which is most of the packing work of `x·Wᵀ` and `dy·W` with a few hundred rows.
///
/// Layout: column panels of `panelColumns` columns (the last one narrower), panel `jc`
/// starting at float `jc·k`; inside a panel, the depth blocks of `GEMMDriver.depthBlocks(k:)`
/// one after the other, each holding the panel's 16-column micro-panels (columns past `n`
/// zero), exactly as `GEMMDriver.run` packs B itself. Immutable after `init`, so one matrix
/// can serve concurrent products.
public final class PackedMatrix: @unchecked Sendable {
    /// Rows of op(B) (the GEMM's k).
    public let k: Int
    /// Columns of op(B) (the GEMM's n).
    public let n: Int
    /// Width of the column panels (a multiple of 32).
    let panelColumns: Int
    /// `count` floats, 64-byte aligned.
    let pointer: UnsafeMutablePointer<Float>
    /// Floats held.
    public let count: Int

    /// Packs op(B) (k×n): B is stored k×n (`b[p·ldb + j]`), or n×k when `transB`
    /// (`op(B)[p, j] = b[j·ldb + p]`), as in `GEMM.sgemm`. Runs on `Parallel.threads` threads.
    /// Preconditions: `k ≥ 1`, `n ≥ 1`, `ldb ≥ (transB ? k : n)`.
    public init(transB: Bool, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int) {
        precondition(k >= 1 && n >= 1, "PackedMatrix: k=\(k) n=\(n) must be ≥ 1")
        precondition(ldb >= (transB ? k : n), "PackedMatrix: ldb=\(ldb) too small")
        let nr = GEMMKernel.nr
        let width = GEMMDriver.columnPanelWidth(k: k)
        self.k = k
        self.n = n
        panelColumns = width
        count = n.roundedUp(to: nr) * k
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        let (kcMax, kBlocks) = GEMMDriver.depthBlocks(k: k)
        let group = 4  // micro-panels per packing task
        let panels = (n + nr - 1) / nr
        let groups = (panels + group - 1) / group
        let dst = pointer
        // Task t: depth block t / groups, micro-panels (t % groups)·group ..< +group.
        Parallel.forEach(kBlocks * groups) { t in
            let kb = t / groups, g = t % groups
            let pc = kb * kcMax, kc = min(kcMax, k - pc)
            for q in (g * group)..<min(panels, (g + 1) * group) {
                let j = q * nr
                let jc = j / width * width  // its column panel
                let nc = min(width, n - jc), ncPad = nc.roundedUp(to: nr)
                GEMMPack.packB(
                    trans: transB, b: b, ldb: ldb, j0: j, cols: min(nr, n - j), p0: pc, kc: kc,
                    dst: dst + jc * k + ncPad * pc + (j - jc) * kc)
            }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

extension GEMM {
    /// `C[m×n] = alpha·op(A)·op(B) + beta·C` with op(B) given packed (see `PackedMatrix`);
    /// everything else as in `sgemm(transA:transB:…)`. Precondition: `packedB.k == k`,
    /// `packedB.n == n`.
    public static func sgemm(
        transA: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        packedB: PackedMatrix, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0, "sgemm: negative m=\(m)")
        precondition(packedB.k == k && packedB.n == n,
                     "sgemm: packed B is \(packedB.k)×\(packedB.n), expected \(k)×\(n)")
        precondition(lda >= max(1, transA ? m : k), "sgemm: lda=\(lda) too small")
        precondition(ldc >= max(1, n), "sgemm: ldc=\(ldc) too small")
        if m == 0 { return }
        if alpha == 0 {
            scaleC(m: m, n: n, beta: beta, c: c, ldc: ldc)
            return
        }
        let threads = m * n * k < 64 * 64 * 64 ? 1 : max(1, Parallel.threads)
        GEMMProfile.measure(transA: transA, transB: false, m: m, n: n, k: k, threads: threads, prepacked: true) {
            GEMMDriver.run(
                transA: transA, transB: false, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                b: packedB.pointer, ldb: n, beta: beta, c: c, ldc: ldc, threads: threads,
                prepackedB: packedB)
        }
    }
}

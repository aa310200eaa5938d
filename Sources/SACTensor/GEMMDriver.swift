/// The packed (Goto/BLIS) GEMM driver for m > 4.
///
/// Loop nest: column panels of NC columns (jc) → depth blocks of KC (pc), where op(B)
/// [KC×NC] and op(A) [m×KC] are packed once by all threads together → compute tasks over
/// a grid of row blocks (MC rows, kept in L2) × column chunks; inside a task, B
/// micro-panels (KC×16, in L1) outside, A micro-panels (6×KC) inside.
enum GEMMDriver {
    /// Depth of a packed block (KC·16 floats of B = 16 KiB stays in L1).
    static let kcBlock = 256
    /// Upper bound on the rows of an A block (MC·KC floats ≈ 144 KiB, in L2).
    static let mcBlock = 144
    /// Columns of a packed B panel (KC·NC floats = 4 MiB, in L3).
    static let ncBlock = 4096

    static func run(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        let mr = GEMMKernel.mr, nr = GEMMKernel.nr
        // Split k evenly into blocks of at most kcBlock.
        let kBlocks = (k + kcBlock - 1) / kcBlock
        let kcMax = (k + kBlocks - 1) / kBlocks
        let mPad = m.roundedUp(to: mr)
        let ncMax = min(n, ncBlock).roundedUp(to: nr)
        let buffer = GEMMBufferPool.shared.acquire(mPad * kcMax + kcMax * ncMax)
        defer { GEMMBufferPool.shared.release(buffer) }
        let packedA = buffer.pointer
        let packedB = buffer.pointer + mPad * kcMax

        // Row blocks of equal size (multiples of mr).
        let mBlocks = (m + mcBlock - 1) / mcBlock
        let mc = ((m + mBlocks - 1) / mBlocks).roundedUp(to: mr)
        let aPanels = mPad / mr

        var jc = 0
        while jc < n {
            let nc = min(ncBlock, n - jc)
            let bPanels = (nc + nr - 1) / nr
            // Column chunks per row block: enough tasks for every thread to stay busy.
            let wanted = threads <= 1 ? 1 : (4 * threads + mBlocks - 1) / mBlocks
            let nChunks = max(1, min(bPanels, wanted))
            var pc = 0
            var kb = 0
            while pc < k {
                let kc = min(kcMax, k - pc)
                // A depends only on pc: with a single depth block it is packed once.
                let packA = kBlocks > 1 || jc == 0
                let packTasks = (packA ? aPanels : 0) + bPanels
                let packGroups = threads <= 1 ? 1 : min(packTasks, 8 * threads)
                gemmForEach(packGroups, threads: threads) { g in
                    let lo = packTasks * g / packGroups, hi = packTasks * (g + 1) / packGroups
                    for t in lo..<hi {
                        let tb = packA ? t - aPanels : t
                        if tb < 0 {
                            let i0 = t * mr
                            GEMMPack.packA(
                                trans: transA, a: a, lda: lda, i0: i0, rows: min(mr, m - i0),
                                p0: pc, kc: kc, dst: packedA + t * mr * kc)
                        } else {
                            let j0 = tb * nr
                            GEMMPack.packB(
                                trans: transB, b: b, ldb: ldb, j0: jc + j0, cols: min(nr, nc - j0),
                                p0: pc, kc: kc, dst: packedB + tb * nr * kc)
                        }
                    }
                }
                let betaHere: Float = kb == 0 ? beta : 1
                let pa = UnsafePointer(packedA), pb = UnsafePointer(packedB)
                gemmForEach(mBlocks * nChunks, threads: threads) { task in
                    let ib = task / nChunks, cb = task % nChunks
                    let i0 = ib * mc, i1 = min(m, i0 + mc)
                    if i0 >= i1 { return }
                    let q0 = bPanels * cb / nChunks, q1 = bPanels * (cb + 1) / nChunks
                    for q in q0..<q1 {
                        let j0 = q * nr
                        let cols = min(nr, nc - j0)
                        let bp = pb + q * nr * kc
                        var i = i0
                        while i < i1 {
                            GEMMKernel.tile(
                                kc: kc, pa: pa + (i / mr) * mr * kc, pb: bp,
                                c: c + i * ldc + jc + j0, ldc: ldc, rows: min(mr, i1 - i), cols: cols,
                                alpha: alpha, beta: betaHere)
                            i += mr
                        }
                    }
                }
                pc += kc
                kb += 1
            }
            jc += nc
        }
    }
}

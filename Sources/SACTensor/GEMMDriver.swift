#if arch(x86_64)
import SACTensorAVX512
#endif

/// The packed (Goto/BLIS) GEMM driver for m > 4.
///
/// op(A) and op(B) are packed whole (all of k) into micro-panel layouts (except a row-major op(A)
/// on the AVX2 path, which the kernel reads in place but for a partial last micro-panel), split into row
/// panels / column panels only when they exceed `packLimit` floats, so that a typical call
/// is one parallel region (`GEMMRegion`): the threads claim packing tasks, then compute
/// tasks, without a second dispatch. Compute tasks are a grid of row blocks (MC rows) ×
/// column chunks; inside a task, column sub-chunks of B, then the depth blocks (one when
/// k ≤ `kcSingle`, else blocks of ≤ `kcBlock`), then B micro-panels (KC×16), then A
/// micro-panels (6×KC), each feeding the 6×16 micro-kernel. A B given pre-packed
/// (`PackedMatrix`, the same layout) skips the B packing tasks.
enum GEMMDriver {
    /// Largest depth block when k is split (k > `kcSingle`): blocks of equal size ≤ 512.
    /// Measured against 288 on 512×1536×576 and 2048³ (2 threads): three passes over C instead
    /// of six at k = 1536 outweigh a B micro-panel pair (64 KiB) that spills L1.
    static let kcBlock = 512
    /// Compute tasks per thread (dynamic claiming). Finer tasks shorten the tail but each one
    /// brings its A block and B chunk into the core's caches afresh: on the 2-core Zen 2 host
    /// (512 KiB L2) 3 beat 8 by 3–10 % on the training step's 510-row products with 2 threads
    /// (`sac bench gemm`, 2026-12-03: 510×576×1536 174–186 against 171–177 GFLOP/s,
    /// 510×1536×576 169–171 against 150–162, 29×576×1536 83–89 against 70–72); 2 and 4 were
    /// within noise of 3.
    static let tasksPerThread = 3
    /// Upper bound on the rows of an A block (MC·KC floats, in L2).
    static let mcBlock = 144
    /// B micro-panels per column sub-chunk of a compute task; 0 picks ≈ 4608 / KC, so that
    /// the sub-chunk of packed B (≈ 288 KiB) and the C block stay in L2 across depth blocks.
    static let subPanels = 0
    /// Largest k done as one depth block: C is then written in a single pass (no second
    /// read-modify-write of a large C); measured faster than two blocks of 288 at k = 576.
    static let kcSingle = 576
    /// Widest B (columns) done as row-block tasks that pack their own rows of A.
    static let narrowCols = 256
    /// Largest packed panel of A or B, in floats (16 MiB). Tests lower it to exercise the
    /// split into several row and column panels; not changed while a GEMM runs.
    nonisolated(unsafe) static var packLimit = 1 << 22

    /// Width (columns) of the column panels B is packed in for depth `k`: all of B up to
    /// `packLimit` floats, in multiples of the widest micro-tile.
    static func columnPanelWidth(k: Int) -> Int {
        let w = GEMMKernel.nr * 2
        return max(w, packLimit / max(1, k) / w * w)
    }

    /// Depth blocks of the packed layouts: (block size, number of blocks) for depth `k`.
    static func depthBlocks(k: Int) -> (kcMax: Int, count: Int) {
        let count = k <= kcSingle ? 1 : (k + kcBlock - 1) / kcBlock
        return ((k + count - 1) / count, count)
    }

    static func run(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int,
        prepackedB: PackedMatrix? = nil
    ) {
        let mr = GEMMKernel.mr, nr = GEMMKernel.nr
        #if arch(x86_64)
        let wide = GEMMKernel.useAVX512
        #else
        let wide = false
        #endif
        // Depth blocks of equal size: one when k ≤ kcSingle, else at most kcBlock each.
        let (kcMax, kBlocks) = depthBlocks(k: k)
        // The AVX-512 kernel takes B micro-panels in pairs and A micro-panels in pairs: keep
        // column chunks and row blocks even so that only the matrix's own edges are narrow.
        let unit = wide ? 2 : 1
        // The AVX2 kernel reads a row-major op(A) in place (no packing pass), packing only a
        // partial last micro-panel (fewer than 6 rows, zero-padded); the AVX-512 kernel reads
        // packed pairs of micro-panels. The SAC training step (510 rows, 2 threads, Zen 2) was
        // 3.4 % faster for it (alternating `sac bench train`, three pairs).
        let inPlaceA = !transA && !wide
        let sub = (subPanels > 0 ? subPanels : max(4, 4608 / kcMax)).roundedUp(to: unit)
        // Row panels (multiples of the row block) and column panels (multiples of nr) that fit.
        // A pre-packed B keeps the column panels it was packed with.
        let nbCols = prepackedB?.panelColumns ?? columnPanelWidth(k: k)
        // Narrow B (n ≤ `narrowCols`, one column panel): tasks are row blocks over all the
        // columns, each packing its own rows of A just before using them (still in this
        // core's cache), instead of a shared A packed by all threads and read across cores.
        let narrow = n <= narrowCols && n <= nbCols
        let mBlocksAll = narrow
            ? max(1, min((m + mr * unit - 1) / (mr * unit), tasksPerThread * max(1, threads)))
            : (m + mcBlock - 1) / mcBlock
        let mc = ((m + mBlocksAll - 1) / mBlocksAll).roundedUp(to: mr * unit)
        let mbRows = max(mc, packLimit / k / mc * mc)
        let mPanelRows = min(m.roundedUp(to: mr), mbRows)
        let nPanelCols = min(n.roundedUp(to: nr), nbCols)
        let buffer = GEMMBufferPool.shared.acquire(mPanelRows * k + (prepackedB == nil ? nPanelCols * k : 0))
        defer { GEMMBufferPool.shared.release(buffer) }
        let packedA = buffer.pointer
        let packedB = buffer.pointer + mPanelRows * k
        let pa = UnsafePointer(packedA)
        let singleM = m <= mbRows, singleN = n <= nbCols

        var jc = 0
        while jc < n {
            let nc = min(nbCols, n - jc)
            let bPanels = (nc + nr - 1) / nr
            let ncPad = bPanels * nr
            // Column panel jc of a pre-packed B starts at jc·k (the panels before it are full).
            let pb = prepackedB.map { UnsafePointer($0.pointer) + jc * k } ?? UnsafePointer(packedB)
            var ic = 0
            while ic < m {
                let mb = min(mbRows, m - ic)
                let aPanels = (mb + mr - 1) / mr
                let mPad = aPanels * mr
                // Micro-panels that are packed: all, or with `inPlaceA` a partial last one.
                let firstPacked = inPlaceA ? mb / mr : 0
                let packedPanels = aPanels - firstPacked
                // Pack what changed: (depth block, micro-panel) pairs of A and of B.
                let doA = !narrow && (jc == 0 || !singleM), doB = prepackedB == nil && (ic == 0 || !singleN)
                let bGroup = transB ? 1 : 4
                let bGroups = (bPanels + bGroup - 1) / bGroup
                let perK = (doA ? packedPanels : 0) + (doB ? bGroups : 0)
                let packTasks = kBlocks * perK
                // Packs the A micro-panel of this row panel's rows i0..<i0+mr, depth block pc.
                let packAPanel = { (i0: Int, pc: Int, kc: Int) in
                    GEMMPack.packA(
                        trans: transA, a: a, lda: lda, i0: ic + i0, rows: min(mr, mb - i0),
                        p0: pc, kc: kc, dst: packedA + mPad * pc + i0 * kc)
                }
                let packTask = { (t: Int) in
                    let kb = t / perK, r = t % perK
                    let pc = kb * kcMax, kc = min(kcMax, k - pc)
                    let ta = doA ? r : -1
                    if ta >= 0 && ta < packedPanels {
                        packAPanel((firstPacked + ta) * mr, pc, kc)
                    } else {
                        // B tasks pack groups of up to bGroup micro-panels.
                        let g = doA ? r - packedPanels : r
                        let q0 = g * bGroup, q1 = min(bPanels, q0 + bGroup)
                        let full = min(q1, nc / nr)  // panels before it are complete
                        if !transB && full > q0 {
                            GEMMPack.packBRows(
                                b: b, ldb: ldb, j0: jc + q0 * nr, panels: full - q0, p0: pc, kc: kc,
                                dst: packedB + ncPad * pc + q0 * nr * kc)
                        }
                        for q in (transB ? q0 : max(q0, full))..<q1 {
                            let j0 = q * nr
                            GEMMPack.packB(
                                trans: transB, b: b, ldb: ldb, j0: jc + j0, cols: min(nr, nc - j0),
                                p0: pc, kc: kc, dst: packedB + ncPad * pc + q * nr * kc)
                        }
                    }
                }
                // Compute: row blocks × column chunks, enough tasks to balance the threads.
                let mBlocks = (mb + mc - 1) / mc
                let wanted = threads <= 1 ? 1 : (GEMMDriver.tasksPerThread * threads + mBlocks - 1) / mBlocks
                let units = (bPanels + unit - 1) / unit
                let nChunks = narrow ? 1 : max(1, min(units, wanted))
                let computeTask = { (task: Int) in
                    let ib = task / nChunks, cb = task % nChunks
                    let i0 = ib * mc, i1 = min(mb, i0 + mc)
                    let q0 = min(bPanels, unit * (units * cb / nChunks))
                    let q1 = min(bPanels, unit * (units * (cb + 1) / nChunks))
                    if i0 >= i1 || q0 >= q1 { return }
                    if narrow {
                        // This task is the only user of rows i0..<i1: pack them here.
                        var pc = 0
                        while pc < k {
                            let kc = min(kcMax, k - pc)
                            for r in stride(from: max(i0, firstPacked * mr), to: i1, by: mr) { packAPanel(r, pc, kc) }
                            pc += kc
                        }
                    }
                    // Column sub-chunks keep the C block (MC × 16·subPanels) in L2 across
                    // the depth blocks.
                    var qs = q0
                    while qs < q1 {
                        let qe = min(q1, qs + sub)
                        var pc = 0
                        while pc < k {
                            let kc = min(kcMax, k - pc)
                            let betaHere: Float = pc == 0 ? beta : 1
                            let aBase = pa + mPad * pc, bBase = pb + ncPad * pc
                            var q = qs
                            while q < qe {
                                let j0 = q * nr
                                let bp = bBase + q * nr * kc
                                let cj = c + ic * ldc + jc + j0
                                var i = i0
                                #if arch(x86_64)
                                if wide && q + 1 < qe && nc - j0 >= 2 * nr {
                                    // Two full B micro-panels: 12×32 tiles, 6×16 tiles at the bottom edge.
                                    while i + 2 * mr <= i1 {
                                        GEMMKernelAVX512.kernel12x32(
                                            kc: kc, pa0: aBase + i * kc, pa1: aBase + (i + mr) * kc,
                                            pb0: bp, pb1: bp + nr * kc, c: cj + i * ldc, ldc: ldc,
                                            alpha: alpha, beta: betaHere)
                                        i += 2 * mr
                                    }
                                    if i1 - i > mr {
                                        // 7–11 rows left (two A micro-panels, the second
                                        // zero-padded): one 12×32 tile through a stack buffer
                                        // costs half of four 6×16 AVX2 tiles.
                                        GEMMKernel.wideEdge(
                                            kc: kc, pa0: aBase + i * kc, pa1: aBase + (i + mr) * kc,
                                            pb0: bp, pb1: bp + nr * kc, c: cj + i * ldc, ldc: ldc,
                                            rows: i1 - i, alpha: alpha, beta: betaHere)
                                        i = i1
                                    }
                                    while i < i1 {
                                        for h in 0..<2 {
                                            GEMMKernel.tile(
                                                kc: kc, pa: aBase + i * kc, pb: bp + h * nr * kc,
                                                c: cj + i * ldc + h * nr, ldc: ldc, rows: min(mr, i1 - i),
                                                cols: nr, alpha: alpha, beta: betaHere)
                                        }
                                        i += mr
                                    }
                                    q += 2
                                    continue
                                }
                                #endif
                                let cols = min(nr, nc - j0)
                                if inPlaceA {
                                    let full = min(i1, firstPacked * mr)
                                    var r = a + (ic + i) * lda + pc
                                    while i < full {
                                        GEMMKernel.tileRows(
                                            kc: kc, a: r, lda: lda, pb: bp, c: cj + i * ldc, ldc: ldc,
                                            cols: cols, alpha: alpha, beta: betaHere)
                                        i += mr; r += mr * lda
                                    }
                                }
                                while i < i1 {
                                    GEMMKernel.tile(
                                        kc: kc, pa: aBase + i * kc, pb: bp, c: cj + i * ldc, ldc: ldc,
                                        rows: min(mr, i1 - i), cols: cols, alpha: alpha, beta: betaHere)
                                    i += mr
                                }
                                q += 1
                            }
                            pc += kc
                        }
                        qs = qe
                    }
                }
                let computeTasks = mBlocks * nChunks
                if #available(macOS 15.0, *) {
                    // One dispatch: packing and computing in the same parallel region.
                    let step = max(1, packTasks / (16 * max(1, threads)))
                    GEMMRegion.run(
                        threads: threads, packTasks: packTasks, packStep: step,
                        computeTasks: computeTasks, pack: packTask, compute: computeTask)
                } else {
                    let groups = threads <= 1 ? 1 : min(packTasks, 8 * threads)
                    gemmForEach(groups, threads: threads) { g in
                        for t in (packTasks * g / groups)..<(packTasks * (g + 1) / groups) { packTask(t) }
                    }
                    gemmForEach(computeTasks, threads: threads, computeTask)
                }
                ic += mb
            }
            jc += nc
        }
    }
}

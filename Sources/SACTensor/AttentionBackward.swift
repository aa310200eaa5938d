extension Attention {
    /// Backward pass (flash-attention style: probabilities are recomputed per block from `lse`,
    /// nothing of size T×S×nH is stored).
    ///
    /// Inputs: `dOut` and `out` [T × nH·hd] (rows `ldo` apart), `q` [T × nH·hd] (rows `ldq`
    /// apart), `k`/`v` [S × nKV·hd] (rows `ldk`/`ldv` apart), `lse` [nH × T] from `forward`,
    /// and the same `dims`, `scale` and `mask` as the forward. With `probabilities` (what
    /// `forward(probabilities:)` wrote, `[nH × T × S]`) the probabilities are read instead of
    /// recomputed.
    ///
    /// Outputs: `dq` [T × nH·hd] with rows `ldq` apart, `dk` [S × nKV·hd] with rows `ldk` apart,
    /// `dv` [S × nKV·hd] with rows `ldv` apart; columns past the heads are not touched. `dk`/`dv`
    /// cover all S keys including the prefix, summed over the query heads sharing a kv head.
    /// With `accumulate == false` the three are overwritten; with `true` the gradients are
    /// added to what they hold. Queries that see no key (`lse` −∞) add nothing.
    ///
    /// Scratch: two [rows × S] blocks per worker (rows ≤ 48, times heads/kvHeads when the heads
    /// of a kv group are stacked), plus, with w > 1 workers, (w − 1) private
    /// [S × nKV·hd] dK and dV accumulators that are summed at the end.
    /// Outputs must not overlap the inputs or each other.
    ///
    /// Deterministic: work items go to the workers in a fixed interleaved order, so each
    /// accumulator sums the same items in the same order on every call (a shared queue would
    /// let the partial sums, and the gradients' last bits, change from run to run).
    public static func backward(
        dOut: UnsafePointer<Float>,
        q: UnsafePointer<Float>, ldq: Int,
        k: UnsafePointer<Float>, ldk: Int,
        v: UnsafePointer<Float>, ldv: Int,
        out: UnsafePointer<Float>, ldo: Int,
        lse: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dims: AttentionDims, scale: Float? = nil, mask: AttentionMask, accumulate: Bool = false,
        probabilities: UnsafePointer<Float>? = nil
    ) {
        let threads = AttentionPlan.threads(for: dims, available: Parallel.threads)
        backward(dOut: dOut, q: q, ldq: ldq, k: k, ldk: ldk, v: v, ldv: ldv, out: out, ldo: ldo,
                 lse: lse, dq: dq, dk: dk, dv: dv, dims: dims, scale: scale, mask: mask,
                 accumulate: accumulate, threads: threads, interleaved: true,
                 stackGroups: AttentionPlan.stacks(dims, threads: threads), probabilities: probabilities)
    }

    /// `backward` with an explicit number of threads and scheduling (`interleaved`: static, deterministic).
    static func backward(
        dOut: UnsafePointer<Float>,
        q: UnsafePointer<Float>, ldq: Int,
        k: UnsafePointer<Float>, ldk: Int,
        v: UnsafePointer<Float>, ldv: Int,
        out: UnsafePointer<Float>, ldo: Int,
        lse: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dims: AttentionDims, scale: Float?, mask: AttentionMask, accumulate: Bool, threads: Int, interleaved: Bool = false,
        stackGroups: Bool = false, probabilities: UnsafePointer<Float>? = nil
    ) {
        checkPreconditions(dims: dims, mask: mask, ldq: ldq, ldk: ldk, ldv: ldv, ldo: ldo)
        let t = dims.queries, s = dims.keys, hd = dims.headDim, group = dims.group
        let kvWidth = dims.kvHeads * hd
        let sc = scale ?? dims.defaultScale
        let plan = AttentionPlan(dims: dims, threads: threads, stackGroups: stackGroups)
        let workers = plan.workers, hpi = plan.headsPerItem, stacked = hpi > 1
        // dK/dV accumulators: worker 0 adds into dk/dv, the others into private buffers.
        let privateCount = (workers - 1) * 2 * s * kvWidth
        let privateBuf = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, privateCount))
        defer { privateBuf.deallocate() }
        let queue = AttentionWorkQueue(count: plan.items, workers: plan.workers, interleaved: interleaved)
        withMaskPointer(mask) { allowed in
            Parallel.forEach(workers) { w in
                let accK: UnsafeMutablePointer<Float>, accV: UnsafeMutablePointer<Float>, ldak: Int, ldav: Int
                if w == 0 {
                    (accK, accV, ldak, ldav) = (dk, dv, ldk, ldv)
                    if !accumulate {
                        for j in 0..<s {
                            (dk + j * ldk).update(repeating: 0, count: kvWidth)
                            (dv + j * ldv).update(repeating: 0, count: kvWidth)
                        }
                    }
                } else {
                    accK = privateBuf + (w - 1) * 2 * s * kvWidth
                    accV = accK + s * kvWidth
                    (ldak, ldav) = (kvWidth, kvWidth)
                    accK.update(repeating: 0, count: 2 * s * kvWidth)
                }
                // Scratch: P and dS [mMax × S], D [mMax], stacked Q, dO, dQ [mMax × hd] each.
                let mMax = plan.blockRows * hpi
                let blockCount = Swift.max(1, mMax * s)
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * blockCount + mMax * (1 + 3 * hd))
                defer { scratch.deallocate() }
                let p = scratch, ds = scratch + blockCount, delta = scratch + 2 * blockCount
                let qs = delta + mMax, dos = qs + mMax * hd, dqs = dos + mMax * hd
                while let item = queue.next(worker: w) {
                    let (h0, rows) = plan.item(item, dims: dims)
                    let g = h0 / group
                    let i0 = rows.lowerBound, nr = rows.count, m = nr * hpi
                    let kEnd = mask.keyEnd(queryEnd: rows.upperBound, keys: s)
                    if kEnd == 0 {
                        if !accumulate {
                            for x in 0..<m {
                                (dq + (i0 + x % nr) * ldq + (h0 + x / nr) * hd).update(repeating: 0, count: hd)
                            }
                        }
                        continue
                    }
                    // Row x of the stack is query i0 + x % nr of head h0 + x / nr.
                    let qA: UnsafePointer<Float>, dOA: UnsafePointer<Float>, ldqA: Int, lddA: Int
                    if stacked {
                        for x in 0..<m {
                            let i = i0 + x % nr, h = h0 + x / nr
                            (qs + x * hd).update(from: q + i * ldq + h * hd, count: hd)
                            (dos + x * hd).update(from: dOut + i * ldo + h * hd, count: hd)
                        }
                        (qA, dOA, ldqA, lddA) = (UnsafePointer(qs), UnsafePointer(dos), hd, hd)
                    } else {
                        (qA, dOA, ldqA, lddA) = (q + i0 * ldq + h0 * hd, dOut + i0 * ldo + h0 * hd, ldq, ldo)
                    }
                    if let probabilities {
                        // P as the forward kept it (zero where masked and on dead rows).
                        for x in 0..<m {
                            let i = i0 + x % nr, h = h0 + x / nr
                            (p + x * kEnd).update(from: probabilities + (h * t + i) * s, count: kEnd)
                        }
                    } else {
                        // P = exp(scale·Q·Kᵀ − lse), masked entries and dead rows 0.
                        GEMM.sgemm(
                            transA: false, transB: true, m: m, n: kEnd, k: hd, alpha: sc,
                            a: qA, lda: ldqA, b: k + g * hd, ldb: ldk,
                            beta: 0, c: p, ldc: kEnd, threads: 1)
                        for x in 0..<m {
                            let i = i0 + x % nr, h = h0 + x / nr
                            let row = p + x * kEnd
                            let l = lse[h * t + i]
                            if l == -.infinity {
                                row.update(repeating: 0, count: kEnd)
                                continue
                            }
                            let limit = rowLimit(mask, query: i, kEnd: kEnd)
                            if let allowed { AttentionSIMD.applyMask(row, allowed + i * s, limit) }
                            _ = AttentionSIMD.expShifted(row, limit, shift: l)
                            if limit < kEnd { (row + limit).update(repeating: 0, count: kEnd - limit) }
                        }
                    }
                    // D_i = dO_i · O_i (= Σ_j P_ij dP_ij).
                    for x in 0..<m {
                        let i = i0 + x % nr, h = h0 + x / nr
                        delta[x] = AttentionSIMD.dot(dOut + i * ldo + h * hd, out + i * ldo + h * hd, hd)
                    }
                    // dP = dO·V_gᵀ, then dS = P ⊙ (dP − D) in place.
                    GEMM.sgemm(
                        transA: false, transB: true, m: m, n: kEnd, k: hd, alpha: 1,
                        a: dOA, lda: lddA, b: v + g * hd, ldb: ldv,
                        beta: 0, c: ds, ldc: kEnd, threads: 1)
                    for x in 0..<m {
                        if lse[(h0 + x / nr) * t + i0 + x % nr] == -.infinity {
                            (ds + x * kEnd).update(repeating: 0, count: kEnd)
                        } else {
                            AttentionSIMD.softmaxGrad(p + x * kEnd, ds + x * kEnd, kEnd, delta[x])
                        }
                    }
                    // dV_g += Pᵀ·dO, dK_g += scale·dSᵀ·Q, dQ = scale·dS·K_g.
                    GEMM.sgemm(
                        transA: true, transB: false, m: kEnd, n: hd, k: m, alpha: 1,
                        a: p, lda: kEnd, b: dOA, ldb: lddA,
                        beta: 1, c: accV + g * hd, ldc: ldav, threads: 1)
                    GEMM.sgemm(
                        transA: true, transB: false, m: kEnd, n: hd, k: m, alpha: sc,
                        a: ds, lda: kEnd, b: qA, ldb: ldqA,
                        beta: 1, c: accK + g * hd, ldc: ldak, threads: 1)
                    if stacked {
                        GEMM.sgemm(
                            transA: false, transB: false, m: m, n: hd, k: kEnd, alpha: sc,
                            a: ds, lda: kEnd, b: k + g * hd, ldb: ldk,
                            beta: 0, c: dqs, ldc: hd, threads: 1)
                        for x in 0..<m {
                            let dst = dq + (i0 + x % nr) * ldq + (h0 + x / nr) * hd
                            if accumulate {
                                addRow(dst, dqs + x * hd, hd)
                            } else {
                                dst.update(from: dqs + x * hd, count: hd)
                            }
                        }
                    } else {
                        GEMM.sgemm(
                            transA: false, transB: false, m: m, n: hd, k: kEnd, alpha: sc,
                            a: ds, lda: kEnd, b: k + g * hd, ldb: ldk,
                            beta: accumulate ? 1 : 0, c: dq + i0 * ldq + h0 * hd, ldc: ldq, threads: 1)
                    }
                }
            }
        }
        // Sum the private dK/dV accumulators into dk/dv, rows split over the threads.
        if workers > 1 {
            let pb = UnsafePointer(privateBuf)
            Parallel.forRanges(s, grain: 64) { range in
                for j in range {
                    for w in 1..<workers {
                        let base = pb + (w - 1) * 2 * s * kvWidth
                        addRow(dk + j * ldk, base + j * kvWidth, kvWidth)
                        addRow(dv + j * ldv, base + s * kvWidth + j * kvWidth, kvWidth)
                    }
                }
            }
        }
    }

    /// `dst[c] += src[c]` for `c < n`.
    @inline(__always)
    static func addRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
        var c = 0
        while c + 8 <= n {
            let d = UnsafeMutableRawPointer(dst + c)
            d.storeBytes(of: d.loadUnaligned(as: SIMD8<Float>.self)
                         + UnsafeRawPointer(src + c).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            c += 8
        }
        while c < n { dst[c] += src[c]; c += 1 }
    }
}

import Foundation

/// Scaled-dot-product attention with grouped-query heads, a prefix of cached keys/values and
/// masks: `out_h = softmax(scale·Q_h·K_gᵀ + mask)·V_g` for every query head `h`, with kv head
/// `g = h / (heads / kvHeads)`.
///
/// Layouts (row-major, all Float32):
/// - `q`  [T × nH·hd]: row `t` holds every head's query of token `t`, head `h` in columns
///   `h·hd ..< (h+1)·hd`; rows `ldq` floats apart (`ldq ≥ nH·hd`).
/// - `k`, `v` [S × nKV·hd]: the S keys/values, a prefix (KV cache, compressed memory) first;
///   rows `ldk`/`ldv` floats apart (`≥ nKV·hd`).
/// - `out` [T × nH·hd] like `q`, rows `ldo` floats apart.
/// - `lse` [nH × T]: `lse[h·T + i] = log Σ_j e^(scale·q_i·k_j)` over the keys query `i` sees
///   (natural log, in units of the scaled scores), −∞ for a query that sees no key.
///
/// The pointer-level functions state their requirements with `precondition`; the `Tensor`
/// functions check shapes and throw `TensorError`. A single query row without kept probabilities
/// (decoding) takes `forwardOneQuery`, one pass over the cache (its keys split over the threads
/// when long). Otherwise work is split over items of (one query head,
/// or all query heads of a kv group stacked, × a block of ≤ 48 query rows) on
/// `Parallel.threads` threads (one thread below ~0.5 MFLOP); each item computes its scores
/// block with `GEMM.sgemm` into per-worker scratch (rows × S floats, two such buffers in the
/// backward), so no T×S×nH probability tensor is ever stored. Causal blocks skip the keys no
/// row of the block can see.
public enum Attention {
    /// Forward pass. Overwrites `out` (columns `0..<nH·hd` of its T rows) and, when `lse` is
    /// not nil, writes the logsumexp [nH × T] that `backward` needs.
    ///
    /// - Parameters:
    ///   - scale: multiplies the scores before the softmax; nil means `1/√hd`.
    ///   - mask: which keys each query sees (validated: precondition).
    ///   - probabilities: when not nil, also receives the attention probabilities, `[nH × T × S]`
    ///     (row `h·T + i` holds query `i`'s softmax over the S keys for head `h`, zero where
    ///     masked), for `backward(probabilities:)` to read instead of recomputing them: one
    ///     `[rows × S]` product per block and its exponentials fewer in the backward, for
    ///     `4·nH·T·S` bytes kept between the two.
    /// Queries that see no key get `out` row 0 and `lse` −∞. `out`, `lse` and `probabilities`
    /// must not overlap the inputs or each other.
    public static func forward(
        q: UnsafePointer<Float>, ldq: Int,
        k: UnsafePointer<Float>, ldk: Int,
        v: UnsafePointer<Float>, ldv: Int,
        out: UnsafeMutablePointer<Float>, ldo: Int,
        lse: UnsafeMutablePointer<Float>?,
        dims: AttentionDims, scale: Float? = nil, mask: AttentionMask,
        probabilities: UnsafeMutablePointer<Float>? = nil
    ) {
        // A decoding step: one query row, nothing kept for a backward but the lse.
        if dims.queries == 1, probabilities == nil, let limit = oneQueryLimit(mask, keys: dims.keys) {
            checkPreconditions(dims: dims, mask: mask, ldq: ldq, ldk: ldk, ldv: ldv, ldo: ldo)
            forwardOneQuery(q: q, k: k, ldk: ldk, v: v, ldv: ldv, out: out, lse: lse, dims: dims,
                            scale: scale ?? dims.defaultScale, limit: limit)
            return
        }
        let threads = AttentionPlan.threads(for: dims, available: Parallel.threads)
        forward(q: q, ldq: ldq, k: k, ldk: ldk, v: v, ldv: ldv, out: out, ldo: ldo, lse: lse,
                dims: dims, scale: scale, mask: mask, threads: threads,
                stackGroups: AttentionPlan.stacks(dims, threads: threads), probabilities: probabilities)
    }

    /// `forward` with an explicit number of threads and, for tests, static interleaved scheduling.
    static func forward(
        q: UnsafePointer<Float>, ldq: Int,
        k: UnsafePointer<Float>, ldk: Int,
        v: UnsafePointer<Float>, ldv: Int,
        out: UnsafeMutablePointer<Float>, ldo: Int,
        lse: UnsafeMutablePointer<Float>?,
        dims: AttentionDims, scale: Float?, mask: AttentionMask, threads: Int, interleaved: Bool = false, stackGroups: Bool = false,
        probabilities: UnsafeMutablePointer<Float>? = nil
    ) {
        checkPreconditions(dims: dims, mask: mask, ldq: ldq, ldk: ldk, ldv: ldv, ldo: ldo)
        let t = dims.queries, s = dims.keys, hd = dims.headDim, group = dims.group
        let sc = scale ?? dims.defaultScale
        let plan = AttentionPlan(dims: dims, threads: threads, stackGroups: stackGroups)
        if plan.items == 0 { return }
        let hpi = plan.headsPerItem, stacked = hpi > 1
        let queue = AttentionWorkQueue(count: plan.items, workers: plan.workers, interleaved: interleaved)
        withMaskPointer(mask) { allowed in
            Parallel.forEach(plan.workers) { w in
                // Scratch: scores [mMax × S], 1/sum [mMax], stacked Q and out [mMax × hd] each.
                let mMax = plan.blockRows * hpi
                let scoreCount = Swift.max(1, mMax * s)
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: scoreCount + mMax * (1 + 2 * hd))
                let invSum = scores + scoreCount
                let qs = invSum + mMax, os = qs + mMax * hd
                defer { scores.deallocate() }
                while let item = queue.next(worker: w) {
                    let (h0, rows) = plan.item(item, dims: dims)
                    let g = h0 / group
                    let i0 = rows.lowerBound, nr = rows.count, m = nr * hpi
                    let kEnd = mask.keyEnd(queryEnd: rows.upperBound, keys: s)
                    if kEnd == 0 {
                        for h in h0..<(h0 + hpi) {
                            for r in 0..<nr { (out + (i0 + r) * ldo + h * hd).update(repeating: 0, count: hd) }
                            if let lse { (lse + h * t + i0).update(repeating: -.infinity, count: nr) }
                        }
                        continue
                    }
                    // Row x of the stack is query i0 + x % nr of head h0 + x / nr.
                    let a: UnsafePointer<Float>, lda: Int
                    if stacked {
                        for x in 0..<m {
                            (qs + x * hd).update(from: q + (i0 + x % nr) * ldq + (h0 + x / nr) * hd, count: hd)
                        }
                        (a, lda) = (UnsafePointer(qs), hd)
                    } else {
                        (a, lda) = (q + i0 * ldq + h0 * hd, ldq)
                    }
                    // Scores of the block: scale·Q_blk·K_gᵀ [m × kEnd].
                    GEMM.sgemm(
                        transA: false, transB: true, m: m, n: kEnd, k: hd, alpha: sc,
                        a: a, lda: lda, b: k + g * hd, ldb: ldk,
                        beta: 0, c: scores, ldc: kEnd, threads: 1)
                    // Masked row softmax, unnormalised; 1/sum kept for after P·V.
                    for x in 0..<m {
                        let i = i0 + x % nr, h = h0 + x / nr
                        let row = scores + x * kEnd
                        let limit = rowLimit(mask, query: i, kEnd: kEnd)
                        if let allowed { AttentionSIMD.applyMask(row, allowed + i * s, limit) }
                        let mx = AttentionSIMD.max(row, limit)
                        if mx == -.infinity {
                            row.update(repeating: 0, count: kEnd)
                            invSum[x] = 0
                            lse?[h * t + i] = -.infinity
                            continue
                        }
                        let sum = AttentionSIMD.expShifted(row, limit, shift: mx)
                        if limit < kEnd { (row + limit).update(repeating: 0, count: kEnd - limit) }
                        invSum[x] = 1 / sum
                        lse?[h * t + i] = mx + log(sum)
                    }
                    if let probabilities {
                        for x in 0..<m {
                            let dst = probabilities + ((h0 + x / nr) * t + i0 + x % nr) * s
                            AttentionSIMD.scaledCopy(dst, scores + x * kEnd, kEnd, by: invSum[x])
                            if kEnd < s { (dst + kEnd).update(repeating: 0, count: s - kEnd) }
                        }
                    }
                    // out = P·V_g, rows scaled by 1/sum (through the stack buffer when stacked).
                    let outBlk = out + i0 * ldo + h0 * hd
                    GEMM.sgemm(
                        transA: false, transB: false, m: m, n: hd, k: kEnd, alpha: 1,
                        a: scores, lda: kEnd, b: v + g * hd, ldb: ldv,
                        beta: 0, c: stacked ? os : outBlk, ldc: stacked ? hd : ldo, threads: 1)
                    if stacked {
                        for x in 0..<m {
                            let dst = out + (i0 + x % nr) * ldo + (h0 + x / nr) * hd
                            dst.update(from: os + x * hd, count: hd)
                            AttentionSIMD.scale(dst, hd, by: invSum[x])
                        }
                    } else {
                        for r in 0..<nr { AttentionSIMD.scale(outBlk + r * ldo, hd, by: invSum[r]) }
                    }
                }
            }
        }
    }

    /// Keys `0..<rowLimit` may be visible to query `i` (all later ones are masked).
    @inline(__always)
    static func rowLimit(_ mask: AttentionMask, query i: Int, kEnd: Int) -> Int {
        if case .causal(let prefix) = mask { return Swift.min(kEnd, prefix + i + 1) }
        return kEnd
    }

    /// Runs `body` with a pointer to the explicit mask's T×S booleans, or nil for other masks.
    @inline(__always)
    static func withMaskPointer(_ mask: AttentionMask, _ body: (UnsafePointer<Bool>?) -> Void) {
        if case .explicit(let allowed) = mask {
            allowed.withUnsafeBufferPointer { body($0.baseAddress) }
        } else {
            body(nil)
        }
    }

    /// The pointer-level requirements shared by forward and backward.
    static func checkPreconditions(
        dims: AttentionDims, mask: AttentionMask, ldq: Int, ldk: Int, ldv: Int, ldo: Int
    ) {
        if let p = dims.problem() { preconditionFailure("Attention: \(p)") }
        if let p = mask.problem(queries: dims.queries, keys: dims.keys) {
            preconditionFailure("Attention: \(p)")
        }
        precondition(ldq >= dims.heads * dims.headDim && ldo >= dims.heads * dims.headDim,
                     "Attention: ldq \(ldq) / ldo \(ldo) smaller than heads·headDim")
        precondition(ldk >= dims.kvHeads * dims.headDim && ldv >= dims.kvHeads * dims.headDim,
                     "Attention: ldk \(ldk) / ldv \(ldv) smaller than kvHeads·headDim")
    }
}

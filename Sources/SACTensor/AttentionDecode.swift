import Foundation

/// Attention for one query row (a decoding step), the path `Attention.forward` takes when
/// `T == 1` and no probabilities are kept.
///
/// The general path computes each kv group's scores and `P·V` with small GEMMs, which walk the
/// cache once per kv group, touching `hd` of every `nKV·hd`-float row on each walk. When decoding,
/// the cache has been pushed out of the caches by the weights streamed since the last step, so
/// those strided walks run at a fraction of the memory bandwidth (measured 1.6 ms against
/// 0.4 ms per token for one walk, 30 layers × 512 keys × 3 kv heads of 64, AVX2 host). Here the
/// keys are read once, row by row, every query head taking its kv head's slice of each row; then
/// the values likewise, four rows at a time, into per-head accumulators that stay in L1.
extension Attention {
    /// Keys the single query sees under `mask` (`0..<limit`), or nil for an explicit mask
    /// (left to the general path).
    static func oneQueryLimit(_ mask: AttentionMask, keys: Int) -> Int? {
        switch mask {
        case .none: return keys
        case .causal(let prefix): return Swift.min(keys, prefix + 1)
        case .explicit: return nil
        }
    }

    /// Keys below which a decoding step's attention stays on one thread: splitting costs a
    /// wake-up of the workers and a merge, about what 512 keys × 9 heads of 64 take on one core.
    static let oneQueryKeysPerPart = 512

    /// `out_h = softmax(scale·q_h·K_gᵀ)·V_g` over keys `0..<limit` for every query head `h` of
    /// the single query row `q` (heads `h·hd ..< (h+1)·hd`), `out` likewise; `lse[h]` as in
    /// `forward`. No keys: `out` 0 and `lse` −∞. Same layouts and requirements as `forward`.
    ///
    /// With more than `oneQueryKeysPerPart` keys per thread, the keys are split into contiguous
    /// parts, one per thread (`threads`, default `Parallel.threads`); each part keeps its own
    /// maximum, sum of exponentials and unnormalised `P·V`, and the parts are merged by rescaling
    /// each with `e^(max_part − max)`: the same softmax, summed in another order.
    static func forwardOneQuery(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>?, dims: AttentionDims, scale: Float,
        limit n: Int, threads: Int = Parallel.threads
    ) {
        let heads = dims.heads, hd = dims.headDim
        if n == 0 {
            out.update(repeating: 0, count: heads * hd)
            lse?.update(repeating: -.infinity, count: heads)
            return
        }
        let parts = Swift.max(1, Swift.min(threads, n / oneQueryKeysPerPart))
        // Part p's maxima [heads] and sums [heads] at stats + 2·heads·p; its unnormalised out
        // [heads × hd] in `out` itself for part 0 (so that one part is the plain one-pass
        // kernel), at rest + heads·hd·(p − 1) for the others.
        let stats = UnsafeMutablePointer<Float>.allocate(capacity: 2 * heads * parts)
        defer { stats.deallocate() }
        let rest = UnsafeMutablePointer<Float>.allocate(capacity: heads * hd * (parts - 1))
        defer { rest.deallocate() }
        Parallel.forEach(parts) { p in
            oneQueryPart(q: q, k: k, ldk: ldk, v: v, ldv: ldv, dims: dims, scale: scale,
                         keys: (n * p / parts)..<(n * (p + 1) / parts),
                         out: p == 0 ? out : rest + heads * hd * (p - 1),
                         maxima: stats + 2 * heads * p, sums: stats + 2 * heads * p + heads)
        }
        for h in 0..<heads {
            var mx = -Float.infinity
            for p in 0..<parts { mx = Swift.max(mx, stats[2 * heads * p + h]) }
            var sum: Float = 0
            for p in 0..<parts { sum += exp(stats[2 * heads * p + h] - mx) * stats[2 * heads * p + heads + h] }
            let o = out + h * hd
            AttentionSIMD.scale(o, hd, by: exp(stats[h] - mx) / sum)
            for p in 1..<parts {
                let w = exp(stats[2 * heads * p + h] - mx) / sum, src = rest + heads * hd * (p - 1) + h * hd
                for e in 0..<hd { o[e] += w * src[e] }
            }
            lse?[h] = mx + log(sum)
        }
    }

    /// One part of `forwardOneQuery`, keys `keys` (not empty): for every head `h`,
    /// `maxima[h] = max_j s_hj`, `sums[h] = Σ_j e^(s_hj − maxima[h])` and
    /// `out_h = Σ_j e^(s_hj − maxima[h])·v_j[g(h)]`, with `s_hj = scale·q_h·k_j[g(h)]`.
    static func oneQueryPart(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        dims: AttentionDims, scale: Float, keys: Range<Int>,
        out: UnsafeMutablePointer<Float>, maxima: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>
    ) {
        let heads = dims.heads, hd = dims.headDim, group = dims.group
        let n = keys.count, first = keys.lowerBound
        out.update(repeating: 0, count: heads * hd)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: heads * n)
        defer { scores.deallocate() }
        let hd8 = hd & ~7

        // Scores, one pass over the key rows: scores[h·n + j] = scale · q_h · k_(first+j)[g(h)].
        for j in 0..<n {
            let row = k + (first + j) * ldk
            for h in 0..<heads {
                let kh = row + (h / group) * hd, qh = q + h * hd
                var acc = SIMD8<Float>()
                var e = 0
                while e < hd8 {
                    acc = acc.addingProduct(Self.load8(qh + e), Self.load8(kh + e))
                    e += 8
                }
                var s = QuantMath.sum(acc)
                while e < hd { s += qh[e] * kh[e]; e += 1 }
                scores[h * n + j] = scale * s
            }
        }

        // Row softmax, unnormalised.
        for h in 0..<heads {
            let row = scores + h * n
            let mx = AttentionSIMD.max(row, n)
            maxima[h] = mx
            sums[h] = AttentionSIMD.expShifted(row, n, shift: mx)
        }

        // P·V, one pass over the value rows, four at a time: out_h += Σ p_h[j]·v_(first+j)[g(h)].
        var j = 0
        while j < n {
            let m = Swift.min(4, n - j)
            for h in 0..<heads {
                let vg = v + (first + j) * ldv + (h / group) * hd, o = out + h * hd, p = scores + h * n + j
                let p0 = SIMD8<Float>(repeating: p[0])
                let p1 = SIMD8<Float>(repeating: m > 1 ? p[1] : 0)
                let p2 = SIMD8<Float>(repeating: m > 2 ? p[2] : 0)
                let p3 = SIMD8<Float>(repeating: m > 3 ? p[3] : 0)
                var e = 0
                while e < hd8 {
                    var a = Self.load8(o + e).addingProduct(p0, Self.load8(vg + e))
                    if m > 1 { a = a.addingProduct(p1, Self.load8(vg + ldv + e)) }
                    if m > 2 { a = a.addingProduct(p2, Self.load8(vg + 2 * ldv + e)) }
                    if m > 3 { a = a.addingProduct(p3, Self.load8(vg + 3 * ldv + e)) }
                    UnsafeMutableRawPointer(o + e).storeBytes(of: a, as: SIMD8<Float>.self)
                    e += 8
                }
                while e < hd {
                    var a = o[e]
                    for r in 0..<m { a += p[r] * vg[r * ldv + e] }
                    o[e] = a
                    e += 1
                }
            }
            j += m
        }
    }

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
}

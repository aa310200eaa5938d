import Foundation
import Testing
@testable import SACTensor

/// Attention forward against a Float64 reference with an explicit softmax; backward against
/// central finite differences (Float64) of L = Σ r ⊙ out; the vectorised exp; the Tensor API's
/// errors. Inputs are seeded SplitMix64 normals.
///
/// Tolerances: out and lse |x − ref| ≤ 5e-6·(1 + |ref|); kept probabilities |p − ref| ≤ 5e-6
/// (exactly 0 where masked); gradients (from recomputed or kept probabilities) |g − fd| ≤ 1e-5·(1 + |fd|)
/// (fd with step 1e-5 in Float64, error ~1e-9); exp relative error ≤ 4e-7 (~3 ulp).
@Suite struct AttentionTests {
    enum MaskKind: Sendable, CustomStringConvertible {
        case none, causal(Int), explicit
        var description: String {
            switch self {
            case .none: return "none"
            case .causal(let p): return "causal(\(p))"
            case .explicit: return "explicit"
            }
        }
    }

    struct Case: Sendable, CustomStringConvertible {
        var t: Int, s: Int, heads: Int, kvHeads: Int, hd: Int, mask: MaskKind
        /// Extra floats at the end of every row (strided caches); checked untouched.
        var pad = 0
        var description: String { "T\(t) S\(s) nH\(heads) nKV\(kvHeads) hd\(hd) \(mask) pad\(pad)" }
        var dims: AttentionDims { AttentionDims(queries: t, keys: s, heads: heads, kvHeads: kvHeads, headDim: hd) }
    }

    // MARK: Reference

    /// Problem data: Float32 inputs, their Float64 copies, and the mask.
    struct Problem {
        var c: Case
        var q: [Float], k: [Float], v: [Float]
        var mask: AttentionMask
        var allowed: [Bool]  // T×S, the mask spelled out

        init(_ c: Case, seed: UInt64) {
            self.c = c
            var rng = SplitMix64(seed: seed)
            q = (0..<(c.t * c.heads * c.hd)).map { _ in Float(rng.nextGaussian()) }
            k = (0..<(c.s * c.kvHeads * c.hd)).map { _ in Float(rng.nextGaussian()) }
            v = (0..<(c.s * c.kvHeads * c.hd)).map { _ in Float(rng.nextGaussian()) }
            switch c.mask {
            case .none:
                mask = .none
                allowed = [Bool](repeating: true, count: c.t * c.s)
            case .causal(let p):
                mask = .causal(prefix: p)
                allowed = (0..<(c.t * c.s)).map { ($0 % c.s) < p + $0 / c.s + 1 }
            case .explicit:
                var a = (0..<(c.t * c.s)).map { _ in Double.random(in: 0..<1, using: &rng) < 0.6 }
                let dead = c.t / 2  // one query that sees no key
                for j in 0..<c.s { a[dead * c.s + j] = false }
                if c.t > 2 { for j in 0..<c.s { a[j] = j == c.s - 1 } }  // one that sees only the last key
                allowed = a
                mask = .explicit(allowed: a)
            }
        }

        /// Float64 attention with an explicit softmax: out [T × nH·hd] and lse [nH × T].
        static func reference(q: [Double], k: [Double], v: [Double], c: Case, allowed: [Bool], scale: Double)
            -> (out: [Double], lse: [Double]) {
            let qw = c.heads * c.hd, kw = c.kvHeads * c.hd, group = c.heads / c.kvHeads
            var out = [Double](repeating: 0, count: c.t * qw)
            var lse = [Double](repeating: -.infinity, count: c.heads * c.t)
            for h in 0..<c.heads {
                let g = h / group
                for i in 0..<c.t {
                    var sc = [Double](repeating: -.infinity, count: c.s)
                    for j in 0..<c.s where allowed[i * c.s + j] {
                        var d = 0.0
                        for e in 0..<c.hd { d += q[i * qw + h * c.hd + e] * k[j * kw + g * c.hd + e] }
                        sc[j] = scale * d
                    }
                    let m = sc.max() ?? -.infinity
                    if m == -.infinity { continue }
                    let ex = sc.map { Foundation.exp($0 - m) }
                    let sum = ex.reduce(0, +)
                    lse[h * c.t + i] = m + Foundation.log(sum)
                    for j in 0..<c.s where ex[j] > 0 {
                        for e in 0..<c.hd { out[i * qw + h * c.hd + e] += ex[j] / sum * v[j * kw + g * c.hd + e] }
                    }
                }
            }
            return (out, lse)
        }
    }

    /// Copies the rows of a dense [rows × width] matrix into a buffer with `pad` extra floats per
    /// row (filled with a sentinel).
    static func padded(_ x: [Float], width: Int, pad: Int, sentinel: Float = 12345) -> [Float] {
        let rows = width == 0 ? 0 : x.count / width
        var y = [Float](repeating: sentinel, count: rows * (width + pad))
        for r in 0..<rows { for c in 0..<width { y[r * (width + pad) + c] = x[r * width + c] } }
        return y
    }

    static func unpadded(_ y: [Float], width: Int, pad: Int, rows: Int) -> [Float] {
        var x = [Float](repeating: 0, count: rows * width)
        for r in 0..<rows { for c in 0..<width { x[r * width + c] = y[r * (width + pad) + c] } }
        return x
    }

    static func paddingIntact(_ y: [Float], width: Int, pad: Int, sentinel: Float = 12345) -> Bool {
        let ld = width + pad
        for (i, x) in y.enumerated() where i % ld >= width { if x != sentinel { return false } }
        return true
    }

    /// Runs the pointer-level forward on padded copies; returns dense out and lse.
    static func runForward(_ p: Problem, threads: Int, stack: Bool = false)
        -> (out: [Float], lse: [Float], padOK: Bool, probabilities: [Float]) {
        let c = p.c, qw = c.heads * c.hd, kw = c.kvHeads * c.hd
        let qp = padded(p.q, width: qw, pad: c.pad), kp = padded(p.k, width: kw, pad: c.pad)
        let vp = padded(p.v, width: kw, pad: c.pad + 1)
        var op = [Float](repeating: 12345, count: c.t * (qw + c.pad))
        var lse = [Float](repeating: .nan, count: c.heads * c.t)
        var probs = [Float](repeating: .nan, count: c.heads * c.t * c.s)
        qp.withUnsafeBufferPointer { pq in kp.withUnsafeBufferPointer { pk in vp.withUnsafeBufferPointer { pv in
        op.withUnsafeMutableBufferPointer { po in lse.withUnsafeMutableBufferPointer { pl in
        probs.withUnsafeMutableBufferPointer { pp in
            Attention.forward(q: pq.baseAddress!, ldq: qw + c.pad, k: pk.baseAddress!, ldk: kw + c.pad,
                              v: pv.baseAddress!, ldv: kw + c.pad + 1, out: po.baseAddress!, ldo: qw + c.pad,
                              lse: pl.baseAddress!, dims: c.dims, scale: nil, mask: p.mask, threads: threads,
                              interleaved: threads > 1, stackGroups: stack, probabilities: pp.baseAddress!)
        } } } } } }
        return (unpadded(op, width: qw, pad: c.pad, rows: c.t), lse, paddingIntact(op, width: qw, pad: c.pad), probs)
    }

    static func close(_ x: Float, _ ref: Double, _ tol: Double) -> Bool {
        if ref == -.infinity { return x == -.infinity }
        return abs(Double(x) - ref) <= tol * (1 + abs(ref))
    }

    // MARK: Forward

    static let forwardCases: [Case] = [
        Case(t: 7, s: 7, heads: 6, kvHeads: 2, hd: 8, mask: .none),
        Case(t: 7, s: 7, heads: 6, kvHeads: 2, hd: 8, mask: .causal(0)),
        Case(t: 7, s: 12, heads: 6, kvHeads: 2, hd: 8, mask: .causal(5), pad: 3),
        Case(t: 17, s: 22, heads: 3, kvHeads: 3, hd: 64, mask: .causal(5)),
        Case(t: 17, s: 17, heads: 4, kvHeads: 1, hd: 6, mask: .explicit),
        Case(t: 3, s: 8, heads: 3, kvHeads: 1, hd: 6, mask: .explicit, pad: 5),
        Case(t: 1, s: 1, heads: 2, kvHeads: 1, hd: 8, mask: .causal(0)),
        Case(t: 1, s: 6, heads: 3, kvHeads: 3, hd: 64, mask: .none),
        Case(t: 3, s: 3, heads: 6, kvHeads: 2, hd: 64, mask: .none),
        Case(t: 101, s: 131, heads: 3, kvHeads: 1, hd: 64, mask: .causal(30)),  // several query blocks
        Case(t: 97, s: 97, heads: 2, kvHeads: 2, hd: 8, mask: .explicit),
        Case(t: 1, s: 300, heads: 9, kvHeads: 3, hd: 64, mask: .causal(299)),  // decoding
        Case(t: 1, s: 300, heads: 9, kvHeads: 3, hd: 64, mask: .none),
    ]

    @Test(arguments: forwardCases)
    func forwardMatchesFloat64Reference(_ c: Case) {
        let p = Problem(c, seed: UInt64(c.t * 1000 + c.s * 10 + c.hd))
        let ref = Problem.reference(q: p.q.map(Double.init), k: p.k.map(Double.init), v: p.v.map(Double.init),
                                    c: c, allowed: p.allowed, scale: 1 / Double(c.hd).squareRoot())
        // Per-head items and kv-group-stacked items, one thread and several.
        for (threads, stack) in [(1, false), (3, false), (1, true), (2, true)] {
            let (out, lse, padOK, probs) = Self.runForward(p, threads: threads, stack: stack)
            #expect(padOK, "padding columns of out were written")
            // The kept probabilities: e^(score − lse) in Float64, exactly 0 where masked.
            var worstP = 0.0
            let g = c.heads / c.kvHeads, scale = 1 / Double(c.hd).squareRoot()
            for h in 0..<c.heads {
                for i in 0..<c.t {
                    for j in 0..<c.s {
                        let got = Double(probs[(h * c.t + i) * c.s + j])
                        guard p.allowed[i * c.s + j] else {
                            if got != 0 { worstP = .infinity }
                            continue
                        }
                        var score = 0.0
                        for e in 0..<c.hd {
                            score += Double(p.q[i * c.heads * c.hd + h * c.hd + e]) * Double(p.k[j * c.kvHeads * c.hd + (h / g) * c.hd + e])
                        }
                        let ref = Foundation.exp(score * scale - ref.lse[h * c.t + i])
                        worstP = max(worstP, abs(got - ref))
                    }
                }
            }
            #expect(worstP <= 5e-6, "probabilities: worst error \(worstP), threads \(threads), stack \(stack)")
            var worst = 0.0
            for i in 0..<out.count {
                worst = max(worst, abs(Double(out[i]) - ref.out[i]) / (1 + abs(ref.out[i])))
            }
            #expect(worst <= 5e-6, "out: worst relative error \(worst), threads \(threads), stack \(stack)")
            for i in 0..<lse.count where !Self.close(lse[i], ref.lse[i], 5e-6) {
                Issue.record("lse[\(i)] = \(lse[i]), expected \(ref.lse[i]), threads \(threads)")
                break
            }
        }
    }

    /// The public forward with one query row and no kept probabilities takes the one-pass
    /// decoding path (`forwardOneQuery`): against the same Float64 reference, with strided
    /// rows, head sizes with scalar tails, a causal prefix that hides the last keys, and more
    /// keys than a 4-row block divides.
    @Test(arguments: [
        Case(t: 1, s: 1, heads: 2, kvHeads: 1, hd: 8, mask: .causal(0)),
        Case(t: 1, s: 6, heads: 3, kvHeads: 3, hd: 64, mask: .none),
        Case(t: 1, s: 300, heads: 9, kvHeads: 3, hd: 64, mask: .causal(299), pad: 3),
        Case(t: 1, s: 300, heads: 9, kvHeads: 3, hd: 64, mask: .causal(296)),
        Case(t: 1, s: 13, heads: 4, kvHeads: 2, hd: 12, mask: .none, pad: 5),
        Case(t: 1, s: 7, heads: 6, kvHeads: 2, hd: 6, mask: .causal(6)),
        Case(t: 1, s: 513, heads: 9, kvHeads: 3, hd: 64, mask: .none),
    ])
    func oneQueryPathMatchesFloat64Reference(_ c: Case) {
        let p = Problem(c, seed: UInt64(7 * c.s + c.hd))
        let ref = Problem.reference(q: p.q.map(Double.init), k: p.k.map(Double.init), v: p.v.map(Double.init),
                                    c: c, allowed: p.allowed, scale: 1 / Double(c.hd).squareRoot())
        let qw = c.heads * c.hd, kw = c.kvHeads * c.hd
        let kp = Self.padded(p.k, width: kw, pad: c.pad), vp = Self.padded(p.v, width: kw, pad: c.pad + 1)
        var op = [Float](repeating: 12345, count: qw + c.pad)
        var lse = [Float](repeating: .nan, count: c.heads)
        p.q.withUnsafeBufferPointer { pq in kp.withUnsafeBufferPointer { pk in vp.withUnsafeBufferPointer { pv in
        op.withUnsafeMutableBufferPointer { po in lse.withUnsafeMutableBufferPointer { pl in
            Attention.forward(q: pq.baseAddress!, ldq: qw, k: pk.baseAddress!, ldk: kw + c.pad,
                              v: pv.baseAddress!, ldv: kw + c.pad + 1, out: po.baseAddress!, ldo: qw + c.pad,
                              lse: pl.baseAddress!, dims: c.dims, mask: p.mask)
        } } } } }
        #expect(Self.paddingIntact(op, width: qw, pad: c.pad), "padding columns of out were written")
        var worst = 0.0
        for i in 0..<qw { worst = max(worst, abs(Double(op[i]) - ref.out[i]) / (1 + abs(ref.out[i]))) }
        #expect(worst <= 5e-6, "out: worst relative error \(worst)")
        for h in 0..<c.heads { #expect(Self.close(lse[h], ref.lse[h], 5e-6), "lse[\(h)] = \(lse[h]), expected \(ref.lse[h])") }
    }

    /// The decoding path split over threads (keys in contiguous parts, merged by rescaling each
    /// part's sums with `e^(max_part − max)`): against the Float64 reference for 1–4 parts, with
    /// part boundaries off the 4-row blocks, a causal limit, and scores peaked enough (scale 1,
    /// score s.d. 8) that the parts' maxima differ by many units.
    @Test(arguments: [(1, 0.125), (2, 0.125), (3, 0.125), (4, 0.125), (2, 1.0), (3, 1.0)])
    func oneQuerySplitOverThreadsMatchesFloat64Reference(threads: Int, scale: Double) {
        let keys = 4 * Attention.oneQueryKeysPerPart + 3, limit = keys - 2
        let c = Case(t: 1, s: keys, heads: 9, kvHeads: 3, hd: 64, mask: .causal(limit - 1), pad: 3)
        let p = Problem(c, seed: UInt64(31 * threads) + UInt64(scale * 8))
        let ref = Problem.reference(q: p.q.map(Double.init), k: p.k.map(Double.init), v: p.v.map(Double.init),
                                    c: c, allowed: p.allowed, scale: scale)
        let qw = c.heads * c.hd, kw = c.kvHeads * c.hd
        let kp = Self.padded(p.k, width: kw, pad: c.pad), vp = Self.padded(p.v, width: kw, pad: c.pad + 1)
        var out = [Float](repeating: .nan, count: qw)
        var lse = [Float](repeating: .nan, count: c.heads)
        p.q.withUnsafeBufferPointer { pq in kp.withUnsafeBufferPointer { pk in vp.withUnsafeBufferPointer { pv in
        out.withUnsafeMutableBufferPointer { po in lse.withUnsafeMutableBufferPointer { pl in
            Attention.forwardOneQuery(q: pq.baseAddress!, k: pk.baseAddress!, ldk: kw + c.pad, v: pv.baseAddress!,
                                      ldv: kw + c.pad + 1, out: po.baseAddress!, lse: pl.baseAddress!, dims: c.dims,
                                      scale: Float(scale), limit: limit, threads: threads)
        } } } } }
        var worst = 0.0
        for i in 0..<qw { worst = max(worst, abs(Double(out[i]) - ref.out[i]) / (1 + abs(ref.out[i]))) }
        #expect(worst <= 5e-6, "out: worst relative error \(worst), \(threads) threads, scale \(scale)")
        for h in 0..<c.heads {
            #expect(Self.close(lse[h], ref.lse[h], 5e-6), "lse[\(h)] = \(lse[h]), expected \(ref.lse[h]), \(threads) threads")
        }
    }

    @Test func explicitScaleAndFullyMaskedRow() throws {
        let c = Case(t: 5, s: 9, heads: 2, kvHeads: 1, hd: 8, mask: .explicit)
        let p = Problem(c, seed: 77)
        let q = try Tensor(shape: [5, 16], data: p.q), k = try Tensor(shape: [9, 8], data: p.k)
        let v = try Tensor(shape: [9, 8], data: p.v)
        let r = try Attention.forward(q: q, k: k, v: v, heads: 2, kvHeads: 1, mask: p.mask, scale: 0.7)
        let ref = Problem.reference(q: p.q.map(Double.init), k: p.k.map(Double.init), v: p.v.map(Double.init),
                                    c: c, allowed: p.allowed, scale: 0.7)
        for i in 0..<r.out.count { #expect(Self.close(r.out.data[i], ref.out[i], 5e-6)) }
        let lse = try #require(r.lse)
        #expect(lse.shape == [2, 5])
        for i in 0..<lse.count { #expect(Self.close(lse.data[i], ref.lse[i], 5e-6)) }
        // Query t/2 = 2 sees nothing: output exactly 0, lse −∞.
        for e in 0..<16 { #expect(r.out.data[2 * 16 + e] == 0) }
        #expect(lse.data[2] == -.infinity && lse.data[5 + 2] == -.infinity)
    }

    // MARK: Backward

    /// L = Σ r ⊙ out in Float64.
    static func loss(_ q: [Double], _ k: [Double], _ v: [Double], _ r: [Double], _ p: Problem) -> Double {
        let o = Problem.reference(q: q, k: k, v: v, c: p.c, allowed: p.allowed, scale: 1 / Double(p.c.hd).squareRoot()).out
        var l = 0.0
        for i in 0..<o.count { l += r[i] * o[i] }
        return l
    }

    /// Central differences of `loss` with respect to every element of q, k and v.
    static func finiteDifferences(_ p: Problem, r: [Double]) -> (dq: [Double], dk: [Double], dv: [Double]) {
        var q = p.q.map(Double.init), k = p.k.map(Double.init), v = p.v.map(Double.init)
        let h = 1e-5
        func fd(_ x: inout [Double], _ i: Int, _ eval: ([Double]) -> Double) -> Double {
            let x0 = x[i]
            x[i] = x0 + h; let lp = eval(x)
            x[i] = x0 - h; let lm = eval(x)
            x[i] = x0
            return (lp - lm) / (2 * h)
        }
        var dq = [Double](repeating: 0, count: q.count), dk = [Double](repeating: 0, count: k.count)
        var dv = [Double](repeating: 0, count: v.count)
        for i in 0..<q.count { dq[i] = fd(&q, i) { loss($0, k, v, r, p) } }
        for i in 0..<k.count { dk[i] = fd(&k, i) { loss(q, $0, v, r, p) } }
        for i in 0..<v.count { dv[i] = fd(&v, i) { loss(q, k, $0, r, p) } }
        return (dq, dk, dv)
    }

    static let backwardCases: [Case] = [
        Case(t: 7, s: 12, heads: 6, kvHeads: 2, hd: 8, mask: .causal(5)),
        Case(t: 7, s: 7, heads: 6, kvHeads: 2, hd: 8, mask: .causal(0), pad: 3),
        Case(t: 3, s: 5, heads: 3, kvHeads: 3, hd: 6, mask: .none),
        Case(t: 7, s: 9, heads: 2, kvHeads: 1, hd: 6, mask: .explicit, pad: 2),
        Case(t: 1, s: 13, heads: 2, kvHeads: 1, hd: 64, mask: .causal(12)),
        Case(t: 17, s: 20, heads: 2, kvHeads: 1, hd: 8, mask: .causal(3)),
        Case(t: 53, s: 60, heads: 2, kvHeads: 1, hd: 6, mask: .causal(7)),  // two query blocks
    ]

    @Test(arguments: backwardCases)
    func backwardMatchesFiniteDifferences(_ c: Case) {
        let p = Problem(c, seed: UInt64(97 + c.t * 31 + c.s))
        var rng = SplitMix64(seed: 5 + UInt64(c.s))
        let qw = c.heads * c.hd, kw = c.kvHeads * c.hd
        let r = (0..<(c.t * qw)).map { _ in Float(rng.nextGaussian()) }
        let fd = Self.finiteDifferences(p, r: r.map(Double.init))
        let (out, lse, _, probs) = Self.runForward(p, threads: 1)
        // Probabilities recomputed from lse, or read from what the forward kept.
        for (threads, accumulate, stack, stored) in [(1, false, false, false), (3, false, false, false), (2, true, false, false),
                                                     (1, false, true, false), (2, false, true, false), (3, true, true, false),
                                                     (1, false, false, true), (2, true, true, true), (3, false, true, true)] {
            let ldq = qw + c.pad, ldk = kw + c.pad, ldv = kw + c.pad + 1, ldo = qw + c.pad + 2
            let qp = Self.padded(p.q, width: qw, pad: c.pad), kp = Self.padded(p.k, width: kw, pad: c.pad)
            let vp = Self.padded(p.v, width: kw, pad: c.pad + 1)
            let op = Self.padded(out, width: qw, pad: c.pad + 2), rp = Self.padded(r, width: qw, pad: c.pad + 2)
            // Accumulating into non-zero gradients: start from 1.5 everywhere (sentinel in padding).
            let start: Float = accumulate ? 1.5 : 0
            var dq = Self.padded([Float](repeating: accumulate ? start : .nan, count: c.t * qw), width: qw, pad: c.pad)
            var dk = Self.padded([Float](repeating: accumulate ? start : .nan, count: c.s * kw), width: kw, pad: c.pad)
            var dv = Self.padded([Float](repeating: accumulate ? start : .nan, count: c.s * kw), width: kw, pad: c.pad + 1)
            qp.withUnsafeBufferPointer { pq in kp.withUnsafeBufferPointer { pk in vp.withUnsafeBufferPointer { pv in
            op.withUnsafeBufferPointer { po in rp.withUnsafeBufferPointer { pr in lse.withUnsafeBufferPointer { pl in
            dq.withUnsafeMutableBufferPointer { gq in dk.withUnsafeMutableBufferPointer { gk in
            dv.withUnsafeMutableBufferPointer { gv in probs.withUnsafeBufferPointer { pp in
                Attention.backward(
                    dOut: pr.baseAddress!, q: pq.baseAddress!, ldq: ldq, k: pk.baseAddress!, ldk: ldk,
                    v: pv.baseAddress!, ldv: ldv, out: po.baseAddress!, ldo: ldo, lse: pl.baseAddress!,
                    dq: gq.baseAddress!, dk: gk.baseAddress!, dv: gv.baseAddress!, dims: c.dims, scale: nil,
                    mask: p.mask, accumulate: accumulate, threads: threads, interleaved: threads > 1,
                    stackGroups: stack, probabilities: stored ? pp.baseAddress! : nil)
            } } } } } } } } } }
            #expect(Self.paddingIntact(dq, width: qw, pad: c.pad) && Self.paddingIntact(dk, width: kw, pad: c.pad)
                    && Self.paddingIntact(dv, width: kw, pad: c.pad + 1), "padding of a gradient was written")
            let got: [(String, [Float], [Double])] = [
                ("dq", Self.unpadded(dq, width: qw, pad: c.pad, rows: c.t), fd.dq),
                ("dk", Self.unpadded(dk, width: kw, pad: c.pad, rows: c.s), fd.dk),
                ("dv", Self.unpadded(dv, width: kw, pad: c.pad + 1, rows: c.s), fd.dv),
            ]
            for (name, g, ref) in got {
                var worst = 0.0, at = 0
                for i in 0..<g.count {
                    let e = abs(Double(g[i] - start) - ref[i]) / (1 + abs(ref[i]))
                    if !(e <= worst) { worst = e; at = i }
                }
                #expect(worst <= 1e-5, "\(name): worst error \(worst) at \(at) (threads \(threads), accumulate \(accumulate), stack \(stack), stored \(stored))")
            }
            // The prefix keys receive gradient (the compressed memory learns).
            if case .causal(let prefix) = c.mask, prefix > 0 {
                let dkPrefix = Self.unpadded(dk, width: kw, pad: c.pad, rows: c.s)[0..<(prefix * kw)]
                #expect(dkPrefix.contains { abs($0 - start) > 1e-6 })
            }
        }
    }

    @Test func tensorBackwardMatchesPointerLevel() throws {
        let c = Case(t: 5, s: 11, heads: 6, kvHeads: 3, hd: 8, mask: .causal(6))
        let p = Problem(c, seed: 31)
        let q = try Tensor(shape: [5, 48], data: p.q)
        let k = try Tensor(shape: [11, 24], data: p.k), v = try Tensor(shape: [11, 24], data: p.v)
        let f = try Attention.forward(q: q, k: k, v: v, heads: 6, kvHeads: 3, mask: p.mask)
        var rng = SplitMix64(seed: 8)
        let r = Tensor(randomNormal: [5, 48], using: &rng)
        let g = try Attention.backward(dOut: r, q: q, k: k, v: v, out: f.out, lse: try #require(f.lse),
                                       heads: 6, kvHeads: 3, mask: p.mask)
        let fd = Self.finiteDifferences(p, r: r.data.map(Double.init))
        #expect(g.dq.shape == [5, 48] && g.dk.shape == [11, 24] && g.dv.shape == [11, 24])
        for (x, ref) in [(g.dq, fd.dq), (g.dk, fd.dk), (g.dv, fd.dv)] {
            for i in 0..<x.count { #expect(Self.close(x.data[i], ref[i], 1e-5)) }
        }
    }

    /// The public backward is deterministic: items go to workers in a fixed order, so repeated
    /// calls give the same bits (a shared work queue let dK/dV's partial sums vary).
    @Test func backwardIsBitForBitRepeatable() throws {
        let c = Case(t: 96, s: 230, heads: 9, kvHeads: 3, hd: 16, mask: .causal(134))
        let p = Problem(c, seed: 44)
        let q = try Tensor(shape: [96, 144], data: p.q)
        let k = try Tensor(shape: [230, 48], data: p.k), v = try Tensor(shape: [230, 48], data: p.v)
        let f = try Attention.forward(q: q, k: k, v: v, heads: 9, kvHeads: 3, mask: p.mask)
        var rng = SplitMix64(seed: 9)
        let r = Tensor(randomNormal: [96, 144], using: &rng)
        let lse = try #require(f.lse)
        let first = try Attention.backward(dOut: r, q: q, k: k, v: v, out: f.out, lse: lse, heads: 9, kvHeads: 3, mask: p.mask)
        for _ in 0..<10 {
            let g = try Attention.backward(dOut: r, q: q, k: k, v: v, out: f.out, lse: lse, heads: 9, kvHeads: 3, mask: p.mask)
            #expect(g.dq.data == first.dq.data && g.dk.data == first.dk.data && g.dv.data == first.dv.data)
        }
    }

    // MARK: exp, errors

    @Test func simdExpMatchesFoundation() {
        var rng = SplitMix64(seed: 3)
        var worst = 0.0
        for _ in 0..<4000 {
            let x = Float.random(in: -87..<88, using: &rng)
            let e = Double(AttentionSIMD.exp(x)), ref = Foundation.exp(Double(x))
            worst = max(worst, abs(e - ref) / ref)
        }
        #expect(worst <= 4e-7, "worst relative error \(worst)")
        #expect(AttentionSIMD.exp(-Float.infinity) == 0)
        #expect(AttentionSIMD.exp(-88.5) == 0)
        #expect(AttentionSIMD.exp(0) == 1)
    }

    @Test func tensorAPIRejectsBadShapes() throws {
        var rng = SplitMix64(seed: 1)
        let q = Tensor(randomNormal: [4, 12], using: &rng)
        let k = Tensor(randomNormal: [6, 6], using: &rng), v = Tensor(randomNormal: [6, 6], using: &rng)
        // Works: nH = 2, nKV = 1, hd = 6.
        let f = try Attention.forward(q: q, k: k, v: v, heads: 2, kvHeads: 1, mask: .causal(prefix: 2))
        #expect(f.out.shape == [4, 12])
        let bad: [() throws -> Void] = [
            { _ = try Attention.forward(q: Tensor(zeros: [48]), k: k, v: v, heads: 2, kvHeads: 1, mask: .none) },
            { _ = try Attention.forward(q: q, k: k, v: v, heads: 5, kvHeads: 1, mask: .none) },  // 12 % 5
            { _ = try Attention.forward(q: q, k: k, v: v, heads: 3, kvHeads: 2, mask: .none) },  // 3 % 2
            { _ = try Attention.forward(q: q, k: k, v: v, heads: 2, kvHeads: 0, mask: .none) },
            { _ = try Attention.forward(q: q, k: k, v: v, heads: 2, kvHeads: 2, mask: .none) },  // k width
            { _ = try Attention.forward(q: q, k: k, v: Tensor(zeros: [5, 6]), heads: 2, kvHeads: 1, mask: .none) },
            { _ = try Attention.forward(q: q, k: k, v: v, heads: 2, kvHeads: 1, mask: .causal(prefix: 3)) },
            { _ = try Attention.forward(q: q, k: k, v: v, heads: 2, kvHeads: 1, mask: .causal(prefix: -1)) },
            { _ = try Attention.forward(q: q, k: k, v: v, heads: 2, kvHeads: 1,
                                        mask: .explicit(allowed: [Bool](repeating: true, count: 23))) },
            { _ = try Attention.backward(dOut: q, q: q, k: k, v: v, out: f.out, lse: Tensor(zeros: [4, 2]),
                                         heads: 2, kvHeads: 1, mask: .causal(prefix: 2)) },
            { _ = try Attention.backward(dOut: Tensor(zeros: [4, 6]), q: q, k: k, v: v, out: f.out,
                                         lse: try #require(f.lse), heads: 2, kvHeads: 1, mask: .causal(prefix: 2)) },
        ]
        for b in bad { #expect(throws: TensorError.self) { try b() } }
    }
}

/// Vectorised helpers of the attention kernels (softmax exponentials and reductions).
///
/// Lane-wise min/max/select are written as 8-lane loops, which LLVM turns into single
/// `vmaxps`/`vminps`; the standard library's `pointwiseMax`, `clamped` and `SIMDMask`
/// selects are not inlined (each costs a call or a lane-by-lane loop).
enum AttentionSIMD {
    /// Lane-wise maximum (`vmaxps`).
    @inline(__always)
    static func lanesMax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        var r = a
        for l in 0..<8 { r[l] = a[l] > b[l] ? a[l] : b[l] }
        return r
    }

    /// Lane-wise minimum (`vminps`).
    @inline(__always)
    static func lanesMin(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        var r = a
        for l in 0..<8 { r[l] = a[l] < b[l] ? a[l] : b[l] }
        return r
    }

    /// `e^x` lane by lane (Cephes `expf` polynomial, about 2 ulp over the normal range).
    /// Lanes at or below −88.34 (including −∞) give exactly 0; lanes in (−88.34, −87.34) give
    /// a value below 1.2e-38; lanes above 88.72 saturate at ≈ 3.4e38. NaN lanes give NaN.
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let lo: Float = -87.33654, hi: Float = 88.72283
        let xc = lanesMin(lanesMax(x, SIMD8(repeating: lo)), SIMD8(repeating: hi))
        // n = round(x·log2 e) through the 1.5·2²³ trick (round to nearest, no conversion).
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let t = magic.addingProduct(xc, SIMD8(repeating: 1.442_695_04))
        let n = t - magic
        // r = x − n·ln2 in two parts (|r| ≤ ln2/2).
        var r = xc.addingProduct(n, SIMD8(repeating: -0.693_359_375))
        r = r.addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = SIMD8(repeating: 1.398_199_950_7e-3).addingProduct(p, r)
        p = SIMD8(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
        p = SIMD8(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
        p = SIMD8(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
        p = SIMD8(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
        let y = (r + SIMD8(repeating: 1)).addingProduct(p, r * r)
        // 2^n from the integer sitting in the low mantissa bits of t.
        let ti = unsafeBitCast(t, to: SIMD8<Int32>.self)
        let bits = (ti &- SIMD8(repeating: 0x4B40_0000) &+ SIMD8(repeating: 127)) &<< 23
        // 1 for x ≥ lo, 0 for x ≤ lo − 1 (and −∞): exact zeros for masked scores.
        let gate = lanesMin(lanesMax(x - SIMD8(repeating: lo - 1), SIMD8()), SIMD8(repeating: 1))
        return y * unsafeBitCast(bits, to: SIMD8<Float>.self) * gate
    }

    /// Scalar `e^x` with the same polynomial (for tests and odd elements).
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        exp(SIMD8<Float>(repeating: x))[0]
    }
}

/// Vectorised helpers of the attention kernels (softmax exponentials and reductions).
enum AttentionSIMD {
    /// `e^x` lane by lane (Cephes `expf` polynomial, about 2 ulp over the normal range).
    /// Lanes below −87.3 (including −∞) give exactly 0; lanes above 88.7 saturate at ≈ 3.4e38.
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let lo: Float = -87.33654, hi: Float = 88.72283
        let xc = x.clamped(lowerBound: SIMD8(repeating: lo), upperBound: SIMD8(repeating: hi))
        // n = round(x·log2 e) through the 1.5·2²³ trick (round to nearest, no conversion).
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let t = magic.addingProduct(xc, SIMD8(repeating: 1.442_695_04))
        let n = t - magic
        // r = x − n·ln2 in two parts (|r| ≤ ln2/2).
        var r = xc.addingProduct(n, SIMD8(repeating: -0.693_359_375))
        r = r.addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = p * r + SIMD8(repeating: 1.398_199_950_7e-3)
        p = p * r + SIMD8(repeating: 8.333_451_907_3e-3)
        p = p * r + SIMD8(repeating: 4.166_579_589_4e-2)
        p = p * r + SIMD8(repeating: 1.666_666_545_9e-1)
        p = p * r + SIMD8(repeating: 5.000_000_120_1e-1)
        let r2 = r * r
        let y = (r + SIMD8(repeating: 1)).addingProduct(p, r2)
        // 2^n from the integer sitting in the low mantissa bits of t.
        let ti = unsafeBitCast(t, to: SIMD8<Int32>.self)
        let bits = (ti &- SIMD8(repeating: 0x4B40_0000) &+ SIMD8(repeating: 127)) &<< 23
        let e = y * unsafeBitCast(bits, to: SIMD8<Float>.self)
        return e.replacing(with: 0, where: x .< SIMD8(repeating: lo))
    }

    /// Scalar `e^x` with the same polynomial (for tails shorter than 8 lanes).
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        exp(SIMD8<Float>(repeating: x))[0]
    }
}

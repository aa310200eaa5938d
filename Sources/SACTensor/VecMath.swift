/// SIMD helpers shared by the row kernels (exp, reductions, scaling).
enum VecMath {
    @inline(__always) static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// `e^x` for 16 lanes in Float32, within about 1 ulp of the correctly rounded value
    /// (Cody–Waite reduction by ln 2, degree-6 minimax polynomial, 2ⁿ applied in two steps so
    /// that results reach the subnormal range). `x > 88.7228` gives +∞, `x < −103.9` gives 0.
    @inline(__always) static func exp(_ x0: SIMD16<Float>) -> SIMD16<Float> {
        // Clamp with compare + select (`clamped`/`pointwiseMin` scalarise); NaN stays NaN.
        let lo = SIMD16<Float>(repeating: -104), hi = SIMD16<Float>(repeating: 89)
        let x = x0.replacing(with: lo, where: x0 .< lo).replacing(with: hi, where: x0 .> hi)
        let magic = SIMD16<Float>(repeating: 12_582_912)  // 1.5·2²³: adding it rounds to an integer
        let t = magic.addingProduct(x, SIMD16(repeating: 1.442_695_04))
        let n = t - magic
        var r = x.addingProduct(n, SIMD16(repeating: -0.693_359_375))
        r = r.addingProduct(n, SIMD16(repeating: 2.121_944_4e-4))
        var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
        p = SIMD16(repeating: 1.398_199_95e-3).addingProduct(p, r)
        p = SIMD16(repeating: 8.333_451_9e-3).addingProduct(p, r)
        p = SIMD16(repeating: 4.166_579_6e-2).addingProduct(p, r)
        p = SIMD16(repeating: 1.666_666_55e-1).addingProduct(p, r)
        p = SIMD16(repeating: 5.000_000_12e-1).addingProduct(p, r)
        let y = r.addingProduct(p * r, r) + SIMD16(repeating: 1)
        let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- SIMD16(repeating: 0x4B40_0000)
        let n1 = ni &>> 1, n2 = ni &- n1
        let s1 = unsafeBitCast((n1 &+ 127) &<< 23, to: SIMD16<Float>.self)
        let s2 = unsafeBitCast((n2 &+ 127) &<< 23, to: SIMD16<Float>.self)
        return y * s1 * s2
    }

    /// Scalar version of `exp(_:)` (same polynomial, lane 0 of a splat).
    @inline(__always) static func exp(_ x: Float) -> Float { exp(SIMD16(repeating: x))[0] }

    /// Largest of `n >= 1` values.
    @inline(__always) static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var j = 0
        var m = -Float.infinity
        if n >= 16 {
            var mv = load(x)
            j = 16
            while j + 16 <= n { let v = load(x + j); mv.replace(with: v, where: v .> mv); j += 16 }
            m = mv.max()
        }
        while j < n { m = Swift.max(m, x[j]); j += 1 }
        return m
    }

    /// Σ a·b over `n` values (Float32 SIMD accumulation).
    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var j = 0
        while j + 32 <= n {
            acc0 = acc0.addingProduct(load(a + j), load(b + j))
            acc1 = acc1.addingProduct(load(a + j + 16), load(b + j + 16))
            j += 32
        }
        if j + 16 <= n { acc0 = acc0.addingProduct(load(a + j), load(b + j)); j += 16 }
        var s = (acc0 + acc1).sum()
        while j < n { s += a[j] * b[j]; j += 1 }
        return s
    }

    /// Writes `out[j] = exp(x[j] − shift)` (or only sums when `out` is nil) and returns Σ exp
    /// (Float32 SIMD sums over blocks of 1024, whose partial sums are added in Float64).
    /// `out` may equal `x`.
    @inline(__always) static func expShiftedSum(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>?, _ n: Int, shift: Float
    ) -> Double {
        let sv = SIMD16<Float>(repeating: shift)
        var total = 0.0
        var j = 0
        while j < n {
            let end = Swift.min(n, j + 1024)
            var acc = SIMD16<Float>()
            while j + 16 <= end {
                let e = exp(load(x + j) - sv)
                if let out { store(e, out + j) }
                acc += e
                j += 16
            }
            var s = acc.sum()
            while j < end { let e = exp(x[j] - shift); out?[j] = e; s += e; j += 1 }
            total += Double(s)
        }
        return total
    }

    /// Multiplies `n` values in place by `s`.
    @inline(__always) static func scale(_ p: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        var j = 0
        while j + 16 <= n { store(load(p + j) * s, p + j); j += 16 }
        while j < n { p[j] *= s; j += 1 }
    }
}

import Testing
@testable import SACTensor

/// `Q8Activations` and `QuantizedMatrix.matmulQ8` (decoding with 8-bit activations) against
/// scalar references written independently of the kernels.
@Suite struct Q8ActivationsTests {
    typealias Ref = QuantizedMatrixTests

    /// Gaussian activations with a nonzero mean and per-block scales spread over 2⁻⁶…2⁶, one
    /// all-zero block and one block dominated by a single value.
    static func activations(tokens: Int, cols: Int, _ rng: inout SplitMix64) -> [Float] {
        var x = [Float](repeating: 0, count: tokens * cols)
        for b in 0..<(tokens * cols / 32) {
            let scale = Float(sign: .plus, exponent: Int.random(in: -6...6, using: &rng), significand: 1)
            for i in 0..<32 { x[b * 32 + i] = (Float(rng.nextGaussian()) + 0.3) * scale }
        }
        if x.count >= 64 {
            for i in 0..<32 { x[i] = 0 }
            x[32 + 5] = 1000
        }
        return x
    }

    static func quantise(_ x: [Float], tokens: Int, cols: Int) -> Q8Activations {
        x.withUnsafeBufferPointer { Q8Activations($0.baseAddress!, tokens: tokens, cols: cols) }
    }

    @Test func quantisationMatchesScalarReference() {
        var rng = SplitMix64(seed: 0x51AC_0801)
        let tokens = 3, cols = 160
        let x = Self.activations(tokens: tokens, cols: cols, &rng)
        let a = Self.quantise(x, tokens: tokens, cols: cols)
        #expect(a.q.count == tokens * cols && a.d.count == tokens * cols / 32 && a.s.count == a.d.count)
        for b in 0..<(tokens * cols / 32) {
            var amax: Float = 0
            for i in 0..<32 { amax = max(amax, abs(x[b * 32 + i])) }
            let d = amax / 127
            #expect(a.d[b] == d, "block \(b)")
            var total = 0
            for i in 0..<32 {
                let v = x[b * 32 + i]
                let expected = d == 0 ? 0 : Int8(max(-127, min(127, (v * (1 / d)).rounded(.toNearestOrEven))))
                #expect(a.q[b * 32 + i] == expected, "block \(b) value \(i)")
                total += Int(a.q[b * 32 + i])
                // The rounding error is at most half a step (plus the reciprocal's rounding).
                #expect(abs(Double(v) - Double(d) * Double(a.q[b * 32 + i])) <= Double(d) * 0.5 * (1 + 1e-5))
            }
            #expect(a.s[b] == d * Float(total))
        }
        let back = a.dequantized()
        #expect(back[32 + 5] == 1000)
        #expect(back[0..<32].allSatisfy { $0 == 0 })
    }

    /// Float64 product of the dequantised weights with the quantised activations.
    func checkAgainstQuantisedReference(_ f: QuantFormat, rows: Int, cols: Int, tokens: Int, _ rng: inout SplitMix64) throws {
        let bytes = Ref.randomBytes(f, rows: rows, cols: cols, &rng)
        let m = try QuantizedMatrix(format: f, rows: rows, cols: cols, bytes: bytes)
        let w = Ref.refDequantize(f, rows: rows, cols: cols, bytes)
        let x = Self.activations(tokens: tokens, cols: cols, &rng)
        let a = Self.quantise(x, tokens: tokens, cols: cols)
        let xq = a.dequantized()
        let (ref, _) = Ref.refMatmul(xq, w, tokens: tokens, rows: rows, cols: cols)
        // The kernel adds the offset term (`m·Σx` of q4_1, `−8d·Σx` of q4_0) apart from the
        // levels' term, so its rounding scales with Σ|x|·(|w| + |offset|), not with Σ|x||w|
        // (the two cancel where the weight is 0).
        let nb = cols / 32
        var offsets = [Float](repeating: 0, count: rows * nb)
        for blk in 0..<(rows * nb) {
            let o = blk * f.blockBytes
            switch f {
            case .q8_0: break
            case .q4_0: offsets[blk] = 8 * abs(Ref.refHalf(bytes[o], bytes[o + 1]))
            case .q4_1: offsets[blk] = abs(Ref.refHalf(bytes[o + 2], bytes[o + 3]))
            }
        }
        let wBound = (0..<(rows * cols)).map { i in abs(w[i]) + offsets[i / 32] }
        let (_, bound) = Ref.refMatmul(xq.map { abs($0) }, wBound, tokens: tokens, rows: rows, cols: cols)
        let (exact, _) = Ref.refMatmul(x, w, tokens: tokens, rows: rows, cols: cols)
        var y = [Float](repeating: .nan, count: tokens * rows)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { m.matmulQ8(x: xp.baseAddress!, tokens: tokens, y: $0.baseAddress!) }
        }
        for t in 0..<tokens {
            for r in 0..<rows {
                let i = t * rows + r
                // Float32 rounding of the scaled block sums.
                let tol = 1e-5 * bound[i] + 1e-6
                #expect(abs(Double(y[i]) - ref[i]) <= tol, "\(f) \(rows)×\(cols) tokens \(tokens) at \(i): \(y[i]) vs \(ref[i]), bound \(bound[i])")
                // Against the Float32 activations: at most half a step per value times |w|.
                var rounding = 0.0
                for c in 0..<cols { rounding += 0.5 * Double(a.d[(t * cols + c) / 32]) * abs(Double(w[r * cols + c])) }
                #expect(abs(Double(y[i]) - exact[i]) <= rounding * (1 + 1e-4) + tol, "\(f) rounding bound at \(i)")
            }
        }
    }

    @Test func matmulQ8MatchesFloat64OfQuantisedActivations() throws {
        var rng = SplitMix64(seed: 0x51AC_0802)
        for f in QuantFormat.allCases {
            for (rows, cols) in [(1, 32), (7, 96), (33, 576), (130, 64)] {
                for tokens in [1, 2, 5, 9] {
                    try checkAgainstQuantisedReference(f, rows: rows, cols: cols, tokens: tokens, &rng)
                }
            }
        }
    }

    /// Two threads, every token-group size, and rows that do not depend on the batch.
    @Test func matmulQ8ThreadedAndIndependentOfBatch() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2
        var rng = SplitMix64(seed: 0x51AC_0803)
        for f in QuantFormat.allCases {
            try checkAgainstQuantisedReference(f, rows: 1031, cols: 576, tokens: 11, &rng)
            for tokens in [3, 4, 6, 7, 8] { try checkAgainstQuantisedReference(f, rows: 37, cols: 160, tokens: tokens, &rng) }
            let rows = 300, cols = 576, tokens = 11
            let m = try QuantizedMatrix(format: f, rows: rows, cols: cols, bytes: Ref.randomBytes(f, rows: rows, cols: cols, &rng))
            let x = Self.activations(tokens: tokens, cols: cols, &rng)
            var batched = [Float](repeating: .nan, count: tokens * rows)
            x.withUnsafeBufferPointer { xp in
                batched.withUnsafeMutableBufferPointer { m.matmulQ8(x: xp.baseAddress!, tokens: tokens, y: $0.baseAddress!) }
            }
            for t in 0..<tokens {
                var alone = [Float](repeating: .nan, count: rows)
                x.withUnsafeBufferPointer { xp in
                    alone.withUnsafeMutableBufferPointer { m.matmulQ8(x: xp.baseAddress! + t * cols, tokens: 1, y: $0.baseAddress!) }
                }
                #expect(Array(batched[(t * rows)..<((t + 1) * rows)]) == alone, "\(f) token \(t)")
            }
        }
    }

    @Test func nonFiniteActivationsGiveNonFiniteOutputs() throws {
        var rng = SplitMix64(seed: 0x51AC_0804)
        for f in QuantFormat.allCases {
            for bad in [Float.nan, .infinity, -.infinity] {
                let rows = 5, cols = 64
                let m = try QuantizedMatrix(format: f, rows: rows, cols: cols, bytes: Ref.randomBytes(f, rows: rows, cols: cols, &rng))
                var x = Self.activations(tokens: 2, cols: cols, &rng)
                x[cols + 40] = bad
                var y = [Float](repeating: 0, count: 2 * rows)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { m.matmulQ8(x: xp.baseAddress!, tokens: 2, y: $0.baseAddress!) }
                }
                let clean = y[0..<rows].allSatisfy { $0.isFinite }
                #expect(clean, "\(f) \(bad): the clean token stays finite")
                #expect(y[rows...].allSatisfy { !$0.isFinite }, "\(f) \(bad): the token holding it is not finite")
            }
        }
    }
}

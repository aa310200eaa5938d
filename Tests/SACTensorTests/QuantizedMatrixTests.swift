import Testing
@testable import SACTensor

@Suite struct QuantizedMatrixTests {
    // MARK: Reference (scalar, written independently of the kernels)

    /// IEEE binary16 → Float32 by bit manipulation (no Float16 type involved).
    static func refHalf(_ lo: UInt8, _ hi: UInt8) -> Float {
        let bits = UInt32(lo) | UInt32(hi) << 8
        let sign: Float = bits & 0x8000 != 0 ? -1 : 1
        let e = Int((bits >> 10) & 0x1F), mant = Float(bits & 0x3FF)
        if e == 0 { return sign * mant * 0x1p-24 }
        precondition(e != 31, "test blocks never hold inf/nan scales")
        return sign * (1 + mant / 1024) * Float(sign: .plus, exponent: e - 15, significand: 1)
    }

    /// Scalar ggml decoder: Float32 weights of a whole matrix, row-major.
    static func refDequantize(_ f: QuantFormat, rows: Int, cols: Int, _ bytes: [UInt8]) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(rows * cols)
        let bs = f.blockBytes
        for blk in 0..<(rows * cols / 32) {
            let o = blk * bs
            let d = refHalf(bytes[o], bytes[o + 1])
            for j in 0..<32 {
                switch f {
                case .q8_0:
                    out.append(d * Float(Int8(bitPattern: bytes[o + 2 + j])))
                case .q4_0:
                    let byte = bytes[o + 2 + j % 16]
                    let q = j < 16 ? byte & 0x0F : byte >> 4
                    out.append(d * Float(Int(q) - 8))
                case .q4_1:
                    let m = refHalf(bytes[o + 2], bytes[o + 3])
                    let byte = bytes[o + 4 + j % 16]
                    let q = j < 16 ? byte & 0x0F : byte >> 4
                    let prod = d * Float(q)  // rounded to Float32 before adding m
                    out.append(prod + m)
                }
            }
        }
        return out
    }

    /// A random f16 bit pattern with magnitude in [2^lo, 2^(hi+1)), random sign if `signed`.
    static func randomHalf(_ rng: inout SplitMix64, expLo: Int, expHi: Int, signed: Bool) -> UInt16 {
        let e = UInt16(Int.random(in: (expLo + 15)...(expHi + 15), using: &rng))
        let mant = UInt16.random(in: 0...0x3FF, using: &rng)
        let sign: UInt16 = signed && Bool.random(using: &rng) ? 0x8000 : 0
        return sign | e << 10 | mant
    }

    /// Random valid blocks: scales in [2^-12, 2^-4), q4_1 offsets negative in [2^-6, 2^-1),
    /// random int8 / nibbles.
    static func randomBytes(_ f: QuantFormat, rows: Int, cols: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = [UInt8]()
        for _ in 0..<(rows * cols / 32) {
            let d = randomHalf(&rng, expLo: -12, expHi: -5, signed: f != .q4_1)
            bytes += [UInt8(d & 0xFF), UInt8(d >> 8)]
            if f == .q4_1 {
                let m = randomHalf(&rng, expLo: -6, expHi: -2, signed: false) | 0x8000
                bytes += [UInt8(m & 0xFF), UInt8(m >> 8)]
            }
            for _ in 0..<(f == .q8_0 ? 32 : 16) { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
        }
        return bytes
    }

    static let shapes: [(Int, Int)] = [1, 3, 7, 33, 130].flatMap { r in [32, 96, 576].map { (r, $0) } }

    // MARK: Dequantisation

    @Test func dequantizeMatchesScalarDecoderExactly() throws {
        var rng = SplitMix64(seed: 0x51AC_0001)
        for f in QuantFormat.allCases {
            for (rows, cols) in Self.shapes {
                let bytes = Self.randomBytes(f, rows: rows, cols: cols, &rng)
                let m = try QuantizedMatrix(format: f, rows: rows, cols: cols, bytes: bytes)
                let ref = Self.refDequantize(f, rows: rows, cols: cols, bytes)
                let all = m.dequantized()
                #expect(all.shape == [rows, cols])
                let allBits = all.data.map(\.bitPattern), refBits = ref.map(\.bitPattern)
                #expect(allBits == refBits, "\(f) \(rows)×\(cols)")
                // A sub-range of rows lands at the start of the output.
                let lo = rows / 3, hi = rows - rows / 4
                var part = [Float](repeating: .nan, count: (hi - lo) * cols + 1)
                part.withUnsafeMutableBufferPointer { m.dequantize(rows: lo..<hi, into: $0.baseAddress!) }
                let partRows = Array(part[0..<((hi - lo) * cols)]), refRows = Array(ref[(lo * cols)..<(hi * cols)])
                #expect(partRows == refRows)
                #expect(part.last!.isNaN, "wrote past the requested rows")
            }
        }
    }

    /// Blocks and dequantised values (Float32 bit patterns) produced by gguf-py 's numpy
    /// `gguf.quants.dequantize` (one row of 64 weights per format, seed 12345).
    @Test func dequantizeMatchesGGUFPy() throws {
        let cases: [(QuantFormat, [UInt8], [UInt32])] = [
        // q8_0: 2 blocks
        (.q8_0, [9, 42, 255, 178, 141, 177, 50, 58, 222, 196, 228, 201, 21, 19, 23, 81, 217, 239, 68, 52, 130, 36, 32, 204, 16, 233, 134, 164, 174, 6, 31, 173, 13, 123, 20, 170, 104, 193, 31, 100, 67, 143, 228, 214, 39, 75, 51, 85, 157, 229, 71, 145, 49, 195, 42, 153, 95, 138, 144, 54, 196, 207, 205, 47, 45, 158, 168, 58],
         [0xBD412000, 0xC06B5F00, 0xC0AD82C0, 0xC06E6380, 0x4016E100, 0x402F0500, 0xBFCD3200, 0xC0350E00, 0xBFA8FC00, 0xC025F780, 0x3F7D7A00, 0x3F655600, 0x3F8ACF00, 0x40746C80, 0xBFEB5F00, 0xBF4D3200, 0x404D3200, 0x401CEA00, 0xC0BE1B80, 0x3FD94400, 0x3FC12000, 0xC01CEA00, 0x3F412000, 0xBF8ACF00, 0xC0B81280, 0xC08ACF00, 0xC0777100, 0x3E90D800, 0x3FBB1700, 0xC07A7580, 0x3F1CEA00, 0x40B994C0, 0xC09E0800, 0x403F7600, 0xBFBC6C00, 0xC097F400, 0xC04B9E00, 0x40ABB500, 0x3FAA3000, 0x3FFF4800, 0xBFED0C00, 0xC063EE00, 0xC01AFE00, 0xC0812900, 0x40966F00, 0x3FA41C00, 0xC057C600, 0x40A8AB00, 0xC014EA00, 0x40396200, 0xBFFF4800, 0x409C8300, 0xC0905B00, 0x40B34E00, 0x40AA3000, 0xC0241C00, 0x40365800, 0x4014EA00, 0x401AFE00, 0xC00ED600, 0xC008C200, 0x4094EA00, 0x4085B800, 0xC0304400]),
        // q4_0: 2 blocks
        (.q4_0, [90, 164, 57, 172, 75, 178, 112, 33, 97, 196, 140, 24, 37, 39, 45, 68, 132, 103, 9, 34, 18, 65, 137, 18, 22, 89, 240, 226, 102, 182, 89, 121, 4, 80, 140, 178],
         [0xBC8B4000, 0xBD8B4000, 0xBD50E000, 0x3DD0E000, 0x3E0B4000, 0x3DF3B000, 0x3DF3B000, 0x3D8B4000, 0xBD8B4000, 0x80000000, 0x3D50E000, 0x3C8B4000, 0xBDAE1000, 0x3D8B4000, 0x3D8B4000, 0x3C8B4000, 0x3DAE1000, 0xBD0B4000, 0x3D8B4000, 0xBD50E000, 0x3C8B4000, 0x3DD0E000, 0x3D0B4000, 0xBD8B4000, 0x80000000, 0x3DF3B000, 0x3DD0E000, 0x3DD0E000, 0x3DD0E000, 0x3D8B4000, 0x80000000, 0x3D0B4000, 0xBD90D800, 0xBDA8FC00, 0x3C412000, 0xBD90D800, 0xBCC12000, 0x3C412000, 0xBDC12000, 0xBD90D800, 0xBCC12000, 0xBCC12000, 0x3C412000, 0x3C412000, 0xBD412000, 0xBDC12000, 0x3D412000, 0xBD90D800, 0xBDA8FC00, 0xBD412000, 0x00000000, 0xBDA8FC00, 0xBDA8FC00, 0xBD10D800, 0x3DA8FC00, 0x3D90D800, 0xBCC12000, 0x3D10D800, 0xBD10D800, 0xBC412000, 0xBDC12000, 0xBD10D800, 0x00000000, 0x3D10D800]),
        // q4_1: 2 blocks
        (.q4_1, [93, 33, 175, 168, 9, 235, 238, 40, 86, 126, 119, 190, 67, 206, 16, 87, 213, 107, 49, 121, 196, 167, 231, 177, 79, 203, 189, 121, 35, 43, 52, 68, 35, 66, 220, 142, 237, 184, 214, 208],
         [0x3D6C4800, 0x3DA10C00, 0x3DE16800, 0x3D416000, 0x3CD72000, 0x3DE16800, 0x3D167800, 0x3DE16800, 0xBBA94000, 0x3DE16800, 0xBD15E000, 0x3D167800, 0x3C815000, 0x3DA10C00, 0xBCD5F000, 0x3D6C4800, 0xBD15E000, 0x3DE16800, 0x3DE16800, 0xBC802000, 0x3C815000, 0x3D167800, 0x3D167800, 0x3DA10C00, 0x3BAE0000, 0x3DB68000, 0xBCD5F000, 0x3C815000, 0x3DCBF400, 0x3CD72000, 0xBBA94000, 0x3D167800, 0xBF23B400, 0xBF04A400, 0xBF142C00, 0xBEEA3800, 0xBE8D0800, 0xBF04A400, 0xBE9C9000, 0xBE9C9000, 0xBE8D0800, 0xBE7B0000, 0xBF0C6800, 0xBF1BF000, 0xBF142C00, 0xBEDAB000, 0xBEBBA000, 0xBE3CE000, 0xBE9C9000, 0xBF0C6800, 0xBF04A400, 0xBECB2800, 0xBE7B0000, 0xBE7B0000, 0xBE8D0800, 0xBE9C9000, 0xBE7B0000, 0xBE9C9000, 0xBF142C00, 0xBEDAB000, 0xBF1BF000, 0xBF04A400, 0xBF142C00, 0xBF142C00]),
        ]
        for (f, bytes, bits) in cases {
            let m = try QuantizedMatrix(format: f, rows: 1, cols: 64, bytes: bytes)
            let got = m.dequantized().data.map(\.bitPattern)
            #expect(got == bits, "\(f)")
            let refBits = Self.refDequantize(f, rows: 1, cols: 64, bytes).map(\.bitPattern)
            #expect(refBits == bits, "\(f) reference")
        }
    }

    // MARK: Fused products

    /// Float64 `x · Wᵀ` over the scalar-decoded weights, and the error bound Σ|x||w|.
    static func refMatmul(_ x: [Float], _ w: [Float], tokens: Int, rows: Int, cols: Int) -> ([Double], [Double]) {
        var y = [Double](repeating: 0, count: tokens * rows), bound = y
        for t in 0..<tokens {
            for r in 0..<rows {
                var s = 0.0, a = 0.0
                for c in 0..<cols {
                    let p = Double(x[t * cols + c]) * Double(w[r * cols + c])
                    s += p; a += abs(p)
                }
                y[t * rows + r] = s; bound[t * rows + r] = a
            }
        }
        return (y, bound)
    }

    /// Checks one product; returns the worst error as a fraction of the tolerance.
    @discardableResult
    func checkMatmul(_ f: QuantFormat, rows: Int, cols: Int, tokens: Int, _ rng: inout SplitMix64,
                     ) throws -> Double {
        let bytes = Self.randomBytes(f, rows: rows, cols: cols, &rng)
        let m = try QuantizedMatrix(format: f, rows: rows, cols: cols, bytes: bytes)
        let w = Self.refDequantize(f, rows: rows, cols: cols, bytes)
        // x with a nonzero mean, so that the q4_1 offset term matters.
        let x = (0..<(tokens * cols)).map { _ in Float(rng.nextGaussian()) + 0.3 }
        let (ref, bound) = Self.refMatmul(x, w, tokens: tokens, rows: rows, cols: cols)
        var y = [Float](repeating: .nan, count: tokens * rows)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { m.matmul(x: xp.baseAddress!, tokens: tokens, y: $0.baseAddress!) }
        }
        var worst = 0.0
        for i in 0..<y.count {
            let err = abs(Double(y[i]) - ref[i]), tol = 1e-5 * bound[i] + 1e-6
            worst = max(worst, err / tol)
            if !(err <= tol) {
                Issue.record("\(f) \(rows)×\(cols) tokens \(tokens) at \(i): \(y[i]) vs \(ref[i]), tol \(tol)")
                return worst
            }
        }
        #expect(worst <= 1)
        return worst
    }

    @Test func matmulMatchesFloat64Reference() throws {
        var rng = SplitMix64(seed: 0x51AC_0002)
        for f in QuantFormat.allCases {
            var worst = 0.0
            for (rows, cols) in Self.shapes {
                for tokens in [1, 2, 5, 9] {
                    worst = max(worst, try checkMatmul(f, rows: rows, cols: cols, tokens: tokens, &rng))
                }
            }
            print("QuantizedMatrixTests: \(f) worst |error| / tolerance = \(worst)")
        }
    }

    /// Enough rows that `forRanges` splits them over two threads; every token-group size 1…8
    /// plus 8 + 3 (a second group).
    @Test func matmulThreadedAndAllTokenGroups() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        Parallel.threads = 2
        var rng = SplitMix64(seed: 0x51AC_0003)
        for f in QuantFormat.allCases {
            try checkMatmul(f, rows: 1031, cols: 576, tokens: 1, &rng)
            try checkMatmul(f, rows: 1031, cols: 576, tokens: 11, &rng)
            for tokens in [3, 4, 6, 7, 8] {
                try checkMatmul(f, rows: 37, cols: 160, tokens: tokens, &rng)
            }
        }
    }

    @Test func tensorMatmulAgreesWithPointerMatmul() throws {
        var rng = SplitMix64(seed: 0x51AC_0004)
        let f = QuantFormat.q4_1, rows = 13, cols = 64
        let m = try QuantizedMatrix(format: f, rows: rows, cols: cols, bytes: Self.randomBytes(f, rows: rows, cols: cols, &rng))
        let x = Tensor(randomNormal: [3, cols], using: &rng)
        let y = try m.matmul(x)
        #expect(y.shape == [3, rows])
        var direct = [Float](repeating: 0, count: 3 * rows)
        x.data.withUnsafeBufferPointer { xp in
            direct.withUnsafeMutableBufferPointer { m.matmul(x: xp.baseAddress!, tokens: 3, y: $0.baseAddress!) }
        }
        #expect(y.data == direct)
        let v = try m.matmul(Tensor(shape: [cols], data: Array(x.data[0..<cols])))
        #expect(v.shape == [rows])
        let firstRow = Array(direct[0..<rows])
        #expect(v.data == firstRow)
        #expect(throws: TensorError.self) { try m.matmul(Tensor(zeros: [3, cols + 32])) }
        #expect(throws: TensorError.self) { try m.matmul(Tensor(zeros: [2, 3, cols])) }
    }

    // MARK: Errors

    @Test func invalidShapesAndByteCountsThrow() throws {
        for f in QuantFormat.allCases {
            let good = 3 * 2 * f.blockBytes
            _ = try QuantizedMatrix(format: f, rows: 3, cols: 64, bytes: [UInt8](repeating: 0, count: good))
            for badCols in [1, 31, 33, 100] {
                let e = #expect(throws: TensorError.self) {
                    try QuantizedMatrix(format: f, rows: 3, cols: badCols, bytes: [UInt8](repeating: 0, count: good))
                }
                if case .invalidArgument = e {} else { Issue.record("expected invalidArgument, got \(String(describing: e))") }
            }
            for badCount in [0, good - 1, good + 1, good + f.blockBytes] {
                let e = #expect(throws: TensorError.self) {
                    try QuantizedMatrix(format: f, rows: 3, cols: 64, bytes: [UInt8](repeating: 0, count: badCount))
                }
                if case .invalidArgument = e {} else { Issue.record("expected invalidArgument, got \(String(describing: e))") }
                let raw = [UInt8](repeating: 7, count: badCount)
                #expect(throws: TensorError.self) {
                    try raw.withUnsafeBytes { try QuantizedMatrix(format: f, rows: 3, cols: 64, copying: $0) }
                }
            }
            #expect(throws: TensorError.self) { try QuantizedMatrix(format: f, rows: -1, cols: 64, bytes: []) }
            let raw = (0..<good).map { UInt8(truncatingIfNeeded: $0 * 37) }
            let copied = try raw.withUnsafeBytes { try QuantizedMatrix(format: f, rows: 3, cols: 64, copying: $0) }
            #expect(copied.bytes == raw)
        }
    }
}

import Testing
@testable import SACTensor

/// `QuantizedPanels`: values against a Float64 product over the scalar ggml decoder, and
/// every output row bit-identical whatever the batch, thread split and position in it.
@Suite struct QuantizedPanelsTests {
    typealias Ref = QuantizedMatrixTests

    /// Random panels and their Float32 weights (scalar reference decoder).
    static func random(_ f: QuantFormat, rows: Int, cols: Int, _ rng: inout SplitMix64) throws -> (QuantizedPanels, [Float]) {
        let bytes = Ref.randomBytes(f, rows: rows, cols: cols, &rng)
        let m = try QuantizedMatrix(format: f, rows: rows, cols: cols, bytes: bytes)
        return (QuantizedPanels(m), Ref.refDequantize(f, rows: rows, cols: cols, bytes))
    }

    static func product(_ p: QuantizedPanels, _ x: [Float], tokens: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: tokens * p.rows + 1)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { p.matmul(x: xp.baseAddress!, tokens: tokens, y: $0.baseAddress!) }
        }
        #expect(y.last!.isNaN, "wrote past the output")
        return Array(y.dropLast())
    }

    /// x with a nonzero mean, so that the offset terms matter.
    static func input(_ n: Int, _ rng: inout SplitMix64) -> [Float] {
        (0..<n).map { _ in Float(rng.nextGaussian()) + 0.3 }
    }

    @Test func matchesFloat64Reference() throws {
        var rng = SplitMix64(seed: 0x9A4E_0001)
        for f in QuantFormat.allCases {
            var worst = 0.0
            // Row counts below, at and past a group of 8 and of four groups; 1…9 tokens cover
            // every kernel shape (4×1 … 1×4) and their remainders.
            for (rows, cols) in [(1, 32), (7, 96), (8, 64), (37, 160), (130, 576)] {
                let (p, w) = try Self.random(f, rows: rows, cols: cols, &rng)
                #expect(p.groups == (rows + 7) / 8)
                for tokens in [1, 2, 3, 4, 5, 6, 7, 9] {
                    let x = Self.input(tokens * cols, &rng)
                    let y = Self.product(p, x, tokens: tokens)
                    let (ref, bound) = Ref.refMatmul(x, w, tokens: tokens, rows: rows, cols: cols)
                    for i in 0..<y.count {
                        let err = abs(Double(y[i]) - ref[i]), tol = 1e-5 * bound[i] + 1e-6
                        worst = max(worst, err / tol)
                        #expect(err <= tol, "\(f) \(rows)×\(cols) tokens \(tokens) at \(i): \(y[i]) vs \(ref[i])")
                    }
                }
            }
            print("QuantizedPanelsTests: \(f) worst |error| / tolerance = \(worst)")
            #expect(worst > 0, "an exact match on random data means the check compares nothing")
        }
    }

    /// A token's outputs are bit-identical alone, in batches of every size and position, and
    /// on one thread or two: what batched decoding needs for answers not to depend on load.
    @Test func everyRowIsIndependentOfTheBatch() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        var rng = SplitMix64(seed: 0x9A4E_0002)
        for f in QuantFormat.allCases {
            let rows = 1031, cols = 576  // 129 groups: split over threads with ragged ends
            let (p, _) = try Self.random(f, rows: rows, cols: cols, &rng)
            let tokens = 11
            let x = Self.input(tokens * cols, &rng)
            Parallel.threads = 1
            var alone = [[UInt32]]()
            for t in 0..<tokens {
                alone.append(Self.product(p, Array(x[(t * cols)..<((t + 1) * cols)]), tokens: 1).map(\.bitPattern))
            }
            for threads in [1, 2] {
                Parallel.threads = threads
                for n in 1...tokens {
                    for start in Set([0, tokens - n, (tokens - n) / 2]) {
                        let y = Self.product(p, Array(x[(start * cols)..<((start + n) * cols)]), tokens: n)
                        for t in 0..<n {
                            let row = y[(t * rows)..<((t + 1) * rows)].map(\.bitPattern)
                            #expect(row == alone[start + t], "\(f) token \(start + t) in a batch of \(n) at \(start), \(threads) thread(s)")
                        }
                    }
                }
            }
        }
    }

    /// The panels agree with the fused row kernels of the matrix they were made from (both
    /// exact products of the same weights, summed in different orders).
    @Test func agreesWithTheFusedKernel() throws {
        var rng = SplitMix64(seed: 0x9A4E_0003)
        for f in QuantFormat.allCases {
            let rows = 192, cols = 576
            let bytes = Ref.randomBytes(f, rows: rows, cols: cols, &rng)
            let m = try QuantizedMatrix(format: f, rows: rows, cols: cols, bytes: bytes)
            let p = QuantizedPanels(m)
            let x = Tensor(randomNormal: [5, cols], using: &rng)
            let a = try m.matmul(x), b = try p.matmul(x)
            #expect(a.shape == b.shape)
            var scale: Float = 0
            for v in a.data { scale = max(scale, abs(v)) }
            for i in 0..<a.data.count { #expect(abs(a.data[i] - b.data[i]) <= 1e-5 * scale, "\(f) at \(i)") }
        }
    }

    @Test func tensorShapesAndErrors() throws {
        var rng = SplitMix64(seed: 0x9A4E_0004)
        let (p, _) = try Self.random(.q4_1, rows: 13, cols: 64, &rng)
        let x = Tensor(randomNormal: [3, 64], using: &rng)
        let y = try p.matmul(x)
        #expect(y.shape == [3, 13])
        let v = try p.matmul(Tensor(shape: [64], data: Array(x.data[0..<64])))
        #expect(v.shape == [13])
        #expect(v.data == Array(y.data[0..<13]))
        #expect(throws: TensorError.self) { try p.matmul(Tensor(zeros: [3, 96])) }
        #expect(throws: TensorError.self) { try p.matmul(Tensor(zeros: [2, 3, 64])) }
        // No tokens: nothing written.
        var out: [Float] = [.nan]
        [Float](repeating: 1, count: 64).withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { p.matmul(x: xp.baseAddress!, tokens: 0, y: $0.baseAddress!) }
        }
        #expect(out[0].isNaN)
    }
}

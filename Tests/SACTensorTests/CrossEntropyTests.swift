import Foundation
import Testing
@testable import SACTensor

/// Cross-entropy with ignored rows: loss against Float64 log-sum-exp, gradient against
/// central finite differences of scale·Σ loss, fused in-place variant against the separate
/// calls, and invalid targets.
@Suite struct CrossEntropyTests {
    struct Case: Sendable, CustomStringConvertible {
        var vocab: Int, targets: [Int32]
        var description: String { "V=\(vocab) T=\(targets.count)" }
    }

    static let cases: [Case] = [
        Case(vocab: 1, targets: [0]),
        Case(vocab: 5, targets: [4, -100, 0]),
        Case(vocab: 13, targets: [12, 3, 3, -100, -100, 0, 7]),
        Case(vocab: 67, targets: (0..<17).map { $0 % 4 == 3 ? -100 : Int32(($0 * 13) % 67) }),
        Case(vocab: 2049, targets: [5, 2048, -100]),
        Case(vocab: 49_152, targets: [0, 49_151, 1234, -100, 777]),
    ]

    /// Per-row losses in Float64 (−1 for ignored rows).
    static func rowLosses(_ x: [Double], _ c: Case) -> [Double] {
        c.targets.enumerated().map { t, y in
            if y == -100 { return -1 }
            let row = x[t * c.vocab ..< (t + 1) * c.vocab]
            let m = row.max()!
            return m + log(row.reduce(0) { $0 + exp($1 - m) }) - x[t * c.vocab + Int(y)]
        }
    }

    static func logits(_ c: Case, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var x = Ops.normal(c.targets.count * c.vocab, &rng, std: 3)
        for j in 0..<c.vocab { x[j] += 50 }  // a shifted row: stability
        return x
    }

    /// Loss sum within 2e-6 relative of Float64 (exp ~1 ulp, blockwise Float32 sums); count exact.
    @Test(arguments: cases)
    func forwardMatchesFloat64(_ c: Case) throws {
        let x = Self.logits(c, seed: UInt64(c.vocab * 10 + c.targets.count))
        let (sum, count) = try CrossEntropy.loss(logits: Tensor(shape: [c.targets.count, c.vocab], data: x), targets: c.targets)
        let ref = Self.rowLosses(x.f64, c).filter { $0 >= 0 }
        #expect(count == ref.count)
        let expected = ref.reduce(0, +)
        #expect(abs(sum - expected) <= 2e-6 * max(1, abs(expected)), "loss \(sum), expected \(expected)")
    }

    /// Gradient of scale·Σ loss: against central differences (small V) with tolerance 1e-6
    /// absolute plus 1e-4 relative; ignored rows exactly zero.
    @Test(arguments: cases.prefix(4))
    func backwardMatchesFiniteDifferences(_ c: Case) throws {
        let x = Self.logits(c, seed: UInt64(c.vocab + 3 * c.targets.count))
        let counted = c.targets.filter { $0 != -100 }.count
        let scale = 1 / Float(counted)
        let fd = Ops.centralDifference(x.f64) { xs in
            Double(scale) * Self.rowLosses(xs, c).filter { $0 >= 0 }.reduce(0, +)
        }
        let g = try CrossEntropy.gradient(logits: Tensor(shape: [c.targets.count, c.vocab], data: x),
                                          targets: c.targets, scale: scale)
        Ops.expectClose(g.data, fd, atol: 1e-6, rtol: 1e-4, "dLogits \(c)")
        for (t, y) in c.targets.enumerated() where y == -100 {
            #expect(g.data[t * c.vocab ..< (t + 1) * c.vocab].allSatisfy { $0 == 0 })
        }
    }

    /// Large V: the gradient against the Float64 formula scale·(softmax − onehot), 1e-9
    /// absolute plus 1e-5 relative; the fused in-place call gives the same loss and gradient
    /// (bit-identical: the same per-row arithmetic).
    @Test(arguments: cases.suffix(3))
    func fusedInPlaceMatchesSeparate(_ c: Case) throws {
        let x = Self.logits(c, seed: 91 + UInt64(c.vocab))
        let rows = c.targets.count
        let scale: Float = 0.37
        let g = try CrossEntropy.gradient(logits: Tensor(shape: [rows, c.vocab], data: x), targets: c.targets, scale: scale)
        var expected = [Double](repeating: 0, count: x.count)
        for (t, y) in c.targets.enumerated() where y != -100 {
            let row = Array(x[t * c.vocab ..< (t + 1) * c.vocab]).f64
            let m = row.max()!, s = row.reduce(0) { $0 + exp($1 - m) }
            for j in 0..<c.vocab {
                expected[t * c.vocab + j] = Double(scale) * (exp(row[j] - m) / s - (j == Int(y) ? 1 : 0))
            }
        }
        Ops.expectClose(g.data, expected, atol: 1e-9, rtol: 1e-5, "dLogits \(c)")

        let (sum, count) = try CrossEntropy.loss(logits: Tensor(shape: [rows, c.vocab], data: x), targets: c.targets)
        var buf = x
        let (fusedSum, fusedCount) = buf.withUnsafeMutableBufferPointer { b in
            c.targets.withUnsafeBufferPointer { tb in
                CrossEntropy.forwardBackward(logitsToGradient: b.baseAddress!, targets: tb.baseAddress!,
                                             rows: rows, vocab: c.vocab, scale: scale)
            }
        }
        #expect(fusedCount == count)
        #expect(fusedSum == sum)
        #expect(buf == g.data)
    }

    /// Default scale of the fused call is 1/count; all rows ignored gives (0, 0) and zeros.
    @Test func fusedDefaultScaleAndAllIgnored() throws {
        let c = Case(vocab: 9, targets: [1, -100, 8, 2])
        var x = Self.logits(c, seed: 5)
        let g = try CrossEntropy.gradient(logits: Tensor(shape: [4, 9], data: x), targets: c.targets, scale: 1.0 / 3)
        let (_, n) = x.withUnsafeMutableBufferPointer { b in
            c.targets.withUnsafeBufferPointer {
                CrossEntropy.forwardBackward(logitsToGradient: b.baseAddress!, targets: $0.baseAddress!, rows: 4, vocab: 9)
            }
        }
        #expect(n == 3)
        #expect(x == g.data)

        var y = Self.logits(c, seed: 6)
        let ignored: [Int32] = [-100, -100, -100, -100]
        let (s0, n0) = try CrossEntropy.loss(logits: Tensor(shape: [4, 9], data: y), targets: ignored)
        #expect(s0 == 0 && n0 == 0)
        let r = y.withUnsafeMutableBufferPointer { b in
            ignored.withUnsafeBufferPointer {
                CrossEntropy.forwardBackward(logitsToGradient: b.baseAddress!, targets: $0.baseAddress!, rows: 4, vocab: 9)
            }
        }
        #expect(r.lossSum == 0 && r.count == 0 && y.allSatisfy { $0 == 0 })
        // A custom ignore index.
        let (s1, n1) = try CrossEntropy.loss(logits: Tensor(shape: [4, 9], data: Self.logits(c, seed: 7)),
                                             targets: [1, 3, 3, 3], ignoreIndex: 3)
        #expect(n1 == 1 && s1 > 0)
    }

    @Test func invalidTargetsThrow() {
        let x = Tensor(zeros: [2, 5])
        #expect(throws: TensorError.self) { try CrossEntropy.loss(logits: x, targets: [0, 5]) }
        #expect(throws: TensorError.self) { try CrossEntropy.loss(logits: x, targets: [-1, 0]) }
        #expect(throws: TensorError.self) { try CrossEntropy.loss(logits: x, targets: [0]) }
        #expect(throws: TensorError.self) { try CrossEntropy.gradient(logits: Tensor(zeros: [10]), targets: [0], scale: 1) }
        #expect(throws: TensorError.self) { try CrossEntropy.gradient(logits: Tensor(zeros: [1, 0]), targets: [0], scale: 1) }
    }
}

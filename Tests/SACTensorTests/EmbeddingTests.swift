import Testing
@testable import SACTensor

/// Embedding gather (exact copy) and scatter-add backward (against a Float64 reference and
/// central finite differences of L = Σ r ⊙ gather(table)).
@Suite struct EmbeddingTests {
    struct Case: Sendable, CustomStringConvertible {
        var vocab: Int, dim: Int, ids: [Int32]
        var description: String { "V=\(vocab) d=\(dim) T=\(ids.count)" }
    }

    static let cases: [Case] = [
        Case(vocab: 1, dim: 1, ids: [0]),
        Case(vocab: 7, dim: 5, ids: [3, 0, 3]),
        Case(vocab: 11, dim: 13, ids: [10, 2, 2, 2, 0, 9, 5]),
        Case(vocab: 50, dim: 67, ids: (0..<17).map { Int32(($0 * 7) % 5 + 40) }),
        // Large enough for the threaded paths (count·dim ≥ 2¹⁵), ids repeat.
        Case(vocab: 97, dim: 130, ids: (0..<300).map { Int32(($0 * 31) % 97) }),
    ]

    @Test(arguments: cases)
    func forwardGathersRows(_ c: Case) throws {
        var rng = SplitMix64(seed: UInt64(c.vocab * 1000 + c.dim))
        let table = try Tensor(shape: [c.vocab, c.dim], data: Ops.normal(c.vocab * c.dim, &rng))
        let out = try Embedding.forward(table: table, ids: c.ids)
        #expect(out.shape == [c.ids.count, c.dim])
        var expected = [Float]()
        for id in c.ids { expected += table.data[Int(id) * c.dim ..< (Int(id) + 1) * c.dim] }
        #expect(out.data == expected)
    }

    /// dTable starts non-zero (accumulation); reference sums in Float64. Tolerance: 1e-6
    /// relative to the largest accumulated magnitude (at most 300/97 ≈ 4 Float32 additions per element).
    @Test(arguments: cases)
    func backwardScatterAddsMatchesReference(_ c: Case) throws {
        var rng = SplitMix64(seed: UInt64(c.vocab * 77 + c.dim))
        let dOut = try Tensor(shape: [c.ids.count, c.dim], data: Ops.normal(c.ids.count * c.dim, &rng))
        let start = Ops.normal(c.vocab * c.dim, &rng)
        var dTable = try Tensor(shape: [c.vocab, c.dim], data: start)
        try Embedding.backward(dOut: dOut, ids: c.ids, dTable: &dTable)
        var expected = start.f64
        for (t, id) in c.ids.enumerated() {
            for j in 0..<c.dim { expected[Int(id) * c.dim + j] += Double(dOut.data[t * c.dim + j]) }
        }
        Ops.expectClose(dTable.data, expected, atol: 1e-6 * max(1, Ops.maxAbs(expected)), rtol: 1e-6, "dTable \(c)")
    }

    /// Backward against finite differences of the Float64 loss L(table) = Σ r ⊙ table[ids].
    /// The loss is linear, so the differences are exact up to rounding: tolerance 1e-7 absolute.
    @Test(arguments: cases.prefix(4))
    func backwardMatchesFiniteDifferences(_ c: Case) throws {
        var rng = SplitMix64(seed: UInt64(c.vocab + c.dim))
        let table = Ops.normal(c.vocab * c.dim, &rng).f64
        let r = Ops.normal(c.ids.count * c.dim, &rng)
        let fd = Ops.centralDifference(table) { tab in
            var l = 0.0
            for (t, id) in c.ids.enumerated() {
                for j in 0..<c.dim { l += Double(r[t * c.dim + j]) * tab[Int(id) * c.dim + j] }
            }
            return l
        }
        var dTable = Tensor(zeros: [c.vocab, c.dim])
        try Embedding.backward(dOut: Tensor(shape: [c.ids.count, c.dim], data: r), ids: c.ids, dTable: &dTable)
        Ops.expectClose(dTable.data, fd, atol: 1e-7, rtol: 1e-6, "dTable vs FD \(c)")
    }

    @Test func invalidInputsThrow() throws {
        let table = Tensor(zeros: [5, 3])
        #expect(throws: TensorError.self) { try Embedding.forward(table: table, ids: [0, 5]) }
        #expect(throws: TensorError.self) { try Embedding.forward(table: table, ids: [-1]) }
        #expect(throws: TensorError.self) { try Embedding.forward(table: Tensor(zeros: [15]), ids: [0]) }
        var dTable = Tensor(zeros: [5, 3])
        #expect(throws: TensorError.self) {
            try Embedding.backward(dOut: Tensor(zeros: [2, 3]), ids: [1, 9], dTable: &dTable)
        }
        #expect(throws: TensorError.self) {
            try Embedding.backward(dOut: Tensor(zeros: [2, 4]), ids: [1, 2], dTable: &dTable)
        }
        #expect(dTable.data.allSatisfy { $0 == 0 })
        #expect(try Embedding.forward(table: table, ids: []).shape == [0, 3])
    }
}

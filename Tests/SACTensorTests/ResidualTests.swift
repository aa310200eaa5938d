import Testing
@testable import SACTensor

/// Residual add: Float32 `y + x` is exactly the rounded Float64 sum, so results must be equal.
@Suite struct ResidualTests {
    @Test(arguments: [0, 1, 15, 17, 33, 1023, 100_003])
    func addMatchesRoundedSum(count: Int) {
        var rng = SplitMix64(seed: 7 &+ UInt64(count))
        let x = Ops.normal(count, &rng), y0 = Ops.normal(count, &rng, std: 3)
        var y = y0
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                if count > 0 { Residual.add(yb.baseAddress!, xb.baseAddress!, count: count) }
            }
        }
        let expected = (0..<count).map { Float(Double(y0[$0]) + Double(x[$0])) }
        #expect(y == expected)
    }

    @Test func tensorAddAndShapeMismatch() throws {
        var rng = SplitMix64(seed: 3)
        var y = Tensor(randomNormal: [3, 5], using: &rng)
        let x = Tensor(randomNormal: [3, 5], using: &rng)
        let y0 = y
        try Residual.add(into: &y, x)
        #expect(y.data == zip(y0.data, x.data).map { $0 + $1 })
        #expect(y.shape == [3, 5])
        #expect(throws: TensorError.self) { try Residual.add(into: &y, Tensor(zeros: [5, 3])) }
    }
}

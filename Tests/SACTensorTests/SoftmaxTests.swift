import Foundation
import Testing
@testable import SACTensor

/// Row softmax forward against Float64 (including large shifts), backward against central
/// finite differences of L = Σ r ⊙ softmax(x); the shared vectorised exp against Foundation.
@Suite struct SoftmaxTests {
    static func reference(_ x: [Double], rows: Int, cols: Int) -> [Double] {
        var y = x
        for t in 0..<rows {
            let row = x[t * cols ..< (t + 1) * cols]
            let m = row.max()!
            let s = row.reduce(0) { $0 + exp($1 - m) }
            for j in 0..<cols { y[t * cols + j] = exp(x[t * cols + j] - m) / s }
        }
        return y
    }

    static let sizes: [(Int, Int)] = [(1, 1), (3, 5), (7, 13), (17, 67), (2, 1000), (3, 2049), (300, 130)]

    /// Tolerance: 4e-6 relative (exp ~1 ulp, Float32 row sum over ≤ 2049 terms) plus 1e-30.
    /// Rows are shifted by ±1000 to check the max subtraction.
    @Test(arguments: sizes)
    func forwardMatchesFloat64(rows: Int, cols: Int) throws {
        var rng = SplitMix64(seed: UInt64(rows * 100 + cols))
        var x = Ops.normal(rows * cols, &rng, std: 3)
        for t in 0..<rows { for j in 0..<cols { x[t * cols + j] += t % 2 == 0 ? 1000 : -1000 } }
        let y = try Softmax.forward(Tensor(shape: [rows, cols], data: x))
        let ref = Self.reference(x.f64, rows: rows, cols: cols)
        Ops.expectClose(y.data, ref, atol: 1e-30, rtol: 4e-6, "softmax \(rows)x\(cols)")
        for t in 0..<rows {
            let s = y.data[t * cols ..< (t + 1) * cols].reduce(0.0) { $0 + Double($1) }
            #expect(abs(s - 1) < 1e-5, "row \(t) sums to \(s)")
        }
    }

    /// Central differences of the Float64 loss; tolerance 1e-6 of max|grad| plus 1e-4 relative.
    @Test(arguments: sizes.prefix(5))
    func backwardMatchesFiniteDifferences(rows: Int, cols: Int) throws {
        var rng = SplitMix64(seed: UInt64(rows * 3 + cols * 5))
        let x = Ops.normal(rows * cols, &rng, std: 2), r = Ops.normal(rows * cols, &rng)
        let fd = Ops.centralDifference(x.f64) { Ops.dot(Self.reference($0, rows: rows, cols: cols), r.f64) }
        let y = try Softmax.forward(Tensor(shape: [rows, cols], data: x))
        let dx = try Softmax.backward(y: y, dOut: Tensor(shape: [rows, cols], data: r))
        Ops.expectClose(dx.data, fd, atol: 1e-6 * max(1e-3, Ops.maxAbs(fd)), rtol: 1e-4, "dx \(rows)x\(cols)")
    }

    /// Threaded sizes: backward against the Float64 formula y ⊙ (dy − Σ dy·y) with Float64 y.
    @Test func backwardLargeMatchesFloat64() throws {
        let rows = 300, cols = 130
        var rng = SplitMix64(seed: 77)
        let x = Ops.normal(rows * cols, &rng), r = Ops.normal(rows * cols, &rng)
        let y64 = Self.reference(x.f64, rows: rows, cols: cols)
        var expected = y64
        for t in 0..<rows {
            var d = 0.0
            for j in 0..<cols { d += y64[t * cols + j] * Double(r[t * cols + j]) }
            for j in 0..<cols { expected[t * cols + j] = y64[t * cols + j] * (Double(r[t * cols + j]) - d) }
        }
        let y = try Softmax.forward(Tensor(shape: [rows, cols], data: x))
        let dx = try Softmax.backward(y: y, dOut: Tensor(shape: [rows, cols], data: r))
        Ops.expectClose(dx.data, expected, atol: 1e-6 * Ops.maxAbs(expected), rtol: 1e-4, "dx large")
    }

    /// The vectorised exp against Foundation's Float64 exp rounded to Float32 over
    /// [−104, 89]: ≤ 2 ulp where the result is normal, ≤ 2·2⁻¹⁴⁹ absolute where subnormal;
    /// overflow gives +∞ and deep underflow 0.
    @Test func vectorExpAccuracy() {
        let n = 400_000
        var worst = 0, worstX: Float = 0
        var i = 0
        while i < n {
            var v = SIMD16<Float>()
            for l in 0..<16 { v[l] = -104 + 193 * Float(i + l) / Float(n) }
            let e = VecMath.exp(v)
            for l in 0..<16 {
                let ref = Float(exp(Double(v[l])))
                if ref.isNormal && ref.isFinite {
                    let d = Ops.ulpDistance(e[l], ref)
                    if d > worst { worst = d; worstX = v[l] }
                } else if ref.isFinite {
                    #expect(abs(e[l] - ref) <= 2 * Float.leastNonzeroMagnitude, "exp(\(v[l])) = \(e[l]), expected \(ref)")
                } else {
                    #expect(e[l] == .infinity, "exp(\(v[l])) = \(e[l]), expected inf")
                }
            }
            i += 16
        }
        #expect(worst <= 2, "worst \(worst) ulp at x = \(worstX)")
        #expect(VecMath.exp(Float(0)) == 1)
        #expect(VecMath.exp(Float(89)) == .infinity && VecMath.exp(Float(1000)) == .infinity)
        #expect(VecMath.exp(Float(-110)) == 0 && VecMath.exp(-Float.infinity) == 0)
        #expect(Ops.ulpDistance(VecMath.exp(Float(1)), Float(M_E)) <= 1)
    }

    @Test func inPlaceAndErrors() throws {
        var rng = SplitMix64(seed: 8)
        let x = Ops.normal(3 * 7, &rng)
        let y = try Softmax.forward(Tensor(shape: [3, 7], data: x))
        var buf = x
        buf.withUnsafeMutableBufferPointer { Softmax.forward(x: $0.baseAddress!, out: $0.baseAddress!, rows: 3, cols: 7) }
        #expect(buf == y.data)
        #expect(throws: TensorError.self) { try Softmax.forward(Tensor(zeros: [])) }
        #expect(throws: TensorError.self) { try Softmax.backward(y: y, dOut: Tensor(zeros: [7, 3])) }
        #expect(throws: TensorError.self) { try Softmax.forward(Tensor(zeros: [3, 0])) }
    }
}

import Foundation
import Testing
@testable import SACTensor

/// SiLU / SwiGLU forward against Float64 and against torch `F.silu(g) * u` (ref_ops.py),
/// backward (dg, du, SiLU dx) against central finite differences of L = Σ r ⊙ h.
@Suite struct SwiGLUTests {
    static func silu64(_ g: Double) -> Double { g / (1 + exp(-g)) }

    static let counts = [1, 3, 7, 16, 17, 67, 1000, 40_001]

    /// Inputs include large |g| (±90) to cover exp overflow/underflow. Tolerance: 6e-7
    /// relative (exp within ~1 ulp, one division, one product) plus 1e-36 absolute: for
    /// g < −88.72, exp(−g) overflows Float32 and silu(g) is −0 (as in torch), |true| < 3e-37.
    @Test(arguments: counts)
    func forwardMatchesFloat64(count: Int) throws {
        var rng = SplitMix64(seed: UInt64(count) &* 31)
        var g = Ops.normal(count, &rng, std: 4)
        if count >= 7 { g[0] = -90; g[1] = 90; g[2] = 0; g[3] = -17.5; g[4] = 88.9; g[5] = -88.9 }
        let u = Ops.normal(count, &rng)
        let h = try SwiGLU.forward(gate: Tensor(shape: [count], data: g), up: Tensor(shape: [count], data: u))
        let expectedSilu = g.map { Self.silu64(Double($0)) }
        Ops.expectClose(h.data, zip(expectedSilu, u).map { $0 * Double($1) }, atol: 1e-36, rtol: 6e-7, "swiglu n=\(count)")
        Ops.expectClose(SiLU.forward(try Tensor(shape: [count], data: g)).data, expectedSilu, atol: 1e-36, rtol: 6e-7,
                        "silu n=\(count)")
        // out aliasing gate, and aliasing up, give the same values.
        var a = g, b = u
        a.withUnsafeMutableBufferPointer { ab in
            u.withUnsafeBufferPointer { SwiGLU.forward(gate: ab.baseAddress!, up: $0.baseAddress!, out: ab.baseAddress!, count: count) }
        }
        b.withUnsafeMutableBufferPointer { bb in
            g.withUnsafeBufferPointer { SwiGLU.forward(gate: $0.baseAddress!, up: bb.baseAddress!, out: bb.baseAddress!, count: count) }
        }
        #expect(a == h.data && b == h.data)
    }

    /// torch's vectorised silu (Sleef exp, 1 ulp) versus ours: within 3 ulp.
    @Test func forwardMatchesTorch() throws {
        let g = Ops.uniform(37, seed: 201, scale: 8) + [-100, -90, -88.5, -20, 0, 1e-30, 20, 88.5, 100]
        let u = Ops.uniform(g.count, seed: 202, scale: 2)
        Ops.expectULP(SiLU.forward(try Tensor(shape: [g.count], data: g)).data, Torch.silu, maxULP: 3, "silu")
        let h = try SwiGLU.forward(gate: Tensor(shape: [g.count], data: g), up: Tensor(shape: [u.count], data: u))
        Ops.expectULP(h.data, Torch.swiglu, maxULP: 3, "swiglu")
    }

    /// Central differences on the Float64 loss Σ r ⊙ silu(g) ⊙ u. Tolerance 2e-6 relative
    /// plus 1e-6 of max|grad| (Float32 sigmoid and products).
    @Test(arguments: counts.prefix(6))
    func backwardMatchesFiniteDifferences(count: Int) throws {
        var rng = SplitMix64(seed: UInt64(count) &+ 500)
        let g = Ops.normal(count, &rng, std: 3), u = Ops.normal(count, &rng), r = Ops.normal(count, &rng)
        let fdg = Ops.centralDifference(g.f64) { gs in (0..<count).reduce(0.0) { $0 + Double(r[$1]) * Self.silu64(gs[$1]) * Double(u[$1]) } }
        let fdu = Ops.centralDifference(u.f64) { us in (0..<count).reduce(0.0) { $0 + Double(r[$1]) * Self.silu64(Double(g[$1])) * us[$1] } }
        let fdx = Ops.centralDifference(g.f64) { gs in (0..<count).reduce(0.0) { $0 + Double(r[$1]) * Self.silu64(gs[$1]) } }
        let (dg, du) = try SwiGLU.backward(gate: Tensor(shape: [count], data: g), up: Tensor(shape: [count], data: u),
                                           dOut: Tensor(shape: [count], data: r))
        Ops.expectClose(dg.data, fdg, atol: 1e-6 * Ops.maxAbs(fdg), rtol: 2e-6, "dGate n=\(count)")
        Ops.expectClose(du.data, fdu, atol: 1e-6 * Ops.maxAbs(fdu), rtol: 2e-6, "dUp n=\(count)")
        let dx = try SiLU.backward(x: Tensor(shape: [count], data: g), dOut: Tensor(shape: [count], data: r))
        Ops.expectClose(dx.data, fdx, atol: 1e-6 * Ops.maxAbs(fdx), rtol: 2e-6, "SiLU dx n=\(count)")
    }

    /// The threaded sizes against the Float64 analytic derivative, with dGate written over
    /// gate and dUp over up (aliasing allowed).
    @Test func backwardLargeInPlace() {
        let count = 40_001
        var rng = SplitMix64(seed: 4242)
        let g0 = Ops.normal(count, &rng, std: 3), u0 = Ops.normal(count, &rng), r = Ops.normal(count, &rng)
        var g = g0, u = u0
        g.withUnsafeMutableBufferPointer { gb in
            u.withUnsafeMutableBufferPointer { ub in
                r.withUnsafeBufferPointer { rb in
                    SwiGLU.backward(gate: gb.baseAddress!, up: ub.baseAddress!, dOut: rb.baseAddress!,
                                    dGate: gb.baseAddress!, dUp: ub.baseAddress!, count: count)
                }
            }
        }
        var dge = [Double](), due = [Double]()
        for i in 0..<count {
            let gi = Double(g0[i]), ri = Double(r[i]), ui = Double(u0[i])
            let sig = 1 / (1 + exp(-gi))
            dge.append(ri * ui * sig * (1 + gi * (1 - sig)))
            due.append(ri * gi * sig)
        }
        Ops.expectClose(g, dge, atol: 1e-6 * Ops.maxAbs(dge), rtol: 2e-6, "dGate large")
        Ops.expectClose(u, due, atol: 1e-6 * Ops.maxAbs(due), rtol: 2e-6, "dUp large")
    }

    @Test func shapeMismatchThrows() {
        #expect(throws: TensorError.self) { try SwiGLU.forward(gate: Tensor(zeros: [2, 3]), up: Tensor(zeros: [3, 2])) }
        #expect(throws: TensorError.self) {
            try SwiGLU.backward(gate: Tensor(zeros: [4]), up: Tensor(zeros: [4]), dOut: Tensor(zeros: [5]))
        }
        #expect(throws: TensorError.self) { try SiLU.backward(x: Tensor(zeros: [4]), dOut: Tensor(zeros: [2, 2])) }
    }

    /// Output of ref_ops.py `swiglu` (torch 2.13 `F.silu`).
    enum Torch {
        static let silu: [Float] = [2.28641701, -0.210648999, 6.24619865, 1.85288393, -0.0425959714, -0.274556667, 5.95304203, 0.0565502681, -0.0487416834, 0.168420032, -0.00531483768, 4.36693764, -0.111210085, -0.251091599, -0.247496694, -0.136503428, 3.4572134, 4.10802984, -0.034038268, -0.0103572002, -0.0102683967, -0.00562526938, -0.00638466375, 2.20334101, 6.28746271, 5.81146145, -0.126424238, -0.0268534496, -0.256210923, -0.215521321, 4.24339199, 0.855971098, 6.99668741, 7.82018518, 1.5342499, 7.85495281, 3.78594613, -0, -0, -3.24998691e-37, -4.12230747e-08, 0, 5.00000002e-31, 20, 88.5, 100]
        static let swiglu: [Float] = [3.66545224, -0.139814287, 10.850605, -1.12414896, -0.00416562287, 0.228816897, -6.07645988, -0.102466255, -0.0840159357, -0.319596946, -0.00386640872, -0.664013743, -0.180370376, -0.408432126, 0.296888053, 0.155532762, -2.27173066, -2.50901628, 0.0554245412, -0.00212204247, 0.00742294965, 0.000513442326, 0.00631901482, 3.06682515, -9.64269352, 0.149553224, 0.124608792, 0.0221639629, 0.164762586, 0.285285056, -6.60968065, 0.362716883, -5.88115025, 10.2419386, -1.42712069, -13.238472, -4.55887556, 0, 0, 4.91646934e-37, -1.31202533e-08, -0, -2.84006347e-31, 25.1885796, 32.0851707, 138.343567]
    }
}

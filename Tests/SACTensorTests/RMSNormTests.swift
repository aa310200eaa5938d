import Foundation
import Testing
@testable import SACTensor

/// RMSNorm forward against a Float64 reference and Hugging Face `LlamaRMSNorm` (torch
/// values from ref_ops.py), backward (dx, dw) against central finite differences of the
/// Float64 loss L = Σ r ⊙ y(x, w).
@Suite struct RMSNormTests {
    static let eps: Float = 1e-5

    /// Float64 forward: `(y, rstd)`.
    static func reference(x: [Double], w: [Double], rows: Int, dim: Int, eps: Double) -> ([Double], [Double]) {
        var y = [Double](repeating: 0, count: rows * dim), rstd = [Double](repeating: 0, count: rows)
        for t in 0..<rows {
            var ss = 0.0
            for j in 0..<dim { ss += x[t * dim + j] * x[t * dim + j] }
            let r = 1 / (ss / Double(dim) + eps).squareRoot()
            rstd[t] = r
            for j in 0..<dim { y[t * dim + j] = w[j] * x[t * dim + j] * r }
        }
        return (y, rstd)
    }

    static let sizes: [(Int, Int)] = [(1, 1), (3, 5), (7, 13), (17, 67), (1, 576), (5, 1000), (300, 130)]

    /// Tolerance: Float32 sums of squares over ≤ 1000 terms, then three rounded operations:
    /// 4e-6 relative plus 1e-6 of the row's largest |y| (for outputs near zero).
    @Test(arguments: sizes)
    func forwardMatchesFloat64(rows: Int, dim: Int) throws {
        var rng = SplitMix64(seed: UInt64(rows * 7919 + dim))
        let x = try Tensor(shape: [rows, dim], data: Ops.normal(rows * dim, &rng, std: 2))
        let w = try Tensor(shape: [dim], data: Ops.normal(dim, &rng, std: 1, mean: 1))
        let (y, rstd) = try RMSNorm.forward(x, weight: w, eps: Self.eps)
        let (ye, re) = Self.reference(x: x.data.f64, w: w.data.f64, rows: rows, dim: dim, eps: Double(Self.eps))
        #expect(y.shape == [rows, dim] && rstd.shape == [rows])
        Ops.expectClose(y.data, ye, atol: 1e-6 * Ops.maxAbs(ye), rtol: 4e-6, "y \(rows)x\(dim)")
        Ops.expectClose(rstd.data, re, atol: 0, rtol: 2e-6, "rstd \(rows)x\(dim)")
    }

    /// HF LlamaRMSNorm (eps 1e-5) on `Ops.uniform` inputs; torch sums the squares in another
    /// order, so allow 4 ulp.
    @Test func forwardMatchesTorch() throws {
        for (rows, dim, seed, expected) in [(3, 13, UInt64(101), Torch.y_3x13), (2, 67, 102, Torch.y_2x67)] {
            let x = try Tensor(shape: [rows, dim], data: Ops.uniform(rows * dim, seed: seed, scale: 4))
            let w = try Tensor(shape: [dim], data: Ops.uniform(dim, seed: seed + 1000, scale: 2))
            let (y, _) = try RMSNorm.forward(x, weight: w, eps: 1e-5)
            Ops.expectULP(y.data, expected, maxULP: 4, "torch \(rows)x\(dim)")
        }
    }

    /// In place (`out == x`) gives the same values as out of place.
    @Test func forwardInPlace() throws {
        var rng = SplitMix64(seed: 5)
        let rows = 7, dim = 37
        let x = Ops.normal(rows * dim, &rng), w = Ops.normal(dim, &rng)
        let (y, _) = try RMSNorm.forward(Tensor(shape: [rows, dim], data: x), weight: Tensor(shape: [dim], data: w), eps: 1e-6)
        var buf = x
        buf.withUnsafeMutableBufferPointer { b in
            w.withUnsafeBufferPointer { wb in
                RMSNorm.forward(x: b.baseAddress!, weight: wb.baseAddress!, out: b.baseAddress!, rows: rows, dim: dim, eps: 1e-6)
            }
        }
        #expect(buf == y.data)
    }

    /// dx and dw (accumulated onto a non-zero start) against central differences of the
    /// Float64 loss. Tolerance: 2e-5 of the largest gradient plus 1e-4 relative (Float32
    /// dot products over `dim` and `rows` terms).
    @Test(arguments: [(1, 1), (3, 5), (7, 13), (17, 67), (2, 130)])
    func backwardMatchesFiniteDifferences(rows: Int, dim: Int) throws {
        var rng = SplitMix64(seed: UInt64(rows * 31 + dim))
        let x = Ops.normal(rows * dim, &rng), w = Ops.normal(dim, &rng, mean: 0.5)
        let r = Ops.normal(rows * dim, &rng), dw0 = Ops.normal(dim, &rng)
        let eps = 1e-5
        let loss: ([Double], [Double]) -> Double = { xs, ws in
            Ops.dot(Self.reference(x: xs, w: ws, rows: rows, dim: dim, eps: eps).0, r.f64)
        }
        let fdx = Ops.centralDifference(x.f64) { loss($0, w.f64) }
        let fdw = Ops.centralDifference(w.f64) { loss(x.f64, $0) }

        var dx = [Float](repeating: .nan, count: rows * dim), dw = dw0, rstd = [Float](repeating: 0, count: rows)
        x.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                r.withUnsafeBufferPointer { rb in
                    rstd.withUnsafeMutableBufferPointer { sb in
                        dx.withUnsafeMutableBufferPointer { db in
                            dw.withUnsafeMutableBufferPointer { dwb in
                                RMSNorm.computeRstd(x: xb.baseAddress!, rows: rows, dim: dim, eps: Float(eps), rstd: sb.baseAddress!)
                                RMSNorm.backward(x: xb.baseAddress!, weight: wb.baseAddress!, rstd: sb.baseAddress!,
                                                 dOut: rb.baseAddress!, dx: db.baseAddress!, dWeight: dwb.baseAddress!,
                                                 rows: rows, dim: dim)
                            }
                        }
                    }
                }
            }
        }
        Ops.expectClose(dx, fdx, atol: 2e-5 * max(1, Ops.maxAbs(fdx)), rtol: 1e-4, "dx \(rows)x\(dim)")
        let dwExpected = zip(dw0, fdw).map { Double($0) + $1 }
        Ops.expectClose(dw, dwExpected, atol: 2e-5 * max(1, Ops.maxAbs(dwExpected)), rtol: 1e-4, "dw \(rows)x\(dim)")

        // Tensor-level wrapper, and dx written over dOut (aliasing) give the same dx.
        let (tdx, tdw) = try RMSNorm.backward(
            x: Tensor(shape: [rows, dim], data: x), weight: Tensor(shape: [dim], data: w),
            rstd: Tensor(shape: [rows], data: rstd), dOut: Tensor(shape: [rows, dim], data: r))
        #expect(tdx.data == dx)
        Ops.expectClose(tdw.data, fdw, atol: 2e-5 * max(1, Ops.maxAbs(fdw)), rtol: 1e-4, "tensor dw")
        var g = r
        x.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                rstd.withUnsafeBufferPointer { sb in
                    g.withUnsafeMutableBufferPointer { gb in
                        RMSNorm.backward(x: xb.baseAddress!, weight: wb.baseAddress!, rstd: sb.baseAddress!,
                                         dOut: gb.baseAddress!, dx: gb.baseAddress!, dWeight: nil, rows: rows, dim: dim)
                    }
                }
            }
        }
        #expect(g == dx)
    }

    /// Threaded sizes (rows·dim ≥ 2¹⁵): dx and dw against the Float64 analytic gradient.
    @Test func backwardLargeMatchesAnalyticFloat64() throws {
        let rows = 300, dim = 130
        var rng = SplitMix64(seed: 99)
        let x = Ops.normal(rows * dim, &rng), w = Ops.normal(dim, &rng), g = Ops.normal(rows * dim, &rng)
        let (_, rstd) = try RMSNorm.forward(Tensor(shape: [rows, dim], data: x), weight: Tensor(shape: [dim], data: w), eps: 1e-5)
        let (dx, dw) = try RMSNorm.backward(x: Tensor(shape: [rows, dim], data: x), weight: Tensor(shape: [dim], data: w),
                                            rstd: rstd, dOut: Tensor(shape: [rows, dim], data: g))
        var dxe = [Double](repeating: 0, count: rows * dim), dwe = [Double](repeating: 0, count: dim)
        for t in 0..<rows {
            var ss = 0.0, c = 0.0
            for j in 0..<dim { let v = Double(x[t * dim + j]); ss += v * v; c += Double(g[t * dim + j] * w[j]) * v }
            let r = 1 / (ss / Double(dim) + 1e-5).squareRoot()
            for j in 0..<dim {
                let i = t * dim + j
                dxe[i] = r * Double(w[j]) * Double(g[i]) - r * r * r / Double(dim) * Double(x[i]) * c
                dwe[j] += Double(g[i]) * Double(x[i]) * r
            }
        }
        Ops.expectClose(dx.data, dxe, atol: 2e-5 * Ops.maxAbs(dxe), rtol: 1e-4, "dx large")
        Ops.expectClose(dw.data, dwe, atol: 2e-5 * Ops.maxAbs(dwe), rtol: 1e-4, "dw large")
    }

    @Test func invalidInputsThrow() {
        let x = Tensor(zeros: [3, 4])
        #expect(throws: TensorError.self) { try RMSNorm.forward(x, weight: Tensor(zeros: [5]), eps: 1e-5) }
        #expect(throws: TensorError.self) { try RMSNorm.forward(x, weight: Tensor(zeros: [4]), eps: 0) }
        #expect(throws: TensorError.self) { try RMSNorm.forward(x, weight: Tensor(zeros: [4]), eps: .nan) }
        #expect(throws: TensorError.self) {
            try RMSNorm.backward(x: x, weight: Tensor(zeros: [4]), rstd: Tensor(zeros: [2]), dOut: x)
        }
    }

    /// Output of ref_ops.py `rmsnorm` (torch 2.13, transformers LlamaRMSNorm).
    enum Torch {
        static let y_3x13: [Float] = [-1.08346128, -0.903169453, -0.40073806, 0.0883224607, -2.01040602, 1.80782652, 1.06078124, 2.06752706, -1.25320935, 0.502856255, 0.250424862, 1.14046788, 0.131979182, 0.754715919, 0.650515378, 0.584223151, 0.462886959, -1.22756732, 2.36030579, 0.135477021, 2.56438661, -0.64179343, 0.687277377, -0.482482105, -0.172742411, -0.142028913, -0.174761057, -0.176314071, 0.216637522, 0.796860695, -2.6317122, -2.96439552, 0.40445745, -1.74785352, -1.38671398, 0.601394475, 0.450392872, 0.642876804, 0.0855639502]
        static let y_2x67: [Float] = [0.0299622118, 0.288110167, -0.073368296, 0.0873685777, -0.0267524272, -0.00616913009, -0.14955315, 2.10039926, 1.32758403, -0.55163306, -0.427777797, 1.7443459, -0.509164631, -0.0953934863, 1.68143022, -2.58171463, 0.719804764, -0.469561428, 2.10059547, 0.277884334, 0.575561702, 0.124138921, 0.717938125, -0.107137173, 1.29016161, -0.513525844, -2.44923449, -1.93726158, 0.0641035065, 0.517128587, 0.440829247, -0.722335517, 1.43646073, -0.489349514, -1.48840058, 0.482741117, 0.01179488, 0.349727601, 2.7517662, 0.948200643, 0.794819593, -0.479358733, 0.70033592, -0.83160603, -1.99115086, -0.161972508, 0.275732607, -1.87958872, -0.192995965, -0.611679196, -1.85866094, 0.0686300844, 0.391744733, -1.12886882, -0.0648367032, -2.45527959, -0.978292644, 0.0875684321, 0.311504245, -0.0490298755, -1.64730728, -0.945603669, 1.50129855, 0.229471102, 0.786956608, 1.07987237, 0.167430148, 0.0175759867, -0.461971968, -0.233392432, 0.782482743, -0.0583113357, 1.33316934, -0.444553167, 0.0649240091, 0.483794272, 0.26071012, 0.996516526, 0.183654517, -0.0432875566, 0.0531051941, -2.54806519, 1.56903708, -0.829816043, -0.0672930926, 2.62380338, -0.464695305, -0.6291309, -0.131056234, -1.22265887, -0.322179109, 2.57489109, -0.0926204175, 1.01695824, -0.215678647, -0.0641644299, -1.34098089, -2.82866478, -1.39535737, -0.381406128, -0.556198597, -1.01943147, 2.05845809, 0.00958221033, 1.82016563, 2.38103366, 1.23207414, 0.676983654, 0.36612916, -0.912119627, -1.5872699, 1.31920922, -1.10559142, -0.392882138, -1.46530592, -0.468793541, 0.52191931, 1.58027279, 0.10787262, -0.966760635, 1.53285313, -0.34212926, 2.37236452, -1.59960246, -0.301152617, -0.0334387422, -0.256062031, -0.814817131, -0.328211427, -1.60947347, -0.0694877952, -1.15598679, 0.724664867, 2.3999722]
    }
}

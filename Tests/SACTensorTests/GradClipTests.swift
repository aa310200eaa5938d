import Testing

@testable import SACTensor

/// Gradient norm and clipping against a Float64 reference and torch's clip_grad_norm_.
@Suite struct GradClipTests {
    /// Parameters of awkward sizes, one above the threading threshold, with random gradients.
    func makeParams(seed: UInt64, std: Float) throws -> [Parameter] {
        var rng = SplitMix64(seed: seed)
        return try [[1], [7], [13, 17], [70_001]].enumerated().map { i, shape in
            let p = Parameter(name: "w\(i)", value: Tensor(randomNormal: shape, using: &rng))
            try p.accumulateGrad(Tensor(randomNormal: shape, std: std, using: &rng))
            return p
        }
    }

    func referenceNorm(_ ps: [Parameter]) -> Double {
        var s = 0.0
        for p in ps where p.requiresGrad { for g in p.grad.data { s += Double(g) * Double(g) } }
        return s.squareRoot()
    }

    /// Norm: relative 1e-12 vs Float64 (both accumulate in Float64). Clipped gradients:
    /// relative 1e-6 vs g·maxNorm/(norm + 1e-6) in Float64; the clipped norm is maxNorm ± 1e-5.
    @Test func clipMatchesFloat64Reference() throws {
        let ps = try makeParams(seed: 11, std: 0.5)
        let ref = referenceNorm(ps)
        #expect(abs(gradNorm(ps) - ref) <= 1e-12 * ref)
        let before = ps.map { $0.grad.data }
        let maxNorm: Float = 1.5
        let norm = try clipGradNorm(ps, maxNorm: maxNorm)
        #expect(abs(norm - Float(ref)) <= 1e-7 * Float(ref))
        #expect(ref > Double(maxNorm))
        let coef = Double(maxNorm) / (ref + 1e-6)
        for (p, g0) in zip(ps, before) {
            for i in 0..<g0.count {
                let want = Double(g0[i]) * coef
                #expect(abs(Double(p.grad.data[i]) - want) <= 1e-6 * abs(want) + 1e-12, "\(p.name)[\(i)]")
            }
        }
        #expect(abs(gradNorm(ps) - Double(maxNorm)) <= 1e-5)
    }

    /// Below maxNorm the gradients are untouched (bitwise) and the norm is still returned.
    @Test func noClipBelowMaxNorm() throws {
        let ps = try makeParams(seed: 12, std: 1e-3)
        let before = ps.map { $0.grad }
        let ref = referenceNorm(ps)
        let norm = try clipGradNorm(ps, maxNorm: 1)
        #expect(ref < 1)
        #expect(abs(norm - Float(ref)) <= 1e-7 * Float(ref))
        #expect(ps.map { $0.grad } == before)
    }

    /// Norms from torch.nn.utils.clip_grad_norm_ (scripts/ref_optim.py), relative 1e-6.
    @Test func normsMatchTorch() throws {
        for t in 0..<OptimReference.grads.count {
            let ps = try (0..<3).map { i in
                let p = Parameter(name: "p\(i)", value: Tensor(zeros: OptimReference.shapes[i]))
                try p.accumulateGrad(Tensor(
                    shape: OptimReference.shapes[i],
                    data: OptimReference.grads[t][i].map { $0 * OptimReference.gradScales[t] }))
                return p
            }
            let want = OptimReference.clippedNorms[t]
            let norm = try clipGradNorm(ps, maxNorm: 1)
            #expect(abs(norm - want) <= 1e-6 * want, "step \(t)")
        }
    }

    /// Frozen parameters neither count towards the norm nor get scaled.
    @Test func frozenParametersIgnored() throws {
        let ps = try makeParams(seed: 13, std: 2)
        ps[2].requiresGrad = false
        let frozenGrad = ps[2].grad
        let ref = referenceNorm(ps)
        let norm = Double(try clipGradNorm(ps, maxNorm: 0.5))
        #expect(abs(norm - ref) <= 1e-7 * ref)
        #expect(ps[2].grad == frozenGrad)
        ps[2].requiresGrad = true
        let rest = referenceNorm([ps[0], ps[1], ps[3]])
        #expect(abs(rest - 0.5) <= 1e-5)
    }

    /// NaN or inf in a gradient: the non-finite norm is returned and the gradients are untouched.
    @Test func nonFiniteNormIsReportedWithoutScaling() throws {
        for bad in [Float.nan, .infinity, -.infinity] {
            let ps = try makeParams(seed: 14, std: 3)
            try ps[3].accumulateGrad({ var t = Tensor(zeros: [70_001]); t.data[70_000] = bad; return t }())
            let before = ps.map { $0.grad.data }
            let norm = try clipGradNorm(ps, maxNorm: 1)
            #expect(!norm.isFinite, "\(bad)")
            if bad.isNaN { #expect(norm.isNaN) } else { #expect(norm == Float.infinity) }
            for (p, g) in zip(ps, before) {
                #expect(zip(p.grad.data, g).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
            }
        }
    }

    @Test func rejectsNegativeOrNaNMaxNorm() throws {
        let ps = try makeParams(seed: 15, std: 1)
        #expect(throws: (any Error).self) { try clipGradNorm(ps, maxNorm: -1) }
        #expect(throws: (any Error).self) { try clipGradNorm(ps, maxNorm: .nan) }
        // maxNorm = +inf measures without clipping.
        let before = ps.map { $0.grad }
        let norm = Double(try clipGradNorm(ps, maxNorm: .infinity))
        #expect(abs(norm - referenceNorm(ps)) <= 1e-3)
        #expect(ps.map { $0.grad } == before)
    }

    /// scaleGradients on awkward sizes (1, 17, above the threading threshold) vs Float64,
    /// relative 1e-7; frozen parameters untouched.
    @Test func scaleGradientsMatchesFloat64() throws {
        var rng = SplitMix64(seed: 5)
        let ps = try [[1], [17], [40_003]].enumerated().map { i, s in
            let p = Parameter(name: "s\(i)", value: Tensor(zeros: s))
            try p.accumulateGrad(Tensor(randomNormal: s, using: &rng))
            return p
        }
        let frozen = Parameter(name: "f", value: Tensor(zeros: [9]), requiresGrad: false)
        try frozen.accumulateGrad(Tensor(randomNormal: [9], using: &rng))
        let before = (ps + [frozen]).map { $0.grad.data }
        scaleGradients(ps + [frozen], by: 0.37)
        for (p, g) in zip(ps, before) {
            for i in 0..<g.count {
                let want = Double(g[i]) * Double(Float(0.37))
                #expect(abs(Double(p.grad.data[i]) - want) <= 1e-7 * abs(want), "\(p.name)[\(i)]")
            }
        }
        #expect(frozen.grad.data == before[3])
    }
}

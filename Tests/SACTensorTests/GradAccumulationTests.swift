import Foundation
import Testing

@testable import SACTensor

/// Gradient accumulation: 3 micro-batches of unequal sizes (with masked tokens) of a softmax
/// regression, with summed per-token losses and a 1/(counted tokens) scale at the end of the
/// window, must give the gradient of the mean loss over the union batch and the same AdamW
/// steps. Tolerance: |acc − union| <= 1e-6·max|union| per tensor for gradients, and
/// <= 1e-6·|union| + 1e-7 elementwise for parameters after AdamW steps.
@Suite struct GradAccumulationTests {
    static let classes = 5, dim = 7

    struct Token { var x: [Float]; var label: Int }  // label -1: masked (not counted)

    /// Adds Σ_n weight·∂CE_n/∂(W, b) over the counted tokens into `gW` [C, D], `gb` [C];
    /// returns (Σ CE_n in Float64, counted tokens).
    static func backward(_ tokens: ArraySlice<Token>, W: [Float], b: [Float], weight: Float,
                         gW: inout [Float], gb: inout [Float]) -> (Double, Int) {
        var loss = 0.0, counted = 0
        for t in tokens where t.label >= 0 {
            var z = [Float](repeating: 0, count: classes)
            for c in 0..<classes {
                z[c] = b[c]
                for d in 0..<dim { z[c] += W[c * dim + d] * t.x[d] }
            }
            let zmax = z.max()!
            let e = z.map { expf($0 - zmax) }
            let s = e.reduce(0, +)
            loss += Double(logf(s) + zmax - z[t.label])
            counted += 1
            for c in 0..<classes {
                let dz = weight * (e[c] / s - (c == t.label ? 1 : 0))
                gb[c] += dz
                for d in 0..<dim { gW[c * dim + d] += dz * t.x[d] }
            }
        }
        return (loss, counted)
    }

    func makeTokens(_ n: Int, _ rng: inout SplitMix64) -> [Token] {
        (0..<n).map { i in
            Token(x: Tensor(randomNormal: [Self.dim], using: &rng).data,
                  label: i % 7 == 3 ? -1 : Int(rng.next() % UInt64(Self.classes)))
        }
    }

    func assertClose(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let scale = b.map { abs($0) }.max()!
        #expect(scale > 0, sourceLocation: sourceLocation)
        for i in 0..<b.count where !(abs(a[i] - b[i]) <= 1e-6 * scale) {
            Issue.record("\(what)[\(i)]: \(a[i]) vs \(b[i])", sourceLocation: sourceLocation)
            return
        }
    }

    @Test func threeMicroBatchesEqualOneUnionBatch() throws {
        var rng = SplitMix64(seed: 2024)
        let W0 = Tensor(randomNormal: [Self.classes, Self.dim], std: 0.5, using: &rng)
        let b0 = Tensor(randomNormal: [Self.classes], std: 0.5, using: &rng)
        func params() -> [Parameter] {
            [Parameter(name: "W", value: W0), Parameter(name: "b", value: b0)]
        }
        let accP = params(), uniP = params()
        let accOpt = try AdamW(parameters: accP, lr: 1e-2, betas: (0.9, 0.95), weightDecay: 0.1)
        let uniOpt = try AdamW(parameters: uniP, lr: 1e-2, betas: (0.9, 0.95), weightDecay: 0.1)
        var acc = try GradAccumulation(microBatches: 3)

        for window in 0..<2 {
            let tokens = makeTokens(30, &rng)
            let splits = [0..<11, 11..<12, 12..<30]

            // Accumulated: summed per-token losses per micro-batch, then 1/N.
            for (k, r) in splits.enumerated() {
                var gW = [Float](repeating: 0, count: Self.classes * Self.dim)
                var gb = [Float](repeating: 0, count: Self.classes)
                let (loss, n) = Self.backward(
                    tokens[r], W: accP[0].value.data, b: accP[1].value.data, weight: 1, gW: &gW, gb: &gb)
                try accP[0].accumulateGrad(Tensor(shape: [Self.classes, Self.dim], data: gW))
                try accP[1].accumulateGrad(Tensor(shape: [Self.classes], data: gb))
                let complete = acc.record(tokens: n, lossSum: loss)
                #expect(complete == (k == 2))
            }
            #expect(acc.isComplete)
            let total = tokens.filter { $0.label >= 0 }.count
            #expect(acc.tokenCount == total)
            scaleGradients(accP, by: try #require(acc.gradientScale))

            // Union: mean loss over all counted tokens in one pass.
            var gW = [Float](repeating: 0, count: Self.classes * Self.dim)
            var gb = [Float](repeating: 0, count: Self.classes)
            let (uLoss, uN) = Self.backward(
                tokens[...], W: uniP[0].value.data, b: uniP[1].value.data, weight: 1 / Float(total), gW: &gW, gb: &gb)
            #expect(uN == total)
            try uniP[0].accumulateGrad(Tensor(shape: [Self.classes, Self.dim], data: gW))
            try uniP[1].accumulateGrad(Tensor(shape: [Self.classes], data: gb))

            assertClose(accP[0].grad.data, uniP[0].grad.data, "window \(window) dW")
            assertClose(accP[1].grad.data, uniP[1].grad.data, "window \(window) db")
            // Window 0: same parameters and per-token losses, so equal up to Float64 rounding;
            // window 1: the two runs' parameters differ within the 1e-6 step tolerance.
            let meanLoss = try #require(acc.meanLoss)
            #expect(abs(meanLoss - uLoss / Double(uN)) <= (window == 0 ? 1e-12 : 1e-6) * uLoss)

            accOpt.step(); uniOpt.step()
            accOpt.zeroGrad(); uniOpt.zeroGrad()
            acc.reset()
            for (a, u) in zip(accP, uniP) {
                for i in 0..<u.count where !(abs(a.value.data[i] - u.value.data[i]) <= 1e-6 * abs(u.value.data[i]) + 1e-7) {
                    Issue.record("window \(window) \(u.name)[\(i)]: \(a.value.data[i]) vs \(u.value.data[i])")
                    break
                }
            }
            // The step moved the parameters (the test would not detect a no-op otherwise).
            #expect(accP[0].value != W0)
        }
    }

    @Test func bookkeeping() throws {
        #expect(throws: (any Error).self) { try GradAccumulation(microBatches: 0) }
        var acc = try GradAccumulation(microBatches: 2)
        #expect(acc.gradientScale == nil)
        var complete = acc.record(tokens: 0, lossSum: 0)
        #expect(!complete)
        complete = acc.record(tokens: 0, lossSum: 0)
        #expect(complete)
        #expect(acc.gradientScale == nil, "no counted tokens: the caller skips the step")
        #expect(acc.meanLoss == nil)
        acc.reset()
        complete = acc.record(tokens: 3, lossSum: 6)
        #expect(!complete)
        complete = acc.record(tokens: 7, lossSum: 1)
        #expect(complete)
        #expect(acc.gradientScale == Float(0.1))
        let meanLoss = try #require(acc.meanLoss)
        #expect(abs(meanLoss - 0.7) <= 1e-15)
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

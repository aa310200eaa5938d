import Foundation
import Testing

@testable import SACTensor

/// Schedules against the learning rates that transformers' schedule functions give a
/// LambdaLR-wrapped optimiser at each optimiser step (scripts/ref_optim.py, base lr 3e-4).
/// Tolerance: relative 1e-12 on the Float64 rate, and the Float32 rate equal to the
/// Float32 rounding of torch's rate within 1 ulp.
@Suite struct LRScheduleTests {
    func check(_ s: LRSchedule, _ want: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: Never.self, sourceLocation: sourceLocation) { try s.validate() }
        for (k, w) in want.enumerated() {
            let got = Double(s.baseLR) * s.multiplier(atStep: k)
            // The base rate is Float(3e-4) here and 3e-4 in torch: compare the multipliers.
            let gotMul = s.multiplier(atStep: k), wantMul = w / 3e-4
            #expect(abs(gotMul - wantMul) <= 1e-12 * max(1, abs(wantMul)), "step \(k)", sourceLocation: sourceLocation)
            #expect(abs(Double(s.lr(atStep: k)) - got) <= Double(Float(got).ulp), sourceLocation: sourceLocation)
            #expect(abs(s.lr(atStep: k) - Float(w)) <= Float(w).ulp + 1e-12, "step \(k)", sourceLocation: sourceLocation)
        }
    }

    @Test func constantWithWarmup() {
        check(.constantWithWarmup(lr: 3e-4, warmupSteps: 3), OptimReference.constantWarmup3)
        check(.constantWithWarmup(lr: 3e-4, warmupSteps: 0), OptimReference.constantWarmup0)
        check(.constant(lr: 3e-4), OptimReference.constantWarmup0)
    }

    @Test func linear() {
        check(.linear(lr: 3e-4, warmupSteps: 3, totalSteps: 11), OptimReference.linear3of11)
        check(.linear(lr: 3e-4, warmupSteps: 0, totalSteps: 7), OptimReference.linear0of7)
    }

    @Test func cosine() {
        check(.cosine(lr: 3e-4, warmupSteps: 3, totalSteps: 11), OptimReference.cosine3of11)
        check(.cosine(lr: 3e-4, warmupSteps: 2, totalSteps: 9, numCycles: 1.5), OptimReference.cosine2of9cycles1_5)
        check(.cosine(lr: 3e-4, warmupSteps: 4, totalSteps: 13, minLRRate: 0.1), OptimReference.cosineMin0_1)
    }

    /// The first optimiser update (step 0) uses lr 0 under warmup; the peak is at step `warmupSteps`.
    @Test func stepConvention() {
        let s = LRSchedule.linear(lr: 1e-3, warmupSteps: 5, totalSteps: 50)
        #expect(s.lr(atStep: 0) == 0)
        #expect(s.lr(atStep: 5) == 1e-3)
        #expect(s.lr(atStep: 50) == 0)
    }

    @Test func validateAndCodable() throws {
        #expect(throws: (any Error).self) { try LRSchedule.constant(lr: -1).validate() }
        #expect(throws: (any Error).self) { try LRSchedule.constant(lr: .nan).validate() }
        #expect(throws: (any Error).self) { try LRSchedule.constantWithWarmup(lr: 1, warmupSteps: -1).validate() }
        #expect(throws: (any Error).self) { try LRSchedule.linear(lr: 1, warmupSteps: 1, totalSteps: -2).validate() }
        #expect(throws: (any Error).self) { try LRSchedule.cosine(lr: 1, warmupSteps: 1, totalSteps: 5, numCycles: .infinity).validate() }
        #expect(throws: (any Error).self) { try LRSchedule.cosine(lr: 1, warmupSteps: 1, totalSteps: 5, minLRRate: 1.5).validate() }
        let s = LRSchedule.cosine(lr: 2e-4, warmupSteps: 7, totalSteps: 101, numCycles: 0.75, minLRRate: 0.05)
        let back = try JSONDecoder().decode(LRSchedule.self, from: JSONEncoder().encode(s))
        #expect(back == s)
    }
}

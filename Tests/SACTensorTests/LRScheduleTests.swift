import Foundation
import XCTest

@testable import SACTensor

/// Schedules against the learning rates that transformers' schedule functions give a
/// LambdaLR-wrapped optimiser at each optimiser step (scripts/ref_optim.py, base lr 3e-4).
/// Tolerance: relative 1e-12 on the Float64 rate, and the Float32 rate equal to the
/// Float32 rounding of torch's rate within 1 ulp.
final class LRScheduleTests: XCTestCase {
    func check(_ s: LRSchedule, _ want: [Double], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(try s.validate(), file: file, line: line)
        for (k, w) in want.enumerated() {
            let got = Double(s.baseLR) * s.multiplier(atStep: k)
            // The base rate is Float(3e-4) here and 3e-4 in torch: compare the multipliers.
            let gotMul = s.multiplier(atStep: k), wantMul = w / 3e-4
            XCTAssertEqual(gotMul, wantMul, accuracy: 1e-12 * max(1, abs(wantMul)), "step \(k)", file: file, line: line)
            XCTAssertEqual(Double(s.lr(atStep: k)), got, accuracy: Double(Float(got).ulp), file: file, line: line)
            XCTAssertEqual(s.lr(atStep: k), Float(w), accuracy: Float(w).ulp + 1e-12, "step \(k)", file: file, line: line)
        }
    }

    func testConstantWithWarmup() {
        check(.constantWithWarmup(lr: 3e-4, warmupSteps: 3), OptimReference.constantWarmup3)
        check(.constantWithWarmup(lr: 3e-4, warmupSteps: 0), OptimReference.constantWarmup0)
        check(.constant(lr: 3e-4), OptimReference.constantWarmup0)
    }

    func testLinear() {
        check(.linear(lr: 3e-4, warmupSteps: 3, totalSteps: 11), OptimReference.linear3of11)
        check(.linear(lr: 3e-4, warmupSteps: 0, totalSteps: 7), OptimReference.linear0of7)
    }

    func testCosine() {
        check(.cosine(lr: 3e-4, warmupSteps: 3, totalSteps: 11), OptimReference.cosine3of11)
        check(.cosine(lr: 3e-4, warmupSteps: 2, totalSteps: 9, numCycles: 1.5), OptimReference.cosine2of9cycles1_5)
        check(.cosine(lr: 3e-4, warmupSteps: 4, totalSteps: 13, minLRRate: 0.1), OptimReference.cosineMin0_1)
    }

    /// The first optimiser update (step 0) uses lr 0 under warmup; the peak is at step `warmupSteps`.
    func testStepConvention() {
        let s = LRSchedule.linear(lr: 1e-3, warmupSteps: 5, totalSteps: 50)
        XCTAssertEqual(s.lr(atStep: 0), 0)
        XCTAssertEqual(s.lr(atStep: 5), 1e-3)
        XCTAssertEqual(s.lr(atStep: 50), 0)
    }

    func testValidateAndCodable() throws {
        XCTAssertThrowsError(try LRSchedule.constant(lr: -1).validate())
        XCTAssertThrowsError(try LRSchedule.constant(lr: .nan).validate())
        XCTAssertThrowsError(try LRSchedule.constantWithWarmup(lr: 1, warmupSteps: -1).validate())
        XCTAssertThrowsError(try LRSchedule.linear(lr: 1, warmupSteps: 1, totalSteps: -2).validate())
        XCTAssertThrowsError(try LRSchedule.cosine(lr: 1, warmupSteps: 1, totalSteps: 5, numCycles: .infinity).validate())
        XCTAssertThrowsError(try LRSchedule.cosine(lr: 1, warmupSteps: 1, totalSteps: 5, minLRRate: 1.5).validate())
        let s = LRSchedule.cosine(lr: 2e-4, warmupSteps: 7, totalSteps: 101, numCycles: 0.75, minLRRate: 0.05)
        let back = try JSONDecoder().decode(LRSchedule.self, from: JSONEncoder().encode(s))
        XCTAssertEqual(back, s)
    }
}

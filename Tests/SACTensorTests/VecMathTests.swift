import Foundation
import Testing
@testable import SACTensor

/// The vectorised exp shared by the row kernels (cross-entropy, KL divergence, attention,
/// SwiGLU) against Foundation's Float64 exp.
@Suite struct VecMathTests {
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
}

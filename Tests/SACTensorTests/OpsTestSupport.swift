import Foundation
import Testing
@testable import SACTensor

/// Shared helpers for the op tests: seeded inputs (reproducible in Python by ref_ops.py),
/// Float64 central finite differences, and tolerance checks that report the worst element.
enum Ops {
    /// `count` Float32 values `k·2⁻²³·scale` with `k` uniform in `[−2²³, 2²³)` drawn from
    /// `SplitMix64(seed)` (top 24 bits of each draw). `ref_ops.py: uniform` produces the same.
    static func uniform(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            Float(Int64(rng.next() >> 40) - (1 << 23)) * (scale / Float(1 << 23))
        }
    }

    /// `count` samples of `N(mean, std²)` rounded to Float32.
    static func normal(_ count: Int, _ rng: inout SplitMix64, std: Double = 1, mean: Double = 0) -> [Float] {
        (0..<count).map { _ in Float(mean + std * rng.nextGaussian()) }
    }

    /// Central differences `(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h` for every coordinate, with
    /// `h = hRel · max(1, |xᵢ|)`. Truncation error O(h²·f‴) ≈ 1e-12 for the smooth ops here.
    static func centralDifference(_ x: [Double], hRel: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
        var xp = x
        return (0..<x.count).map { i in
            let h = hRel * max(1, abs(x[i]))
            xp[i] = x[i] + h
            let fp = f(xp)
            xp[i] = x[i] - h
            let fm = f(xp)
            xp[i] = x[i]
            return (fp - fm) / (2 * h)
        }
    }

    /// Σ aᵢ·bᵢ in Float64.
    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// Largest |v| (0 for an empty array).
    static func maxAbs(_ v: [Double]) -> Double { v.reduce(0) { max($0, abs($1)) } }

    /// Expects `|actual[i] − expected[i]| ≤ atol + rtol·|expected[i]|` everywhere (and equal
    /// counts); records one issue naming the worst element otherwise.
    static func expectClose(
        _ actual: [Float], _ expected: [Double], atol: Double, rtol: Double, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard actual.count == expected.count else {
            Issue.record("\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
            return
        }
        var worst = -1, worstExcess = 0.0
        for i in 0..<actual.count {
            let a = Double(actual[i]), e = expected[i]
            let err = abs(a - e), tol = atol + rtol * abs(e)
            if !(err <= tol) && (worst < 0 || err - tol > worstExcess || err.isNaN) {
                worst = i
                worstExcess = err.isNaN ? .infinity : err - tol
            }
        }
        if worst >= 0 {
            Issue.record(
                "\(what): element \(worst) is \(actual[worst]), expected \(expected[worst]) (atol \(atol), rtol \(rtol))",
                sourceLocation: sourceLocation)
        }
    }

    /// Distance in units in the last place between two finite Floats (0 for equal values,
    /// including +0 and −0; Int.max when either is NaN).
    static func ulpDistance(_ a: Float, _ b: Float) -> Int {
        if a.isNaN || b.isNaN { return Int.max }
        if a == b { return 0 }
        func key(_ x: Float) -> Int64 {
            let bits = Int64(x.bitPattern & 0x7FFF_FFFF)
            return x.sign == .minus ? -bits : bits
        }
        return Int(abs(key(a) - key(b)))
    }

    /// Expects every element within `maxULP` ulps of `expected` (exact counts).
    static func expectULP(
        _ actual: [Float], _ expected: [Float], maxULP: Int, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard actual.count == expected.count else {
            Issue.record("\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
            return
        }
        if let i = (0..<actual.count).max(by: { ulpDistance(actual[$0], expected[$0]) < ulpDistance(actual[$1], expected[$1]) }),
           ulpDistance(actual[i], expected[i]) > maxULP {
            Issue.record(
                "\(what): element \(i) is \(actual[i]), expected \(expected[i]) (\(ulpDistance(actual[i], expected[i])) ulp > \(maxULP))",
                sourceLocation: sourceLocation)
        }
    }
}

extension Array where Element == Float {
    /// The values widened to Float64.
    var f64: [Double] { map(Double.init) }
}

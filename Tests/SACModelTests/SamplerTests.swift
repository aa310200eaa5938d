import Foundation
import Testing
@testable import SACModel

@Suite struct SamplerTests {
    @Test func greedyTakesFirstMaximum() throws {
        var s = try Sampler()
        #expect(s.next([0.5, 2, -1, 2]) == 1)
        #expect(Sampler.argmax([-3, -2, -2.5]) == 1)
    }

    /// Frequencies of seeded draws match softmax(logits / T) within 4 standard errors.
    @Test func temperatureSamplingFollowsSoftmax() throws {
        let logits: [Float] = [0, Float(log(3.0)), -1.3, 0.4]
        let t: Float = 0.8
        let weights = logits.map { exp(Double($0 / t)) }
        let probs = weights.map { $0 / weights.reduce(0, +) }
        var s = try Sampler(temperature: t, seed: 11)
        let n = 20000
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<n { counts[Int(s.next(logits))] += 1 }
        for i in 0..<logits.count {
            let f = Double(counts[i]) / Double(n)
            let se = (probs[i] * (1 - probs[i]) / Double(n)).squareRoot()
            #expect(abs(f - probs[i]) <= 4 * se + 1e-9, "token \(i): frequency \(f), probability \(probs[i])")
        }
    }

    @Test func sameSeedSameDraws() throws {
        let logits: [Float] = (0..<50).map { Float(sin(Double($0))) }
        var a = try Sampler(temperature: 1, topP: 0.9, seed: 5)
        var b = try Sampler(temperature: 1, topP: 0.9, seed: 5)
        var c = try Sampler(temperature: 1, topP: 0.9, seed: 6)
        let da = (0..<64).map { _ in a.next(logits) }
        #expect(da == (0..<64).map { _ in b.next(logits) })
        #expect(da != (0..<64).map { _ in c.next(logits) })
    }

    /// Top-p keeps the smallest set reaching p; top-k keeps the k most likely.
    @Test func nucleusAndTopKTruncate() throws {
        let logits: [Float] = [0, Float(log(3.0)), -20]  // probabilities ≈ 0.25, 0.75, 0
        var p = try Sampler(temperature: 1, topP: 0.7, seed: 1)
        #expect((0..<200).allSatisfy { _ in p.next(logits) == 1 })
        var p2 = try Sampler(temperature: 1, topP: 0.99, seed: 1)
        let draws = Set((0..<400).map { _ in p2.next(logits) })
        #expect(draws == [0, 1])
        var k = try Sampler(temperature: 5, topK: 1, seed: 1)
        #expect((0..<100).allSatisfy { _ in k.next([0.1, 0.3, 0.2]) == 1 })
    }

    @Test func badSettingsThrow() {
        #expect(throws: (any Error).self) { try Sampler(temperature: -1) }
        #expect(throws: (any Error).self) { try Sampler(temperature: .nan) }
        #expect(throws: (any Error).self) { try Sampler(topP: 0) }
        #expect(throws: (any Error).self) { try Sampler(topP: 1.5) }
    }
}

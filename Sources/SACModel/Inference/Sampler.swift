import Foundation
import SACTensor

/// Picks the next token from a row of logits: greedy (argmax) or seeded temperature sampling
/// with nucleus (top-p) and optional top-k truncation.
public struct Sampler: Sendable {
    /// `nil` or 0: greedy. Otherwise logits are divided by it before the softmax.
    public var temperature: Float?
    /// Keep the smallest set of most likely tokens whose probability reaches `topP` (1 = all).
    public var topP: Float
    /// Keep at most this many most likely tokens (0 = no limit).
    public var topK: Int
    var rng: SplitMix64

    /// - Throws: `TensorError.invalidArgument` for a negative or non-finite temperature, or
    ///   `topP` outside (0, 1].
    public init(temperature: Float? = nil, topP: Float = 1, topK: Int = 0, seed: UInt64 = 0) throws {
        if let t = temperature, !(t >= 0 && t.isFinite) {
            throw TensorError.invalidArgument(op: "Sampler", detail: "temperature must be ≥ 0, got \(t)")
        }
        guard topP > 0 && topP <= 1 else {
            throw TensorError.invalidArgument(op: "Sampler", detail: "top-p must be in (0, 1], got \(topP)")
        }
        guard topK >= 0 else {
            throw TensorError.invalidArgument(op: "Sampler", detail: "top-k must be ≥ 0, got \(topK)")
        }
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        rng = SplitMix64(seed: seed)
    }

    /// The greedy sampler (argmax at every step).
    public static var greedy: Sampler { Sampler(checkedTemperature: nil, topP: 1, topK: 0, rng: SplitMix64(seed: 0)) }

    private init(checkedTemperature: Float?, topP: Float, topK: Int, rng: SplitMix64) {
        temperature = checkedTemperature
        self.topP = topP
        self.topK = topK
        self.rng = rng
    }

    /// Whether this sampler always takes the argmax.
    public var isGreedy: Bool { (temperature ?? 0) == 0 }

    /// The index of the largest logit; the first one on ties (like `torch.argmax`).
    public static func argmax(_ logits: [Float]) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<logits.count where logits[i] > bestValue {
            best = i
            bestValue = logits[i]
        }
        return Int32(best)
    }

    /// The next token for `logits` (one row, `[vocab]`).
    public mutating func next(_ logits: [Float]) -> Int32 {
        guard let t = temperature, t > 0 else { return Sampler.argmax(logits) }
        // Softmax over the scaled logits, in Double for a stable cumulative sum.
        let maxLogit = logits.max() ?? 0
        var order = Array(0..<logits.count)
        var probs = logits.map { Double(($0 - maxLogit) / t).exp() }
        order.sort { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
        if topK > 0 && topK < order.count { order.removeSubrange(topK...) }
        let total = order.reduce(0.0) { $0 + probs[$1] }
        var kept = 0
        var cumulative = 0.0
        for i in order {
            cumulative += probs[i] / total
            kept += 1
            if cumulative >= Double(topP) { break }
        }
        order.removeSubrange(kept...)
        let keptTotal = order.reduce(0.0) { $0 + probs[$1] }
        var u = Double(rng.next() >> 11) / Double(1 << 53) * keptTotal
        for i in order {
            u -= probs[i]
            if u < 0 { return Int32(i) }
        }
        probs.removeAll()
        return Int32(order.last!)
    }
}

extension Double {
    fileprivate func exp() -> Double { Foundation.exp(self) }
}

import Foundation
import SACCompression
import SACModel

/// How close a memory's keys and values are to the original context's at the same positions
/// (the paper's analysis claim: SAC's anchors stay close to the context's own K/V, appended
/// memory tokens less so).
///
/// The reference is the frozen model reading the whole encoder input causally, token i at RoPE
/// position i + 1 (the encoder's global 1-based positions, SPEC §2). A carrier at position p
/// is compared with context token p − 1: per layer, the cosine similarity of the two key rows
/// and of the two value rows (`kvDim` floats each, post-RoPE keys), averaged over carriers.
/// EPL spreads its memory tokens at stride r (SPEC §2), so the last of a short chunk's ⌈L/r⌉ can
/// sit past the context's end: such carriers have no context token to compare with and are
/// counted in `Result.outside` instead.
public enum KVSimilarity {
    /// Per-layer mean cosine similarities over the carriers of one or more memories.
    public struct Result: Codable, Sendable, Equatable {
        /// Mean key similarity per layer.
        public var keys: [Double]
        /// Mean value similarity per layer.
        public var values: [Double]
        /// Carriers averaged over.
        public var carriers: Int
        /// Carriers left out because their position lies past the context's last token.
        public var outside: Int
        /// Contexts measured.
        public var contexts: Int
    }

    /// Why a memory cannot be compared.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// ICAE memories hold hidden states, not keys and values.
        case notKV(method: String)
        /// A carrier's position is below 1, or no carrier of a memory lies inside the context.
        case positionOutsideContext(position: Int32, contextTokens: Int)

        public var description: String {
            switch self {
            case let .notKV(method): return "method \(method) keeps no keys and values to compare"
            case let .positionOutsideContext(p, n):
                return "a carrier at position \(p) has no context token there (context of \(n) tokens, positions 1…\(n))"
            }
        }
    }

    /// Accumulates per-layer sums over contexts.
    public struct Accumulator: Sendable {
        var keySums: [Double]
        var valueSums: [Double]
        public private(set) var carriers = 0
        public private(set) var outside = 0
        public private(set) var contexts = 0

        public init(layers: Int) {
            keySums = Array(repeating: 0, count: layers)
            valueSums = keySums
        }

        /// The means so far.
        public var result: Result {
            let n = Double(max(carriers, 1))
            return Result(keys: keySums.map { $0 / n }, values: valueSums.map { $0 / n }, carriers: carriers, outside: outside, contexts: contexts)
        }

        /// Compares `memory` (made from the encoder input `ids`) with the frozen `model`'s
        /// keys and values of `ids`.
        /// Carriers past the context's last token are counted in `outside`, not compared.
        /// - Throws: `Failure` for a memory without K/V, with a carrier at a position below 1, or
        ///   with no carrier inside the context; the model's errors.
        public mutating func add(memory: CompressedMemory, ids: [Int32], model: LlamaModel) throws {
            guard memory.method.usesKV else { throw Failure.notKV(method: memory.method.rawValue) }
            let n = ids.count
            for p in memory.carrierPositions where p < 1 {
                throw Failure.positionOutsideContext(position: p, contextTokens: n)
            }
            let inside = memory.carrierPositions.enumerated().filter { Int($0.element) <= n }
            guard !inside.isEmpty else {
                throw Failure.positionOutsideContext(position: memory.carrierPositions.first ?? 0, contextTokens: n)
            }
            let c = model.config
            let cache = KVCache(layers: c.numLayers, kvDim: c.kvDim, capacity: n)
            _ = try model.forward(ids, positions: (0..<n).map { Int32($0 + 1) }, cache: cache, logits: .none)
            let d = c.kvDim
            for l in 0..<c.numLayers {
                let (k, v) = cache.layer(l)
                for (j, p) in inside {
                    let row = Int(p) - 1
                    keySums[l] += KVSimilarity.cosine(memory.keys[l], j * d, k, row * d, d)
                    valueSums[l] += KVSimilarity.cosine(memory.values[l], j * d, v, row * d, d)
                }
            }
            carriers += inside.count
            outside += memory.carrierPositions.count - inside.count
            contexts += 1
        }
    }

    /// Cosine similarity of `a[i..<i+n]` and `b[j..<j+n]` in float64 (0 when either is zero).
    static func cosine(_ a: [Float], _ i: Int, _ b: [Float], _ j: Int, _ n: Int) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for t in 0..<n {
            let x = Double(a[i + t]), y = Double(b[j + t])
            dot += x * y; na += x * x; nb += y * y
        }
        return na > 0 && nb > 0 ? dot / (na.squareRoot() * nb.squareRoot()) : 0
    }
}

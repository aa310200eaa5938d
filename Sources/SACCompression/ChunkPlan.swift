import SACTensor

/// Anchor positions inside a chunk (SPEC §2).
public enum Anchors {
    /// K = ⌈(L − h)/r⌉ anchors for a chunk of L tokens (at least 1), h = ⌊(r − 1)/2⌋.
    public static func count(length L: Int, ratio r: Int) -> Int {
        let h = (r - 1) / 2
        if h >= L { return 1 }
        return (L - h + r - 1) / r
    }

    /// Uniform anchors j_k = h + k·r, k < K; the single anchor 0 when h ≥ L.
    public static func uniform(length L: Int, ratio r: Int) -> [Int] {
        let h = (r - 1) / 2
        if h >= L { return [0] }
        return (0..<count(length: L, ratio: r)).map { h + $0 * r }
    }

    /// `count` distinct indices in 0..<L drawn without replacement, sorted ascending; the
    /// generator is seeded from (seed, chunk).
    public static func random(length L: Int, count: Int, seed: UInt64, chunk: Int) -> [Int] {
        var rng = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(chunk) &+ 1)
        var pool = Array(0..<L)
        let k = min(count, L)
        for i in 0..<k {
            let j = i + Int(rng.next() % UInt64(L - i))
            pool.swapAt(i, j)
        }
        return pool[0..<k].sorted()
    }
}

/// How one chunk of the context is encoded.
public struct ChunkPlan: Sendable, Equatable {
    /// The chunk's tokens: global indices into the encoder input.
    public var range: Range<Int>
    /// Learned memory tokens appended after the chunk's tokens (0 for SAC, full, tokens).
    public var memoryTokens: Int
    /// The carriers: indices into the encoder sequence (chunk tokens, then memory tokens).
    public var carriers: [Int]
    /// For SAC, the anchor slot of each carrier (0, 1, …); empty otherwise.
    public var slots: [Int]
    /// RoPE position of every token of the encoder sequence (`range.count + memoryTokens`).
    public var positions: [Int32]

    /// Tokens the encoder reads for this chunk.
    public var sequenceLength: Int { range.count + memoryTokens }
}

extension CompressorSettings {
    /// Splits a context of `n` encoder-input tokens into chunks and chooses each chunk's
    /// carriers and positions (SPEC §2–3, §9).
    ///
    /// - Parameter anchorIndices: for SAC (and `tokens`), anchors chosen by an external
    ///   scorer: one ascending list of distinct local indices per chunk, at most
    ///   `maxAnchorsPerChunk` each. nil: use `anchors` (uniform or random).
    /// - Throws: `CompressionError` for an empty or too long context, or bad anchor indices.
    public func plan(tokens n: Int, anchorIndices: [[Int]]? = nil) throws -> [ChunkPlan] {
        guard n > 0 else { throw CompressionError.emptyInput(what: "context") }
        guard n <= maxContextTokens else { throw CompressionError.contextTooLong(tokens: n, limit: maxContextTokens) }
        if method == .full {
            return [ChunkPlan(range: 0..<n, memoryTokens: 0, carriers: Array(0..<n), slots: [],
                              positions: (0..<n).map { Int32($0 + 1) })]
        }
        let chunkCount = (n + chunkSize - 1) / chunkSize
        if let anchorIndices {
            guard method == .sac || method == .tokens else {
                throw CompressionError.invalidOption(option: "anchor indices", detail: "only SAC and tokens use anchors")
            }
            guard anchorIndices.count == chunkCount else {
                throw CompressionError.invalidOption(
                    option: "anchor indices", detail: "\(anchorIndices.count) lists for \(chunkCount) chunks")
            }
        }
        var plans: [ChunkPlan] = []
        for c in 0..<chunkCount {
            let s = c * chunkSize, e = min(n, s + chunkSize), L = e - s
            switch method {
            case .sac, .tokens:
                var anchors: [Int]
                if let anchorIndices {
                    anchors = anchorIndices[c]
                    guard !anchors.isEmpty, anchors.count <= maxAnchorsPerChunk,
                          zip(anchors, anchors.dropFirst()).allSatisfy({ $0 < $1 }),
                          anchors.first! >= 0, anchors.last! < L
                    else {
                        throw CompressionError.invalidOption(
                            option: "anchor indices",
                            detail: "chunk \(c): expected 1…\(maxAnchorsPerChunk) ascending distinct indices in 0..<\(L)")
                    }
                } else if self.anchors == .random {
                    anchors = Anchors.random(length: L, count: Anchors.count(length: L, ratio: ratio), seed: seed, chunk: c)
                } else {
                    anchors = Anchors.uniform(length: L, ratio: ratio)
                }
                plans.append(ChunkPlan(range: s..<e, memoryTokens: 0, carriers: anchors, slots: Array(0..<anchors.count),
                                       positions: (s..<e).map { Int32($0 + 1) }))
            case .epl:
                let m = memoryTokens(chunkLength: L), h = anchorOffset
                let mem = (0..<m).map { Int32(s + 1 + h + $0 * ratio) }
                plans.append(ChunkPlan(range: s..<e, memoryTokens: m, carriers: Array(L..<(L + m)), slots: [],
                                       positions: (s..<e).map { Int32($0 + 1) } + mem))
            case .x500, .icae:
                let m = memoryTokens(chunkLength: L)
                plans.append(ChunkPlan(range: s..<e, memoryTokens: m, carriers: Array(L..<(L + m)), slots: [],
                                       positions: (0..<(L + m)).map { Int32($0) }))
            case .full:
                fatalError("handled above")
            }
        }
        return plans
    }
}

import SACCompression
import Testing

@Suite struct ChunkPlanTests {
    @Test func anchorCountsOfThePaper() {
        #expect(Anchors.uniform(length: 510, ratio: 5).count == 102)
        #expect(Anchors.uniform(length: 510, ratio: 15).count == 34)
        #expect(Anchors.uniform(length: 510, ratio: 51).count == 10)
        #expect(Anchors.uniform(length: 510, ratio: 5).prefix(3) == [2, 7, 12])
        #expect(Anchors.uniform(length: 510, ratio: 15).first == 7)
        #expect(Anchors.uniform(length: 3, ratio: 15) == [0])   // h ≥ L
        #expect(Anchors.uniform(length: 9, ratio: 4) == [1, 5])
    }

    @Test func randomAnchorsAreSortedDistinctAndSeeded() {
        let a = Anchors.random(length: 100, count: 20, seed: 3, chunk: 0)
        #expect(a.count == 20 && Set(a).count == 20 && a == a.sorted() && a.allSatisfy { (0..<100).contains($0) })
        #expect(a == Anchors.random(length: 100, count: 20, seed: 3, chunk: 0))
        #expect(a != Anchors.random(length: 100, count: 20, seed: 3, chunk: 1))
    }

    @Test func sacPlanOfALongDocument() throws {
        let s = CompressorSettings(method: .sac, ratio: 5)
        let plans = try s.plan(tokens: 5000)
        #expect(plans.count == 10)
        #expect(plans.last!.range == 4590..<5000)
        #expect(plans.last!.carriers.count == Anchors.count(length: 410, ratio: 5))
        #expect(plans[3].positions.first == Int32(3 * 510 + 1))     // global, 1-based
        #expect(plans.reduce(0) { $0 + $1.carriers.count } == 9 * 102 + 82)
        #expect(plans[0].slots == Array(0..<102))
    }

    @Test func appendedMemoryPositions() throws {
        let epl = try CompressorSettings(method: .epl, ratio: 5, chunkSize: 20).plan(tokens: 30)
        #expect(epl.count == 2)
        #expect(epl[0].memoryTokens == 4 && epl[1].memoryTokens == 4)   // ⌊20/5⌋ also in the short chunk
        #expect(Array(epl[1].positions.suffix(4)) == [20 + 1 + 2, 28, 33, 38])
        #expect(epl[1].carriers == [10, 11, 12, 13])
        let x500 = try CompressorSettings(method: .x500, ratio: 5, chunkSize: 20).plan(tokens: 30)
        #expect(x500[1].positions == (0..<14).map { Int32($0) })
        let perChunk = try CompressorSettings(method: .icae, ratio: 5, chunkSize: 20, memoryPerChunkLength: true).plan(tokens: 30)
        #expect(perChunk[1].memoryTokens == 2)
        let full = try CompressorSettings(method: .full, ratio: 5).plan(tokens: 700)
        #expect(full.count == 1 && full[0].carriers.count == 700 && full[0].positions.last == 700)
    }

    @Test func badInputs() throws {
        let s = CompressorSettings(method: .sac, ratio: 5, maxContextTokens: 100)
        #expect(throws: CompressionError.emptyInput(what: "context")) { try s.plan(tokens: 0) }
        #expect(throws: CompressionError.contextTooLong(tokens: 101, limit: 100)) { try s.plan(tokens: 101) }
        #expect(throws: CompressionError.self) { try s.plan(tokens: 20, anchorIndices: [[3, 2]]) }
        #expect(throws: CompressionError.self) { try s.plan(tokens: 20, anchorIndices: [[0, 25]]) }
        #expect(throws: CompressionError.self) { try s.plan(tokens: 20, anchorIndices: [[0], [1]]) }
        #expect(try s.plan(tokens: 20, anchorIndices: [[0, 4, 19]])[0].carriers == [0, 4, 19])
        #expect(throws: CompressionError.self) {
            try CompressorSettings.from(method: .icae, ratio: 5, chunkSize: nil, anchors: .random, anchorEmbedding: nil,
                                        attention: nil, lora: nil, memoryPerChunkLength: nil, maxContextTokens: nil, seed: nil)
        }
        #expect(throws: CompressionError.self) {
            try CompressorSettings.from(method: .sac, ratio: 1, chunkSize: nil, anchors: nil, anchorEmbedding: nil,
                                        attention: nil, lora: nil, memoryPerChunkLength: nil, maxContextTokens: nil, seed: nil)
        }
        #expect(throws: CompressionError.self) {
            try CompressorSettings.from(method: .sac, ratio: nil, chunkSize: nil, anchors: nil, anchorEmbedding: nil,
                                        attention: nil, lora: nil, memoryPerChunkLength: nil, maxContextTokens: nil, seed: nil)
        }
    }
}

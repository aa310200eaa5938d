import Foundation
import SACModel
import Testing

@testable import SACCompression

/// `compress(betweenChunks:)` runs its callback after every chunk but the last (the server
/// decodes its streams there) and changes nothing in the memory.
@Suite struct BetweenChunksTests {
    @Test func calledBetweenChunksOnly() throws {
        let m = try Tiny.model()
        let c = try Compressor(model: m, settings: CompressorSettings(method: .sac, ratio: 5, lora: LoRAConfig(rank: 4, alpha: 8)))
        for (n, expected) in [(1200, 2), (510, 0), (511, 1), (40, 0)] {
            let ids = Tiny.ids(n, seed: UInt64(n))
            var calls = 0
            let with = try c.compress(ids, betweenChunks: { calls += 1 })
            #expect(calls == expected, "\(n) tokens")
            #expect(try with == c.compress(ids), "\(n) tokens")
        }
    }
}

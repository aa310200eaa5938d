import Foundation
import SACModel
import Testing

@testable import SACCompression

/// `tokens` at ratio 1 keeps every token: the frozen model reading the whole context, the
/// reference beside a compressor on long contexts (QMSum). Other methods keep ratio ≥ 2.
@Suite struct TokensRatioOneTests {
    @Test func ratioOneIsTheFrozenModelReadingEverything() throws {
        let m = try Tiny.model()
        let ids = Tiny.ids(700, seed: 5)  // more than one chunk
        let c = try Compressor(model: m, settings: CompressorSettings(method: .tokens, ratio: 1))
        let mem = try c.compress(ids)
        #expect(mem.carriers == 700 && mem.achievedRatio == 1 && mem.decoderStart == 700)
        #expect(mem.carrierPositions == (0..<700).map { Int32($0) })
        let cache = m.makeCache(capacity: 700)
        _ = try m.forward(ids, positions: (0..<700).map { Int32($0) }, cache: cache, logits: .none)
        for l in 0..<m.config.numLayers {
            let (k, v) = cache.layer(l)
            #expect(mem.keys[l] == k && mem.values[l] == v, "layer \(l)")
        }
    }

    @Test func ratioLimits() throws {
        #expect(throws: CompressionError.invalidOption(option: "ratio", detail: "1, expected an integer ≥ 2")) {
            try CompressorSettings(method: .sac, ratio: 1).validate()
        }
        #expect(throws: CompressionError.invalidOption(option: "ratio", detail: "0, expected an integer ≥ 1")) {
            try CompressorSettings(method: .tokens, ratio: 0).validate()
        }
        try CompressorSettings(method: .tokens, ratio: 1).validate()
    }
}

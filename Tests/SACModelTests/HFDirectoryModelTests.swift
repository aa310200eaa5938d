import Foundation
import Testing
@testable import SACModel

/// A tiny random Llama saved by transformers (untied head, GQA 4/2 heads, 2 layers) runs from
/// its Hugging Face directory with the logits transformers computed.
@Suite struct HFDirectoryModelTests {
    @Test func tinyLlamaLogitsMatchTransformers() throws {
        let dir = Fixtures.url("tiny-llama/f32").path
        let model = try LlamaModel(weights: try HFDirectoryWeightSource(directory: dir), file: dir)
        #expect(!model.config.tieWordEmbeddings)
        let meta = try Fixtures.json("tiny-llama/logits.json")
        let ids = (meta["ids"] as! [Int]).map(Int32.init)
        let ref = try Fixtures.float32("tiny-llama/logits_f32le.bin")
        let out = try model.forward(ids, cache: model.makeCache(), logits: .all)
        #expect(out.count == ref.count)
        let diff = maxAbsDiff(out[...], ref[...])
        #expect(diff <= 1e-5, "max |logit diff| \(diff)")
        // Decoding token by token through the cache gives the same last-position logits.
        let cache = model.makeCache(capacity: 0)
        var last: [Float] = []
        for id in ids { last = try model.forward([id], cache: cache, logits: .last) }
        let n = ref.count / ids.count
        #expect(maxAbsDiff(last[...], ref[(ref.count - n)...]) <= 1e-5)
    }
}

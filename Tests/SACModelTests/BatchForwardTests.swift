import Foundation
import SACTensor
import Testing

@testable import SACModel

/// `forward(batch:)`: several sequences, each with its own cache, in one pass over the
/// weights; a one-token item gets exactly what it gets alone, so batching never changes an
/// answer.
@Suite struct BatchForwardTests {
    /// Caches at different lengths (0, 5 and 11 rows), each from its own prompt.
    static func caches(_ model: LlamaModel, prompts: [[Int32]]) throws -> [KVCache] {
        try prompts.map { p in
            let c = model.makeCache()
            if !p.isEmpty { _ = try model.forward(p, cache: c, logits: .none) }
            return c
        }
    }

    static func check(_ model: LlamaModel, prompts: [[Int32]], steps: [[Int32]]) throws {
        let alone = try Self.caches(model, prompts: prompts), batched = try Self.caches(model, prompts: prompts)
        for step in steps {
            let expected = try zip(step, alone).map { id, c in try model.forward([id], cache: c, logits: .last) }
            let got = try model.forward(batch: zip(step, batched).map { ([$0], $1) })
            #expect(got == expected)
        }
        for (a, b) in zip(alone, batched) {
            #expect(a.count == b.count && a.nextPosition == b.nextPosition)
            for l in 0..<model.config.numLayers { #expect(a.layer(l) == b.layer(l)) }
        }
    }

    @Test func oneTokenItemsMatchAloneOnATinyModel() throws {
        let model = try LlamaPassTests.tinyModel(tied: true)
        try Self.check(model, prompts: [[], [1, 5, 9, 33, 2], [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]],
                       steps: [[7, 8, 9], [20, 21, 22], [30, 31, 32]])
    }

    /// The real Q4_1 model: the fused block products give every row what it gets alone.
    @Test func oneTokenItemsMatchAloneOnTheRealModel() throws {
        guard let m = try RealModel.get() else { return }
        let tok = m.tokenizer
        let prompts = ["The capital of France is", "Water boils at", "In 1945 the war", "Swift is a programming language that"]
            .map { tok.encode($0, addSpecialTokens: false) }
        let steps: [[Int32]] = (0..<3).map { s in (0..<prompts.count).map { Int32(100 + 37 * $0 + 11 * s) } }
        try Self.check(m.model, prompts: prompts, steps: steps)
        // Items of several tokens and a batch of one also run (values checked loosely: a
        // several-token prompt alone goes through the GEMM, in another order of sums).
        let c1 = m.model.makeCache(), c2 = m.model.makeCache()
        let alone = try m.model.forward(prompts[0], cache: c1, logits: .last)
        let got = try m.model.forward(batch: [(prompts[0], c2)])
        #expect(maxAbsDiff(got[0][...], alone[...]) < 1e-3 && got[0].indices.max { got[0][$0] < got[0][$1] } == alone.indices.max { alone[$0] < alone[$1] })
    }

    /// The one decode loop steps several sequences together; each gets exactly the tokens,
    /// steps and ending it gets alone, and they end at different steps.
    @Test func decodeStepBatchesTheOneLoop() throws {
        let model = try LlamaPassTests.tinyModel(tied: true)
        let prompts: [[Int32]] = [[1, 5, 9], [2, 3, 4, 5, 6, 7], [8]]
        func start(_ i: Int, stops: Set<Int32>) throws -> DecodeState {
            let c = model.makeCache()
            let logits = try model.forward(prompts[i], cache: c, logits: .last)
            return DecodeState(logits: logits, cache: c, maxTokens: 4 + 3 * i, sampler: .greedy, stopTokens: stops)
        }
        // A stop token for the second sequence: its third greedy token.
        var probe = try start(1, stops: [])
        while probe.finish == nil { var one = [probe]; try model.decodeStep(&one); probe = one[0] }
        let stops: [Set<Int32>] = [[], [probe.tokens[2]], []]
        var alone: [Decoded] = []
        for i in 0..<3 {
            let s = try start(i, stops: stops[i])
            alone.append(try model.decode(from: s.logits, cache: s.cache, maxTokens: s.maxTokens, sampler: .greedy, stopTokens: stops[i]))
        }
        var states = try (0..<3).map { try start($0, stops: stops[$0]) }
        var seen: [[Int32]] = Array(repeating: [], count: 3)
        while states.contains(where: { $0.finish == nil }) {
            try model.decodeStep(&states) { i, t in seen[i].append(t); return true }
        }
        for i in 0..<3 {
            #expect(states[i].tokens == alone[i].tokens && seen[i] == alone[i].tokens, "\(i)")
            #expect(states[i].finish == alone[i].finish && states[i].steps == alone[i].steps, "\(i)")
        }
        #expect(states[1].finish == .stop && states[1].tokens.count < 3 && states[0].finish == .length)
        // A cancelled sequence leaves; the others go on.
        var two = try (0..<2).map { try start($0, stops: []) }
        while two.contains(where: { $0.finish == nil }) { try model.decodeStep(&two) { i, _ in i != 0 } }
        #expect(two[0].finish == .cancelled && two[0].tokens.count == 1)
        #expect(two[1].finish == .length && two[1].tokens.count == 7)
    }

    /// Prompts read in the loop (`DecodeState(prompt:)`): in chunks of `promptChunk` rows
    /// beside a sequence that is decoding; each sequence gets exactly the logits and tokens it
    /// gets stepped alone, and the prompt's logits are those of a plain prefill up to the order
    /// of sums.
    static func checkPromptsInTheLoop(_ model: LlamaModel, prompts: [[Int32]], decoding: [Int32], tolerance: Float) throws {
        let d = model.config.hiddenSize
        func reading(_ p: [Int32]) throws -> DecodeState {
            try DecodeState(prompt: model.embed(p), hidden: d, cache: model.makeCache(), maxTokens: 5, sampler: .greedy, stopTokens: [])
        }
        var alone: [DecodeState] = []
        for p in prompts {
            var one = [try reading(p)]
            var steps = 0
            while one[0].finish == nil { try model.decodeStep(&one); steps += 1 }
            #expect(steps == (p.count + DecodeState.promptChunk - 1) / DecodeState.promptChunk + 5)
            alone.append(one[0])
        }
        let c = model.makeCache()
        let first = try model.forward(decoding, cache: c, logits: .last)
        var states = [DecodeState(logits: first, cache: c, maxTokens: 12, sampler: .greedy, stopTokens: [])]
        states += try prompts.map(reading)
        var firstLogits: [Int: [Float]] = [:]
        while states.contains(where: { $0.finish == nil }) {
            try model.decodeStep(&states)
            for i in 1..<states.count where firstLogits[i] == nil && !states[i].isReadingPrompt { firstLogits[i] = states[i].logits }
        }
        for (i, p) in prompts.enumerated() {
            let s = states[i + 1]
            #expect(s.tokens == alone[i].tokens && s.tokens.count == 5, "\(i)")
            #expect(s.cache.count == alone[i].cache.count && s.cache.count == p.count + 4)
            for l in 0..<model.config.numLayers { #expect(s.cache.layer(l) == alone[i].cache.layer(l)) }
            let plain = try model.forward(p, cache: model.makeCache(), logits: .last)
            let got = firstLogits[i + 1]!
            let scale = plain.map(abs).max()!
            #expect(maxAbsDiff(got[...], plain[...]) <= tolerance * scale, "\(i)")
            #expect(got.indices.max { got[$0] < got[$1] } == plain.indices.max { plain[$0] < plain[$1] })
            #expect(s.decoded.prefillSeconds != nil)
        }
        #expect(states[0].tokens.count == 12 && states[0].decoded.prefillSeconds == nil)
    }

    @Test func promptsAreReadInTheLoopOnATinyModel() throws {
        let model = try LlamaPassTests.tinyModel(tied: true)
        // 3 rows, 70 rows (chunks 32 + 32 + 6), 40 rows (32 + 8); the tiny vocabulary has 37 ids.
        let prompts: [[Int32]] = [[1, 5, 9], (0..<70).map { Int32(($0 * 7 + 3) % 37) }, (0..<40).map { Int32(($0 * 13 + 1) % 37) }]
        try Self.checkPromptsInTheLoop(model, prompts: prompts, decoding: [2, 4, 6], tolerance: 1e-5)
    }

    /// Each step reads at most `promptRows` rows of prompts (at least one chunk), in order.
    @Test func promptRowsPerStepAreBounded() throws {
        let model = try LlamaPassTests.tinyModel(tied: true)
        let d = model.config.hiddenSize
        var states = try (0..<3).map { i in
            try DecodeState(prompt: model.embed((0..<40).map { Int32(($0 + i) % 37) }), hidden: d, cache: model.makeCache(),
                            maxTokens: 2, sampler: .greedy, stopTokens: [])
        }
        try model.decodeStep(&states, promptRows: 64)
        #expect(states.map(\.cache.count) == [32, 32, 0])
        try model.decodeStep(&states, promptRows: 64)
        #expect(states.map(\.cache.count) == [40, 40, 32] && states.map(\.isReadingPrompt) == [false, false, true])
        try model.decodeStep(&states, promptRows: 64)  // two tokens read, the last 8 prompt rows
        #expect(states.map(\.cache.count) == [41, 41, 40] && states.map(\.tokens.count) == [1, 1, 0])
        // A budget below one chunk still reads one chunk a step.
        var one = try [DecodeState(prompt: model.embed([1, 2, 3]), hidden: d, cache: model.makeCache(), maxTokens: 1,
                                   sampler: .greedy, stopTokens: [])]
        try model.decodeStep(&one, promptRows: 0)
        #expect(!one[0].isReadingPrompt && one[0].cache.count == 3)
        // Bad prompts are refused.
        #expect(throws: TensorError.self) {
            _ = try DecodeState(prompt: [], hidden: d, cache: model.makeCache(), maxTokens: 1, sampler: .greedy, stopTokens: [])
        }
        #expect(throws: TensorError.self) {
            _ = try DecodeState(prompt: [1, 2, 3], hidden: d, cache: model.makeCache(), maxTokens: 1, sampler: .greedy, stopTokens: [])
        }
        #expect(throws: TensorError.self) {
            _ = try DecodeState(prompt: model.embed([1, 2]), positions: [0], hidden: d, cache: model.makeCache(), maxTokens: 1,
                                sampler: .greedy, stopTokens: [])
        }
    }

    /// The real Q4_1 model: a 45-token prompt read in the loop beside a decoding sequence.
    @Test func promptsAreReadInTheLoopOnTheRealModel() throws {
        guard let m = try RealModel.get() else { return }
        let tok = m.tokenizer
        let long = tok.encode(String(repeating: "The river rises in the mountains and flows to the sea. ", count: 4), addSpecialTokens: false)
        let prompts = [tok.encode("Water boils at", addSpecialTokens: false), long]
        #expect(long.count > DecodeState.promptChunk)
        try Self.checkPromptsInTheLoop(m.model, prompts: prompts, decoding: tok.encode("In 1945 the war", addSpecialTokens: false),
                                       tolerance: 1e-4)
    }

    @Test func badBatchesAreRefused() throws {
        let model = try LlamaPassTests.tinyModel()
        let c = model.makeCache()
        #expect(throws: TensorError.self) { _ = try model.forward(batch: [LlamaModel.BatchItem]()) }
        #expect(throws: TensorError.self) { _ = try model.forward(batch: [([], c)]) }
        #expect(throws: TensorError.self) { _ = try model.forward(batch: [([99], c)]) }
        #expect(throws: TensorError.self) { _ = try model.forward(batch: [([1], c), ([2], c)]) }
        #expect(throws: TensorError.self) { _ = try model.forward(batch: [([1], KVCache(layers: 3, kvDim: 16))]) }
        let d = model.config.hiddenSize
        #expect(throws: TensorError.self) { _ = try model.forward(batch: [LlamaModel.BatchItem(embeddings: [1, 2, 3], cache: c)]) }
        #expect(throws: TensorError.self) {
            _ = try model.forward(batch: [LlamaModel.BatchItem(embeddings: model.embed([1, 2]), positions: [0, 1, 2], cache: c)])
        }
        #expect(c.count == 0)
        // Items that ask for no logits get none; positions given are used.
        let out = try model.forward(batch: [LlamaModel.BatchItem(embeddings: model.embed([1, 2]), positions: [7, 9], cache: c, logits: false)])
        #expect(out == [[]] && c.count == 2 && c.nextPosition == 10 && d > 0)
    }
}

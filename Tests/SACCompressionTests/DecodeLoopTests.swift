import SACCompression
import SACModel
import SACTensor
import Testing

/// Every generating path goes through `LlamaModel.decode` and stops on the same set of ids.
@Suite struct DecodeLoopTests {
    /// A tiny tokenizer over the tiny model's 41 ids ("t0" … "t40"), EOS 2.
    static func tokenizer(eos: Int = 2) throws -> Tokenizer {
        try Tokenizer(tokens: (0..<41).map { "t\($0)" }, merges: [], tokenTypes: nil, preTokenizer: .gpt2,
                      bosTokenId: 1, eosTokenId: eos, unkTokenId: nil, padTokenId: nil,
                      addBOS: false, addEOS: false, chatTemplate: nil)
    }

    /// The prefix of `s` before the first occurrence of any of `stops`.
    static func cut(_ s: [Int32], at stops: Set<Int32>) -> [Int32] {
        Array(s.prefix { !stops.contains($0) })
    }

    @Test func everyPathStopsOnTheSameTokens() throws {
        let model = try Tiny.model()
        let decoder = MemoryDecoder(model: model)
        let prompt = Tiny.ids(12, seed: 3)
        // The free-running greedy continuation, no stop tokens.
        let free = try decoder.generate(memory: nil, tokens: prompt, maxTokens: 10, stopTokens: [])
        #expect(free.ids.count == 10 && free.finish == .length)
        let stops: Set<Int32> = [free.ids[4]]
        let expected = Self.cut(free.ids, at: stops)
        #expect(expected.count <= 4)

        // Plain prompt: LlamaModel.generate, the decoder without a memory, answerFromContext.
        let (g, stats) = try model.generate(
            prompt: prompt, cache: model.makeCache(), maxTokens: 10, sampler: .greedy, stopTokens: stops)
        #expect(g == expected && stats.finish == .stop)
        let d = try decoder.generate(memory: nil, tokens: prompt, maxTokens: 10, stopTokens: stops)
        #expect(d.ids == expected && d.finish == .stop)
        let c = try decoder.answerFromContext(
            context: Array(prompt[..<7]), question: Array(prompt[7...]), maxTokens: 10, stopTokens: stops)
        #expect(c.ids == expected && c.finish == .stop)

        // From a memory: answer (sac answer, demo, eval, the server's answers) and generate
        // with a memory (the server's chat over a context) agree, with the same stop set.
        let comp = try Compressor(model: model, settings: CompressorSettings(
            method: .sac, ratio: 3, chunkSize: 10, lora: LoRAConfig(rank: 2, alpha: 4)))
        try Tiny.perturbLoRA(comp)
        let mem = try comp.compress(Tiny.ids(25, seed: 5))
        let q: [Int32] = [7, 8, 9]
        let freeMem = try decoder.answer(memory: mem, question: q, maxTokens: 10, stopTokens: [])
        let memStops: Set<Int32> = [freeMem.ids[3]]
        let memExpected = Self.cut(freeMem.ids, at: memStops)
        var streamed: [Int32] = []
        let a = try decoder.answer(memory: mem, question: q, maxTokens: 10, stopTokens: memStops) { streamed.append($0) }
        #expect(a.ids == memExpected && a.finish == .stop && streamed == memExpected)
        let gm = try decoder.generate(memory: mem, tokens: q, maxTokens: 10, stopTokens: memStops)
        #expect(gm.ids == memExpected && gm.finish == .stop)
        // A stop token is never generated, even as the very first pick.
        let first = try decoder.answer(memory: mem, question: q, maxTokens: 10, stopTokens: [freeMem.ids[0]])
        #expect(first.ids.isEmpty && first.finish == .stop)

        // startReading (the server's path): a short prompt is read in the loop, a long one at
        // once; both give the greedy answer of `start` (the tiny model has no near ties).
        func run(_ s: MemoryDecoder.Started) throws -> [Int32] {
            var states = [s.state]
            while states[0].finish == nil { try model.decodeStep(&states) }
            return s.result(states[0].decoded).ids
        }
        let short = try decoder.startReading(memory: mem, tokens: q, maxTokens: 10, stopTokens: memStops)
        #expect(short.state.isReadingPrompt && short.promptTokens == q.count + 1)
        #expect(try run(short) == memExpected)
        let longPrompt = Tiny.ids(MemoryDecoder.loopPromptLimit + 5, seed: 7)
        let long = try decoder.startReading(memory: nil, tokens: longPrompt, maxTokens: 6, stopTokens: [])
        #expect(!long.state.isReadingPrompt)
        let eager = try decoder.generate(memory: nil, tokens: longPrompt, maxTokens: 6, stopTokens: [])
        #expect(try run(long) == eager.ids)
        #expect(throws: CompressionError.self) {
            _ = try decoder.startReading(memory: nil, tokens: [], maxTokens: 4, stopTokens: [])
        }
    }

    /// A question read after its memory's prefix (`readPrefix`, what the server keeps per
    /// memory) fills the cache with exactly the rows it gets reading the whole prompt itself,
    /// and decodes the same tokens; a prefix from another memory is refused.
    @Test func questionPrefixGivesTheSameRows() throws {
        let model = try Tiny.model()
        let decoder = MemoryDecoder(model: model)
        let head: [Int32] = [4, 5, 6], rest: [Int32] = [7, 8, 9, 10]
        func read(_ s: MemoryDecoder.Started) throws -> (rows: KVCache, tokens: [Int32]) {
            var states = [s.state]
            while states[0].isReadingPrompt { try model.decodeStep(&states) }
            let rows = states[0].cache.copy()
            while states[0].finish == nil { try model.decodeStep(&states) }
            return (rows, states[0].decoded.tokens)
        }
        for method in [CompressionMethod.sac, .icae] {
            let comp = try Compressor(model: model, settings: CompressorSettings(
                method: method, ratio: 3, chunkSize: 10, lora: LoRAConfig(rank: 2, alpha: 4)))
            try Tiny.perturbLoRA(comp)
            let mem = try comp.compress(Tiny.ids(25, seed: 5))
            let prefix = try decoder.readPrefix(memory: mem, tokens: head)
            #expect(prefix.tokens == head && prefix.byteCount > 0)
            let whole = try decoder.startReading(memory: mem, tokens: head + rest, maxTokens: 6, stopTokens: [])
            let split = try decoder.startReading(memory: mem, prefix: prefix, tokens: rest, maxTokens: 6, stopTokens: [])
            #expect(split.promptTokens == whole.promptTokens && split.state.isReadingPrompt)
            let a = try read(whole), b = try read(split)
            #expect(a.rows.count == b.rows.count && a.rows.nextPosition == b.rows.nextPosition)
            for l in 0..<a.rows.layers {
                let x = a.rows.layer(l), y = b.rows.layer(l)
                #expect(x.keys.map(\.bitPattern) == y.keys.map(\.bitPattern), "\(method) layer \(l): keys")
                #expect(x.values.map(\.bitPattern) == y.values.map(\.bitPattern), "\(method) layer \(l): values")
            }
            #expect(a.tokens == b.tokens && a.tokens.count == 6, "\(method)")
            // No prefix: the plain path.
            let plain = try decoder.startReading(memory: mem, prefix: nil, tokens: head + rest, maxTokens: 6, stopTokens: [])
            let c = try read(plain)
            #expect(plain.promptTokens == whole.promptTokens && c.tokens == a.tokens, "\(method)")

            let other = try comp.compress(Tiny.ids(40, seed: 6))
            #expect(throws: CompressionError.self) {
                _ = try decoder.startReading(memory: other, prefix: prefix, tokens: rest, maxTokens: 6, stopTokens: [])
            }
            #expect(throws: CompressionError.self) {
                _ = try decoder.startReading(memory: mem, prefix: prefix, tokens: [], maxTokens: 6, stopTokens: [])
            }
            #expect(throws: CompressionError.self) {
                _ = try decoder.startReading(memory: mem, prefix: prefix, tokens: [99], maxTokens: 6, stopTokens: [])
            }
        }
    }

    @Test func lengthAndCancelEndTheLoop() throws {
        let model = try Tiny.model()
        let decoder = MemoryDecoder(model: model)
        let prompt = Tiny.ids(9, seed: 4)
        let free = try decoder.generate(memory: nil, tokens: prompt, maxTokens: 6, stopTokens: [])
        #expect(free.ids.count == 6 && free.finish == .length)
        let none = try decoder.generate(memory: nil, tokens: prompt, maxTokens: 0, stopTokens: [])
        #expect(none.ids.isEmpty && none.finish == .length)
        var seen = 0
        let cancelled = try decoder.generate(memory: nil, tokens: prompt, maxTokens: 6, stopTokens: []) { _ in
            seen += 1
            return seen < 2
        }
        #expect(cancelled.ids == Array(free.ids[..<2]) && cancelled.finish == .cancelled)
        // Sampled decoding through the same loop is reproducible from its seed.
        let s1 = try decoder.generate(memory: nil, tokens: prompt, maxTokens: 6, stopTokens: [],
                                      sampler: try Sampler(temperature: 1.5, seed: 9))
        let s2 = try decoder.generate(memory: nil, tokens: prompt, maxTokens: 6, stopTokens: [],
                                      sampler: try Sampler(temperature: 1.5, seed: 9))
        #expect(s1.ids == s2.ids && s1.ids.count == 6)
    }

    /// The stop set is defined once, next to the prompt format: the template's EOS, the
    /// tokenizer's and the model config's, even when they differ.
    @Test func stopSetJoinsEveryEndOfSequence() throws {
        let base = try Tiny.model().config
        var config = base
        config.eosTokenId = 5
        let tok = try Self.tokenizer(eos: 2)
        #expect(tok.stopTokens(config: config) == [2, 5])
        let prompt = try QAPrompt(tokenizer: tok, config: config)
        #expect(prompt.eos == 2 && prompt.stopTokens == [2, 5])
        config.eosTokenId = nil
        #expect(try QAPrompt(tokenizer: tok, config: config).stopTokens == [2])
    }

    /// A cache, a memory and a training prefix are one `KVRows`: each reads another's rows.
    @Test func cacheMemoryAndPrefixShareOneAbstraction() throws {
        let model = try Tiny.model()
        let comp = try Compressor(model: model, settings: CompressorSettings(
            method: .sac, ratio: 3, chunkSize: 10, lora: LoRAConfig(rank: 2, alpha: 4)))
        try Tiny.perturbLoRA(comp)
        let mem = try comp.compress(Tiny.ids(25, seed: 5))
        #expect(mem.count == mem.carriers && mem.layers == 2 && mem.fits(model.config))
        let a = model.makeCache()
        try a.append(mem)
        let b = model.makeCache()
        try b.append(a)
        for l in 0..<2 {
            #expect(a.layer(l).keys == mem.keys[l] && a.layer(l).values == mem.values[l])
            #expect(b.layer(l).keys == mem.keys[l] && b.layer(l).values == mem.values[l])
        }
        #expect(throws: TensorError.self) { try b.append(b) }
        #expect(throws: TensorError.self) {
            try b.append(PrefixKV(keys: [[1, 2], [3, 4]], values: [[1, 2], [3, 4]], count: 1))
        }
        // A training pass reads the memory as its prefix exactly as it reads a copy of its arrays.
        let x = model.embed([7, 8, 9])
        let positions: [Int32] = [30, 31, 32]
        let p1 = LlamaPass(model: model), p2 = LlamaPass(model: model)
        try p1.forward(embeddings: x, positions: positions, mask: .causal(prefix: mem.carriers), prefix: mem)
        try p2.forward(embeddings: x, positions: positions, mask: .causal(prefix: mem.carriers),
                       prefix: PrefixKV(keys: mem.keys, values: mem.values, count: mem.carriers))
        #expect(try p1.logits(rows: [0, 1, 2]) == p2.logits(rows: [0, 1, 2]))
    }
}

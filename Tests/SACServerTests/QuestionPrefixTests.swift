import Testing
@testable import SACCompression
@testable import SACModel
@testable import SACServer

/// The question prefix the server keeps per memory (`MemoryDecoder.readPrefix`), on the real
/// model: its block products are the panels and its prompts are read in the decode loop.
@Suite struct QuestionPrefixTests {
    /// A question read after the prefix fills the cache with exactly the keys and values it
    /// gets reading `[LM]` and the whole question itself, and answers with the same tokens.
    @Test func prefixGivesTheSameRowsAndAnswers() throws {
        guard let loaded = try RealModel.get(), let adapters = try TestAdapters.get() else { return }
        let model = loaded.model
        let prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: model.config)
        let memory = try Compressor.load(adapter: adapters[5]!, model: model).compress(prompt.context(Documents.lighthouse))
        let decoder = MemoryDecoder(model: model)
        let prefix = try decoder.readPrefix(memory: memory, tokens: prompt.questionPrefix)
        #expect(prefix.tokens == prompt.questionPrefix && !prefix.tokens.isEmpty)
        func read(_ s: MemoryDecoder.Started) throws -> (rows: KVCache, tokens: [Int32]) {
            var states = [s.state]
            while states[0].isReadingPrompt { try model.decodeStep(&states) }
            let rows = states[0].cache.copy()
            while states[0].finish == nil { try model.decodeStep(&states) }
            return (rows, states[0].decoded.tokens)
        }
        for question in ["When was the light first lit?",
                         "Who kept the lighthouse, and what did they write down every night in the log book?"] {
            let q = prompt.question(question)
            let whole = try decoder.startReading(memory: memory, tokens: q, maxTokens: 12, stopTokens: prompt.stopTokens)
            let split = try decoder.startReading(memory: memory, prefix: prefix, tokens: Array(q.dropFirst(prefix.tokens.count)),
                                                 maxTokens: 12, stopTokens: prompt.stopTokens)
            #expect(split.promptTokens == whole.promptTokens)
            let a = try read(whole), b = try read(split)
            #expect(a.rows.count == b.rows.count && a.rows.nextPosition == b.rows.nextPosition)
            for l in 0..<a.rows.layers {
                let x = a.rows.layer(l), y = b.rows.layer(l)
                #expect(x.keys.map(\.bitPattern) == y.keys.map(\.bitPattern), "layer \(l): keys")
                #expect(x.values.map(\.bitPattern) == y.values.map(\.bitPattern), "layer \(l): values")
            }
            #expect(a.tokens == b.tokens && !a.tokens.isEmpty, "\(question)")
        }
    }
}

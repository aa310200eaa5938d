import Foundation
import SACModel
import SACTensor

/// What answering from a memory produced.
public struct AnswerResult: Sendable {
    /// Generated token ids (without the stop token).
    public var ids: [Int32]
    /// Seconds to read `[LM]` + the question against the memory (time to first token).
    public var prefillSeconds: Double
    /// Seconds spent generating after the first token.
    public var decodeSeconds: Double
    /// Tokens read in the prefill.
    public var promptTokens: Int
    /// Why generation ended.
    public var finish: FinishReason
}

/// The keys and values of the rows every question from one memory starts with (`[LM]` and
/// the template's `"\n### Question:\n"`), read once by `MemoryDecoder.readPrefix` and put
/// after the memory's own rows by `startReading(memory:prefix:tokens:…)`: what the server
/// keeps beside each memory it serves, so that a question reads its own rows only. Valid
/// with the memory it was read from only (checked by method, carriers and decoder start).
public struct MemoryPrefix: Sendable {
    /// The tokens read after `[LM]`.
    public let tokens: [Int32]
    /// Keys and values of the rows read after the memory's own (ICAE: of its embeddings too).
    let rows: PrefixKV
    /// The position the first row after the prefix gets.
    let nextPosition: Int32
    let method: CompressionMethod
    let carriers: Int
    let decoderStart: Int32
    /// Bytes of keys and values held.
    public var byteCount: Int { Self.byteCount(rows: rows.count, layers: rows.layers, kvDim: rows.kvDim) }

    /// Bytes of the Float32 keys and values of `rows` rows (what a prefix of that many rows holds).
    public static func byteCount(rows: Int, layers: Int, kvDim: Int) -> Int { 2 * 4 * rows * layers * kvDim }
}

/// The frozen decoder: the base model, adapters off, reading a compressed memory as a prefix
/// (KV methods) or as leading input embeddings (ICAE), then `[LM]` and the question, and
/// generating greedily.
public struct MemoryDecoder: Sendable {
    public let model: LlamaModel
    /// `Identity.model(model)`, checked against each memory.
    public let modelIdentity: String

    public init(model: LlamaModel) {
        self.model = model
        modelIdentity = Identity.model(model)
    }

    /// Greedy (or `sampler`'s) answer to `question` (token ids, e.g. `QAPrompt.question`)
    /// from `memory`.
    ///
    /// - Parameters:
    ///   - maxTokens: generation limit.
    ///   - stopTokens: ids that end the answer (`QAPrompt.stopTokens`).
    ///   - file: the memory's name in error messages.
    ///   - onToken: called with each generated id as it comes.
    /// - Throws: `CompressionError.identityMismatch` when the memory is from another model,
    ///   `emptyInput` for an empty question.
    public func answer(
        memory: CompressedMemory, question: [Int32], maxTokens: Int, stopTokens: Set<Int32>, sampler: Sampler = .greedy,
        file: String = "memory", onToken: ((Int32) -> Void)? = nil
    ) throws -> AnswerResult {
        guard !question.isEmpty else { throw CompressionError.emptyInput(what: "question") }
        return try generate(memory: memory, tokens: question, maxTokens: maxTokens, stopTokens: stopTokens, sampler: sampler,
                            file: file, tokensName: "question") { onToken?($0); return true }
    }

    /// Reads `memory` (if any; its model and shape are checked) and then `tokens`, and
    /// generates with the one decode loop (`LlamaModel.decode`): the path of answers, of the
    /// server's chat over a memory, and (without a memory) of the full-context reference.
    ///
    /// - Parameters:
    ///   - tokensName: what `tokens` are in error messages ("question", "messages", …).
    ///   - onToken: each generated id as it comes; returning false stops the run.
    /// - Throws: `CompressionError.identityMismatch` for a memory of another model or shape,
    ///   `invalidOption` (naming `tokensName`) for a token id outside the vocabulary.
    public func generate(
        memory: CompressedMemory?, tokens: [Int32], maxTokens: Int, stopTokens: Set<Int32>, sampler: Sampler = .greedy,
        file: String = "memory", tokensName: String = "tokens", onToken: (Int32) -> Bool = { _ in true }
    ) throws -> AnswerResult {
        let s = try start(memory: memory, tokens: tokens, maxTokens: maxTokens, stopTokens: stopTokens, sampler: sampler,
                          file: file, tokensName: tokensName)
        var states = [s.state]
        while states[0].finish == nil { try model.decodeStep(&states) { _, t in onToken(t) } }
        return s.result(states[0].decoded)
    }

    /// A generation read up to its first token, ready for the decode loop (alone, or stepping
    /// with others in `LlamaModel.decodeStep`, as the server batches requests).
    public struct Started: Sendable {
        public var state: DecodeState
        /// Positions read in the prefill.
        public var promptTokens: Int
        /// Seconds of the prefill (time to first token).
        public var prefillSeconds: Double

        /// The answer once the loop has run `decoded`.
        public func result(_ decoded: Decoded) -> AnswerResult {
            // A state that read its prompt in the loop (`startReading`) timed the prefill there.
            let inLoop = decoded.prefillSeconds ?? 0
            return AnswerResult(ids: decoded.tokens, prefillSeconds: prefillSeconds + inLoop,
                                decodeSeconds: max(0, decoded.seconds - inLoop), promptTokens: promptTokens, finish: decoded.finish)
        }
    }

    /// Longest prompt (rows after a KV memory) that `startReading` leaves to the decode loop.
    /// Longer ones are read at once through the GEMM: the loop's row-by-row block products
    /// cost about twice the GEMM's time per row (measured: 860 prompt rows took 2.9 s in the
    /// loop against 1.2 s at once), which only short prompts win back by skipping the
    /// dequantisation of every matrix.
    public static let loopPromptLimit = 64

    /// `start` without the prefill for a short prompt: checks `memory` and `tokens`, puts the
    /// memory's keys and values in a new cache, and returns a state that reads the rest of the
    /// prompt (`[LM]` and `tokens`, or ICAE's embeddings and `tokens`) in the decode loop, chunk
    /// by chunk beside other sequences (`DecodeState(prompt:…)`): how the server batches new
    /// requests with those decoding. A prompt of more than `loopPromptLimit` rows is read here
    /// at once, as `start` does. Which way a prompt goes depends on its length only, so its
    /// answer is the same whatever else is in the loop; a short prompt's can differ from
    /// `start`'s in the last bits of the logits (row-by-row products instead of one GEMM).
    public func startReading(
        memory: CompressedMemory?, tokens: [Int32], maxTokens: Int, stopTokens: Set<Int32>, sampler: Sampler = .greedy,
        file: String = "memory", tokensName: String = "tokens"
    ) throws -> Started {
        try begin(memory: memory, tokens: tokens, maxTokens: maxTokens, stopTokens: stopTokens, sampler: sampler, file: file,
                  tokensName: tokensName) { $0 <= MemoryDecoder.loopPromptLimit }
    }

    /// Reads the rows that every question from `memory` starts with, once: the memory's
    /// `[LM]` (after ICAE's memory embeddings) and `tokens` (`QAPrompt.questionPrefix`), in
    /// the decode loop's chunks as `startReading` would. `startReading(memory:prefix:tokens:…)`
    /// then reads only a question's own rows after them. For KV methods the keys and values
    /// are bit for bit those a question reading these rows itself computes (each row's
    /// products and attention depend on that row and the rows before it only), so answers do
    /// not change; a memory read at once (ICAE's, longer than `loopPromptLimit` rows) can
    /// differ in the last bits, as `start` and `startReading` do.
    /// - Throws: as `startReading`, for a memory of another model or shape or a bad token id.
    public func readPrefix(memory: CompressedMemory, tokens: [Int32], file: String = "memory") throws -> MemoryPrefix {
        let s = try startReading(memory: memory, tokens: tokens, maxTokens: 1, stopTokens: [], file: file, tokensName: "prefix")
        var states = [s.state]
        while states[0].isReadingPrompt { try model.decodeStep(&states) }
        let cache = states[0].cache, skip = memory.count
        var keys: [[Float]] = [], values: [[Float]] = []
        for l in 0..<cache.layers {
            cache.withRows(layer: l) { k, v in
                keys.append(Array(k[(skip * cache.kvDim)...]))
                values.append(Array(v[(skip * cache.kvDim)...]))
            }
        }
        return MemoryPrefix(tokens: tokens, rows: PrefixKV(keys: keys, values: values, count: cache.count - skip),
                            nextPosition: cache.nextPosition, method: memory.method, carriers: memory.carriers,
                            decoderStart: memory.decoderStart)
    }

    /// `startReading` for `memory` and a prompt that starts with `prefix.tokens`, whose rows
    /// `prefix` (from `readPrefix` on this memory) already holds: puts the memory's keys and
    /// values and the prefix's in a new cache, and leaves `tokens`, the rest of the prompt, to
    /// the decode loop. Gives what `startReading(memory:tokens: prefix.tokens + tokens)` gives,
    /// for a fraction of the rows. A nil `prefix` is that plain `startReading` of `tokens`.
    /// - Throws: `CompressionError.invalidOption` for a prefix read from another memory (another
    ///   method, carrier count or decoder start), for no `tokens`, or a token id outside the
    ///   vocabulary; as `startReading` for the memory.
    public func startReading(
        memory: CompressedMemory, prefix: MemoryPrefix?, tokens: [Int32], maxTokens: Int, stopTokens: Set<Int32>,
        sampler: Sampler = .greedy, file: String = "memory", tokensName: String = "tokens"
    ) throws -> Started {
        guard let prefix else {
            return try startReading(memory: memory, tokens: tokens, maxTokens: maxTokens, stopTokens: stopTokens,
                                    sampler: sampler, file: file, tokensName: tokensName)
        }
        let c = model.config
        try check(memory, file: file)
        guard prefix.method == memory.method, prefix.carriers == memory.carriers, prefix.decoderStart == memory.decoderStart,
              prefix.rows.fits(c) else {
            throw CompressionError.invalidOption(option: "prefix", detail: "read from another memory than \(file)")
        }
        guard !tokens.isEmpty else { throw CompressionError.emptyInput(what: tokensName) }
        try checkVocabulary(tokens, name: tokensName)
        let t0 = Date()
        let cache = model.makeCache(capacity: memory.count + prefix.rows.count + tokens.count + maxTokens + 2)
        try cache.append(memory)
        try cache.append(prefix.rows)
        cache.nextPosition = prefix.nextPosition
        let state = try DecodeState(prompt: model.embed(tokens), hidden: c.hiddenSize, cache: cache, maxTokens: maxTokens,
                                    sampler: sampler, stopTokens: stopTokens)
        return Started(state: state, promptTokens: prefix.rows.count + tokens.count,
                       prefillSeconds: Date().timeIntervalSince(t0))
    }

    /// `generate` up to the decode loop: checks `memory` and `tokens`, and reads them.
    public func start(
        memory: CompressedMemory?, tokens: [Int32], maxTokens: Int, stopTokens: Set<Int32>, sampler: Sampler = .greedy,
        file: String = "memory", tokensName: String = "tokens"
    ) throws -> Started {
        try begin(memory: memory, tokens: tokens, maxTokens: maxTokens, stopTokens: stopTokens, sampler: sampler, file: file,
                  tokensName: tokensName) { _ in false }
    }

    /// What `start` and `startReading` share: checks `memory` and `tokens`, puts the memory's
    /// keys and values in a new cache, and either leaves the prompt's rows to the decode loop
    /// (when `inLoop(rows)`) or reads them at once.
    private func begin(
        memory: CompressedMemory?, tokens: [Int32], maxTokens: Int, stopTokens: Set<Int32>, sampler: Sampler,
        file: String, tokensName: String, inLoop: (Int) -> Bool
    ) throws -> Started {
        let c = model.config
        if let memory { try check(memory, file: file) }
        try checkVocabulary(tokens, name: tokensName)
        let t0 = Date()
        let cache = model.makeCache(capacity: (memory?.carriers ?? 0) + tokens.count + maxTokens + 2)
        let input = try memory.map { try prompt(memory: $0, tokens: tokens, cache: cache) }
        let rows = input?.positions.count ?? tokens.count
        let state: DecodeState
        if inLoop(rows) {
            let embeddings = input?.embeddings ?? model.embed(tokens)
            guard !embeddings.isEmpty else { throw CompressionError.emptyInput(what: tokensName) }
            state = try DecodeState(prompt: embeddings, positions: input?.positions, hidden: c.hiddenSize, cache: cache,
                                    maxTokens: maxTokens, sampler: sampler, stopTokens: stopTokens)
        } else {
            let logits = try input.map { try model.forward(embeddings: $0.embeddings, positions: $0.positions, cache: cache, logits: .last) }
                ?? model.forward(tokens, cache: cache, logits: .last)
            state = DecodeState(logits: logits, cache: cache, maxTokens: maxTokens, sampler: sampler, stopTokens: stopTokens)
        }
        return Started(state: state, promptTokens: rows, prefillSeconds: Date().timeIntervalSince(t0))
    }

    /// Throws `CompressionError.invalidOption` (naming `name`) for a token id outside the vocabulary.
    private func checkVocabulary(_ tokens: [Int32], name: String) throws {
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= model.config.vocabSize }) {
            throw CompressionError.invalidOption(option: name, detail: "token id \(bad) outside the vocabulary")
        }
    }

    /// Throws unless `memory` is from this decoder's model and has its shape.
    public func check(_ memory: CompressedMemory, file: String = "memory") throws {
        try memory.checkModel(modelIdentity, file: file)
        let c = model.config, d = c.hiddenSize
        guard memory.hidden == d, memory.kvDim == c.kvDim,
              !memory.method.usesKV || memory.keys.count == c.numLayers else {
            throw CompressionError.identityMismatch(
                file: file, field: "shape", expected: "\(c.numLayers) layers, kv \(c.kvDim), hidden \(d)",
                found: "\(memory.keys.count) layers, kv \(memory.kvDim), hidden \(memory.hidden)")
        }
    }

    /// Reads `memory` and then `tokens` into `cache` (empty, with room for
    /// `memory.carriers + tokens.count + 1` rows and what is generated after), with SPEC's
    /// position rules: the memory's K/V as a prefix (or, for ICAE, its embeddings at positions
    /// 0..<carriers), `[LM]` at `memory.decoderStart`, the tokens after it. Returns the last
    /// position's logits and the number of positions read after the KV prefix. The memory's
    /// model and shape must have been checked (`generate` does).
    public func prefill(memory: CompressedMemory, tokens: [Int32], cache: KVCache) throws -> (logits: [Float], promptTokens: Int) {
        let input = try prompt(memory: memory, tokens: tokens, cache: cache)
        let logits = try model.forward(embeddings: input.embeddings, positions: input.positions, cache: cache, logits: .last)
        return (logits, input.positions.count)
    }

    /// What `prefill` reads after putting `memory`'s keys and values (if any) in `cache`: the
    /// input rows (ICAE's memory embeddings, `[LM]`, then `tokens`) and their positions.
    func prompt(memory: CompressedMemory, tokens: [Int32], cache: KVCache) throws -> (embeddings: [Float], positions: [Int32]) {
        var x: [Float] = []
        var positions: [Int32] = []
        if memory.method.usesKV {
            try cache.append(memory)
        } else {
            x = memory.embeddings
            positions = (0..<memory.carriers).map { Int32($0) }
        }
        var p = memory.decoderStart
        if let lm = memory.lmToken { x.append(contentsOf: lm); positions.append(p); p += 1 }
        x.append(contentsOf: model.embed(tokens))
        positions.append(contentsOf: (0..<tokens.count).map { p + Int32($0) })
        return (x, positions)
    }

    /// Greedy answer from the whole context read as plain text by the base model (the
    /// uncompressed reference for timing): `context` then `question`, positions 0, 1, ….
    public func answerFromContext(
        context: [Int32], question: [Int32], maxTokens: Int, stopTokens: Set<Int32>
    ) throws -> AnswerResult {
        try generate(memory: nil, tokens: context + question, maxTokens: maxTokens, stopTokens: stopTokens, tokensName: "context and question")
    }
}

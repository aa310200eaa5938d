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

    /// Greedy answer to `question` (token ids, e.g. `QAPrompt.question`) from `memory`.
    ///
    /// - Parameters:
    ///   - maxTokens: generation limit.
    ///   - stopTokens: ids that end the answer (EOS).
    ///   - file: the memory's name in error messages.
    ///   - onToken: called with each generated id as it comes.
    /// - Throws: `CompressionError.identityMismatch` when the memory is from another model,
    ///   `emptyInput` for an empty question.
    public func answer(
        memory: CompressedMemory, question: [Int32], maxTokens: Int, stopTokens: Set<Int32>, file: String = "memory",
        onToken: ((Int32) -> Void)? = nil
    ) throws -> AnswerResult {
        try memory.checkModel(modelIdentity, file: file)
        guard !question.isEmpty else { throw CompressionError.emptyInput(what: "question") }
        let c = model.config, d = c.hiddenSize
        guard memory.hidden == d, memory.kvDim == c.numKVHeads * c.headDim,
              !memory.method.usesKV || memory.keys.count == c.numLayers else {
            throw CompressionError.identityMismatch(
                file: file, field: "shape", expected: "\(c.numLayers) layers, kv \(c.numKVHeads * c.headDim), hidden \(d)",
                found: "\(memory.keys.count) layers, kv \(memory.kvDim), hidden \(memory.hidden)")
        }
        if let bad = question.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw CompressionError.invalidOption(option: "question", detail: "token id \(bad) outside the vocabulary")
        }
        let t0 = Date()
        let cache = model.makeCache(capacity: memory.carriers + question.count + maxTokens + 2)
        let (logits, promptTokens) = try prefill(memory: memory, tokens: question, cache: cache)
        return try greedy(logits, cache, maxTokens, stopTokens, onToken, started: t0, promptTokens: promptTokens)
    }

    /// Reads `memory` and then `tokens` into `cache` (empty, with room for
    /// `memory.carriers + tokens.count + 1` rows and what is generated after), with SPEC's
    /// position rules: the memory's K/V as a prefix (or, for ICAE, its embeddings at positions
    /// 0..<carriers), `[LM]` at `memory.decoderStart`, the tokens after it. Returns the last
    /// position's logits and the number of positions read after the KV prefix. The memory's
    /// model and shape must have been checked (`answer` does).
    public func prefill(memory: CompressedMemory, tokens: [Int32], cache: KVCache) throws -> (logits: [Float], promptTokens: Int) {
        var x: [Float] = []
        var positions: [Int32] = []
        if memory.method.usesKV {
            try cache.append(keys: memory.keys, values: memory.values, count: memory.carriers)
        } else {
            x = memory.embeddings
            positions = (0..<memory.carriers).map { Int32($0) }
        }
        var p = memory.decoderStart
        if let lm = memory.lmToken { x.append(contentsOf: lm); positions.append(p); p += 1 }
        x.append(contentsOf: model.embed(tokens))
        positions.append(contentsOf: (0..<tokens.count).map { p + Int32($0) })
        let logits = try model.forward(embeddings: x, positions: positions, cache: cache, logits: .last)
        return (logits, positions.count)
    }

    /// Greedy generation after a prefill that produced `logits` (timed from `started`).
    private func greedy(
        _ first: [Float], _ cache: KVCache, _ maxTokens: Int, _ stopTokens: Set<Int32>, _ onToken: ((Int32) -> Void)?,
        started t0: Date, promptTokens: Int
    ) throws -> AnswerResult {
        let t1 = Date()
        var logits = first
        var out: [Int32] = []
        while out.count < maxTokens {
            let next = Sampler.argmax(logits)
            if stopTokens.contains(next) { break }
            out.append(next)
            onToken?(next)
            if out.count == maxTokens { break }
            logits = try model.forward([next], cache: cache, logits: .last)
        }
        return AnswerResult(
            ids: out, prefillSeconds: t1.timeIntervalSince(t0), decodeSeconds: Date().timeIntervalSince(t1),
            promptTokens: promptTokens)
    }

    /// Greedy answer from the whole context read as plain text by the base model (the
    /// uncompressed reference for timing): `context` then `question`, positions 0, 1, ….
    public func answerFromContext(
        context: [Int32], question: [Int32], maxTokens: Int, stopTokens: Set<Int32>
    ) throws -> AnswerResult {
        let t0 = Date()
        let ids = context + question
        let cache = model.makeCache(capacity: ids.count + maxTokens + 1)
        let logits = try model.forward(ids, cache: cache, logits: .last)
        return try greedy(logits, cache, maxTokens, stopTokens, nil, started: t0, promptTokens: ids.count)
    }
}

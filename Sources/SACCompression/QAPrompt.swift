import SACModel

/// The QA template of SPEC §5, pieces tokenized separately without special tokens.
public struct QAPrompt: Sendable {
    public let tokenizer: Tokenizer
    public let bos: Int32
    public let eos: Int32
    /// The ids that end an answer: the template's EOS, the tokenizer's and the model's
    /// (`Tokenizer.stopTokens(config:)`). Every path that answers from this prompt stops on
    /// these.
    public let stopTokens: Set<Int32>
    /// When set, `context(_:)` keeps the first `contextLimit` tokens of a text (the template's
    /// own tokens not counted): what a model with a bounded number of positions can read, e.g. a
    /// QMSum transcript for SmolLM2's 8,192. nil: the whole text.
    public var contextLimit: Int?

    /// Uses the tokenizer's BOS/EOS, else the model config's. Throws when neither knows them.
    public init(tokenizer: Tokenizer, config: LlamaConfig) throws {
        self.tokenizer = tokenizer
        guard let b = tokenizer.bosTokenId ?? config.bosTokenId, let e = tokenizer.eosTokenId ?? config.eosTokenId else {
            throw CompressionError.invalidOption(option: "tokenizer", detail: "needs BOS and EOS token ids")
        }
        bos = Int32(b)
        eos = Int32(e)
        stopTokens = tokenizer.stopTokens(config: config).union([eos])
    }

    /// Encoder input: [BOS] + tok("### Context:\n") + tok(context), the context's tokens cut to
    /// the first `contextLimit` when that is set.
    public func context(_ text: String) -> [Int32] {
        var ids = tokenizer.encode(text, addSpecialTokens: false)
        if let contextLimit, ids.count > contextLimit { ids.removeSubrange(max(0, contextLimit)...) }
        return [bos] + tokenizer.encode("### Context:\n", addSpecialTokens: false) + ids
    }

    /// Q = tok("\n### Question:\n") + tok(question) + tok("\n### Answer:\n").
    public func question(_ text: String) -> [Int32] {
        questionPrefix + tokenizer.encode(text, addSpecialTokens: false) + tokenizer.encode("\n### Answer:\n", addSpecialTokens: false)
    }

    /// tok("\n### Question:\n"): how every `question(_:)` starts (the pieces are tokenized
    /// separately), so that its rows can be read once per memory (`MemoryDecoder.readPrefix`).
    public var questionPrefix: [Int32] { tokenizer.encode("\n### Question:\n", addSpecialTokens: false) }

    /// A = tok(answer) + [EOS].
    public func answer(_ text: String) -> [Int32] {
        tokenizer.encode(text, addSpecialTokens: false) + [eos]
    }

    /// Decoder sequence for QA fine-tuning: input [LM] + (Q + A)[:-1], loss on the A positions.
    public func qaSequence(question q: [Int32], answer a: [Int32]) -> DecoderSequence {
        let all = q + a
        var targets = [Int32](repeating: -100, count: all.count)
        for i in q.count..<all.count { targets[i] = all[i] }
        return DecoderSequence(soft: .lm, ids: Array(all.dropLast()), targets: targets)
    }

    /// Text of generated ids (special tokens dropped), trimmed.
    public func text(_ ids: [Int32]) -> String {
        tokenizer.decode(ids, skipSpecialTokens: true).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

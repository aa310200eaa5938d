import SACCompression

/// What the compressor is trained to do (SPEC §5).
public enum Objective: String, Codable, CaseIterable, Sendable {
    /// Continue the text after the compressed first half (SAC's pre-training, no AE).
    case lm
    /// Reconstruct the compressed context.
    case ae
    /// Both on the same memory, loss = wAE·AE + wLM·LM.
    case aeLM = "ae+lm"
    /// Answer a question about the compressed context (loss on the answer only).
    case qa
}

/// Which loss a decoder sequence belongs to (for per-objective token means).
public enum LossKind: String, Codable, Sendable {
    case lm, ae, qa
}

/// One training example: a context to compress and the decoder sequences that read it.
public struct TrainingExample: Sendable {
    /// Encoder input ids (starting with BOS).
    public var context: [Int32]
    /// Decoder sequences with their loss kind.
    public var decoders: [(DecoderSequence, LossKind)]

    /// Supervised tokens of each kind.
    public func supervisedTokens(_ kind: LossKind) -> Int {
        decoders.filter { $0.1 == kind }.reduce(0) { n, d in
            n + d.0.targets.filter { $0 != -100 }.count
        }
    }

    /// Encoder plus decoder tokens (for throughput).
    public var tokenCount: Int { context.count + decoders.reduce(0) { $0 + $1.0.ids.count + 1 } }
}

import SACModel
import SACTensor

/// What a teacher computed for one decoder sequence, at each of its rows (the soft token's row,
/// then one per id), aligned with the student's decoder rows.
public struct TeacherTargets: Sendable {
    /// `[rows × vocab]` next-token logits.
    public var logits: [Float]
    /// Per layer, the residual stream after that layer, `[rows × hidden]`.
    public var layerOutputs: [[Float]]
    /// The rows (the decoder sequence's `ids.count + 1`).
    public var rows: Int
}

/// The target of distillation: the frozen model reading the whole context, or a trained
/// compressor (typically a `full` adapter after QA fine-tuning) whose decoder reads its memory.
///
/// Row alignment with a student whose decoder reads `[soft] + ids` after its memory:
/// - `frozen`: the base model reads the context (encoder input, positions 1, 2, …) and then
///   `ids` causally. The context's last token sits at position N, where the student's soft token
///   sits, and predicts what the soft token predicts; so student row i is teacher row N − 1 + i.
///   For LM pre-training on text this is the teacher reading segment A then B.
/// - `compressor`: the teacher's own memory of the context and its own soft token, then `ids`:
///   student row i is teacher decoder row i.
///
/// Not thread-safe (one working pass).
public final class Teacher {
    public enum Source {
        case frozen
        case compressor(Compressor)
    }

    public let model: LlamaModel
    public let source: Source
    let pass: LlamaPass

    /// The frozen base model as the teacher.
    public init(model: LlamaModel) {
        self.model = model
        source = .frozen
        pass = LlamaPass(model: model)
    }

    /// A trained compressor as the teacher. It must keep keys and values (full, SAC, EPL, 500x).
    /// - Throws: `CompressionError.invalidOption` for a method whose memory is not KV.
    public init(compressor: Compressor) throws {
        guard compressor.settings.method.isTrainable, compressor.settings.method.usesKV else {
            throw CompressionError.invalidOption(
                option: "teacher", detail: "method \(compressor.settings.method.rawValue) has no key/value memory to read (use full, sac, epl or 500x)")
        }
        model = compressor.model
        source = .compressor(compressor)
        pass = LlamaPass(model: compressor.model)
    }

    /// "frozen", or the teacher adapter's identity (`Compressor.adapterIdentity`): what a
    /// resumed run compares.
    public var identity: String {
        switch source {
        case .frozen: return "frozen"
        case .compressor(let c): return c.adapterIdentity
        }
    }

    /// The teacher's logits and layer outputs at the rows of `seq` read after `context`
    /// (encoder input ids, starting with BOS).
    public func targets(context ids: [Int32], decoder seq: DecoderSequence) throws -> TeacherTargets {
        guard !ids.isEmpty else { throw CompressionError.emptyInput(what: "context") }
        let R = seq.ids.count + 1
        let rows: [Int]
        switch source {
        case .frozen:
            let all = ids + seq.ids
            try pass.forward(
                embeddings: model.embed(all), positions: (0..<all.count).map { Int32($0 + 1) }, mask: .causal(prefix: 0))
            rows = Array((ids.count - 1)..<(ids.count - 1 + R))
        case .compressor(let comp):
            let memory = try comp.compress(ids)
            guard let soft = (seq.soft == .lm ? comp.lmToken : comp.aeToken) else {
                throw CompressionError.invalidOption(option: "teacher", detail: "has no soft token")
            }
            var x = soft.value.data
            if !seq.ids.isEmpty { x.append(contentsOf: model.embed(seq.ids)) }
            let C = memory.carriers
            let start = comp.decoderStart(soft: seq.soft, contextTokens: ids.count, carriers: C)
            try pass.forward(
                embeddings: x, positions: (0..<R).map { start + Int32($0) }, mask: .causal(prefix: C),
                prefix: memory)
            rows = Array(0..<R)
        }
        return TeacherTargets(logits: try pass.logits(rows: rows), layerOutputs: try pass.layerOutputs(rows: rows), rows: R)
    }
}

import Foundation
import SACModel
import SACTensor

/// The learned token that starts the decoder's input.
public enum SoftToken: Sendable {
    /// `[LM]`: continue the text / answer the question (LM and QA objectives).
    case lm
    /// `[AE]`: reconstruct the context (autoencoding objective).
    case ae
}

/// What the decoder reads after the memory and what it must predict.
public struct DecoderSequence: Sendable, Equatable {
    public var soft: SoftToken
    /// Token ids read after the soft token.
    public var ids: [Int32]
    /// One target per decoder input row (the soft token, then each id): the next token, or
    /// `CrossEntropy.defaultIgnoreIndex` for rows without loss.
    public var targets: [Int32]

    public init(soft: SoftToken, ids: [Int32], targets: [Int32]) {
        self.soft = soft
        self.ids = ids
        self.targets = targets
    }
}

/// Distillation terms for one decoder sequence: the teacher's targets at every row of the
/// sequence and the factors on the summed KL divergence and the summed hidden-state error.
public struct Distillation: Sendable {
    public var teacher: TeacherTargets
    /// Factor on `Σ_rows KL(p_T ‖ p_S)` in the gradient.
    public var klScale: Float
    /// Factor on `Σ_rows hiddenError` in the gradient.
    public var hiddenScale: Float

    public init(teacher: TeacherTargets, klScale: Float, hiddenScale: Float) {
        self.teacher = teacher
        self.klScale = klScale
        self.hiddenScale = hiddenScale
    }
}

/// One decoder sequence's losses: summed cross-entropy over its supervised tokens and their
/// number; with distillation, the summed KL divergence and hidden-state error over its rows.
public struct DecoderLoss: Sendable {
    public var lossSum: Double
    public var count: Int
    public var klSum = 0.0
    public var hiddenSum = 0.0
    /// Rows that the distillation terms cover (0 without distillation).
    public var distilledRows = 0
}

/// The stages of `Compressor.loss`, in order: what `sac bench train --breakdown` times.
public enum LossStage: String, Sendable, CaseIterable {
    /// Every chunk through the encoder, the carriers' K/V (or hidden states) gathered.
    case encode
    /// The frozen decoder reading the memory and the decoder sequence; the losses at its rows.
    case decoderForward
    /// Back through the decoder into the soft token and the memory.
    case decoderBackward
    /// Back through the encoder, last chunk first (earlier chunks encoded again), into LoRA
    /// and the anchor or memory embeddings.
    case encoderBackward
}

/// A compressed context as the training step holds it: per-layer K/V of the carriers (KV
/// methods) or their final hidden states (ICAE-style methods), with the chunk plans.
struct TrainingMemory {
    var plans: [ChunkPlan]
    var keys: [[Float]]
    var values: [[Float]]
    var embeddings: [Float]
    var carriers: Int
}

/// Gradients of the loss at a `TrainingMemory`, summed over the decoder sequences.
struct MemoryGradients {
    var keys: [[Float]]
    var values: [[Float]]
    var embeddings: [Float]
}

extension Compressor {
    /// Loss of the frozen decoder reading the compressed `context` and then `decoder`, and,
    /// with `backward`, the gradients of `gradScale · loss sum` accumulated into the
    /// trainable parameters (through the decoder, the memory and the encoder).
    ///
    /// Chunks are encoded one at a time; for a context of several chunks the backward pass
    /// recomputes each earlier chunk's forward (activation memory of one chunk).
    /// - Returns: the summed token loss and the number of supervised tokens.
    public func loss(
        context ids: [Int32], decoder seq: DecoderSequence, gradScale: Float = 1, backward: Bool = true,
        anchorIndices: [[Int]]? = nil
    ) throws -> (lossSum: Double, count: Int) {
        try loss(context: ids, decoders: [(seq, gradScale)], backward: backward, anchorIndices: anchorIndices)[0]
    }

    /// `loss(context:decoder:…)` for several decoder sequences reading the same memory (the
    /// mixed AE + LM objective): the context is encoded once, each sequence's loss is scaled by
    /// its own factor, and their gradients meet in the memory before the encoder's backward.
    /// - Returns: per sequence, the summed token loss and the number of supervised tokens.
    public func loss(
        context ids: [Int32], decoders: [(DecoderSequence, Float)], backward: Bool = true, anchorIndices: [[Int]]? = nil
    ) throws -> [(lossSum: Double, count: Int)] {
        try loss(context: ids, decoders: decoders, distillation: nil, backward: backward, anchorIndices: anchorIndices)
            .map { ($0.lossSum, $0.count) }
    }

    /// `loss(context:decoders:…)` with optional distillation per decoder sequence (aligned with
    /// `decoders`): at every row of the sequence, the KL divergence from the teacher's
    /// next-token distribution, and the hidden-state error
    /// `(1/L) Σ_l ‖h_l − t_l‖² / (‖t_l‖² + ε)` between the decoder's layer outputs and the
    /// teacher's. The gradient is that of `ceScale · Σ CE + klScale · Σ KL + hiddenScale · Σ error`.
    ///
    /// `stageTimes` is told the seconds of each `LossStage` as it ends (decoder stages summed
    /// over the sequences); stages that do not run (the backward ones without `backward`) are
    /// not reported.
    public func loss(
        context ids: [Int32], decoders: [(DecoderSequence, Float)], distillation: [Distillation?]?, backward: Bool = true,
        anchorIndices: [[Int]]? = nil, stageTimes: ((LossStage, Double) -> Void)? = nil
    ) throws -> [DecoderLoss] {
        if let distillation {
            guard distillation.count == decoders.count else {
                throw CompressionError.invalidOption(
                    option: "distillation", detail: "\(distillation.count) entries for \(decoders.count) decoder sequences")
            }
            for (i, dist) in distillation.enumerated() {
                guard let dist else { continue }
                let R = decoders[i].0.ids.count + 1
                guard dist.teacher.rows == R, dist.teacher.logits.count == R * model.config.vocabSize,
                      dist.teacher.layerOutputs.count == model.config.numLayers,
                      dist.teacher.layerOutputs.allSatisfy({ $0.count == R * model.config.hiddenSize }) else {
                    throw CompressionError.invalidOption(
                        option: "distillation", detail: "teacher targets of \(dist.teacher.rows) rows for a sequence of \(R) rows")
                }
            }
        }
        guard settings.method.isTrainable else {
            throw CompressionError.invalidOption(option: "method", detail: "tokens has nothing to train")
        }
        try checkIds(ids, what: "context")
        for (seq, _) in decoders {
            guard seq.targets.count == seq.ids.count + 1 else {
                throw CompressionError.invalidOption(
                    option: "decoder targets", detail: "\(seq.targets.count) targets for \(seq.ids.count + 1) input rows")
            }
            if !seq.ids.isEmpty { try checkIds(seq.ids, what: "decoder input") }
        }
        let plans = try settings.plan(tokens: ids.count, anchorIndices: anchorIndices)
        var clock = StageClock(report: stageTimes)
        let memory = try encodeMemory(ids, plans, backward: backward)
        clock.lap(.encode)
        var gradients = MemoryGradients(
            keys: [[Float]](repeating: [Float](repeating: 0, count: settings.method.usesKV ? memory.carriers * model.config.kvDim : 0),
                            count: model.config.numLayers),
            values: [], embeddings: [Float](repeating: 0, count: settings.method.usesKV ? 0 : memory.carriers * model.config.hiddenSize))
        gradients.values = gradients.keys
        var results: [DecoderLoss] = []
        var anyGradient = false
        var forwardSeconds = 0.0, backwardSeconds = 0.0
        for (di, (seq, gradScale)) in decoders.enumerated() {
            let (result, gotGradient) = try decoderLoss(
                seq, scale: gradScale, distillation: distillation?[di] ?? nil, memory: memory, contextTokens: ids.count,
                backward: backward, into: &gradients, forwardSeconds: &forwardSeconds, backwardSeconds: &backwardSeconds)
            results.append(result)
            anyGradient = anyGradient || gotGradient
        }
        clock.report?(.decoderForward, forwardSeconds)
        if backward { clock.report?(.decoderBackward, backwardSeconds) }
        clock.restart()
        guard backward, anyGradient else { return results }
        try backwardEncoder(ids, memory, gradients)
        clock.lap(.encoderBackward)
        return results
    }

    /// Stage 1: encodes every chunk of `ids` (with `backward`, the last chunk's activations
    /// are kept for the encoder's backward; earlier chunks are encoded again there) and
    /// gathers the carriers' K/V or hidden states.
    func encodeMemory(_ ids: [Int32], _ plans: [ChunkPlan], backward: Bool) throws -> TrainingMemory {
        let c = model.config, L = c.numLayers, d = c.hiddenSize
        var m = TrainingMemory(plans: plans, keys: [[Float]](repeating: [], count: L), values: [[Float]](repeating: [], count: L),
                               embeddings: [], carriers: plans.reduce(0) { $0 + $1.carriers.count })
        for (ci, plan) in plans.enumerated() {
            try encode(ids, plan, forBackward: backward && ci == plans.count - 1)
            if settings.method.usesKV {
                for l in 0..<L { encoderPass.gatherKV(layer: l, rows: plan.carriers, keys: &m.keys[l], values: &m.values[l]) }
            } else {
                let h = encoderPass.hidden
                for j in plan.carriers { m.embeddings.append(contentsOf: h[(j * d)..<((j + 1) * d)]) }
            }
        }
        return m
    }

    /// Stages 2 and 3 for one decoder sequence: the frozen decoder reads `memory`, the soft
    /// token and `seq.ids`; the cross-entropy (scaled by `scale`) and the distillation terms
    /// are taken at its rows; with `backward`, the gradient flows back through the decoder
    /// into the soft token and is added to `gradients`. Returns the losses and whether any
    /// gradient flowed.
    func decoderLoss(
        _ seq: DecoderSequence, scale gradScale: Float, distillation dist: Distillation?, memory: TrainingMemory,
        contextTokens: Int, backward: Bool, into gradients: inout MemoryGradients,
        forwardSeconds: inout Double, backwardSeconds: inout Double
    ) throws -> (DecoderLoss, Bool) {
        let L = model.config.numLayers, d = model.config.hiddenSize, kv = model.config.kvDim
        let usesKV = settings.method.usesKV, C = memory.carriers
        let memRows = usesKV ? 0 : C
        var t = DispatchTime.now().uptimeNanoseconds
        let soft = seq.soft == .lm ? lmToken! : aeToken!
        var x = memory.embeddings
        x.append(contentsOf: soft.value.data)
        if !seq.ids.isEmpty { x.append(contentsOf: model.embed(seq.ids)) }
        let start = decoderStart(soft: seq.soft, contextTokens: contextTokens, carriers: C)
        var positions = (0..<memRows).map { Int32($0) }
        positions.append(contentsOf: (0...seq.ids.count).map { start + Int32($0) })
        let prefix = usesKV ? PrefixKV(keys: memory.keys, values: memory.values, count: C) : nil
        try decoderPass.forward(
            embeddings: x, positions: positions, mask: .causal(prefix: usesKV ? C : 0), prefix: prefix, lora: nil)
        var rows: [Int] = [], targets: [Int32] = []
        for (i, target) in seq.targets.enumerated() where dist != nil || target != CrossEntropy.defaultIgnoreIndex {
            rows.append(memRows + i)
            targets.append(target)
        }
        let out = try decoderPass.outputLoss(
            rows: rows, targets: targets, ceScale: gradScale, teacherLogits: dist?.teacher.logits, klScale: dist?.klScale ?? 0)
        var result = DecoderLoss(lossSum: out.ceSum, count: out.ceCount, klSum: out.klSum)
        var dLayers: [[Float]]? = nil
        if let dist {
            result.distilledRows = rows.count
            let h = try decoderPass.hiddenError(rows: rows, teacher: dist.teacher.layerOutputs, scale: dist.hiddenScale,
                                                gradient: backward)
            result.hiddenSum = h.sum
            dLayers = h.gradient
        }
        forwardSeconds += Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
        guard backward, out.ceCount > 0 || dist != nil else { return (result, false) }
        t = DispatchTime.now().uptimeNanoseconds
        let g = try decoderPass.backward(dHidden: out.dHidden, dLayerOutputs: dLayers)
        soft.withMutableGrad { sg in
            for e in 0..<d { sg[e] += g.embeddings[memRows * d + e] }
        }
        if usesKV {
            for l in 0..<L {
                for i in 0..<(C * kv) { gradients.keys[l][i] += g.prefixKeys[l][i]; gradients.values[l][i] += g.prefixValues[l][i] }
            }
        } else {
            for i in 0..<(memRows * d) { gradients.embeddings[i] += g.embeddings[i] }
        }
        backwardSeconds += Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
        return (result, true)
    }

    /// Stage 4: the memory's gradients back through the encoder, last chunk first (its
    /// activations are still there; earlier chunks are encoded again), into the LoRA weights
    /// and the anchor or memory embeddings.
    func backwardEncoder(_ ids: [Int32], _ memory: TrainingMemory, _ gradients: MemoryGradients) throws {
        let c = model.config, L = c.numLayers, d = c.hiddenSize, kv = c.kvDim
        let plans = memory.plans
        var offset = memory.carriers
        for (ci, plan) in plans.enumerated().reversed() {
            let n = plan.carriers.count, T = plan.sequenceLength
            offset -= n
            if ci != plans.count - 1 {
                try encode(ids, plan, forBackward: true)
            }
            let e: PassGradients
            if settings.method.usesKV {
                var dK = [[Float]](repeating: [Float](repeating: 0, count: T * kv), count: L), dV = dK
                for l in 0..<L {
                    for (i, j) in plan.carriers.enumerated() {
                        for q in 0..<kv {
                            dK[l][j * kv + q] = gradients.keys[l][(offset + i) * kv + q]
                            dV[l][j * kv + q] = gradients.values[l][(offset + i) * kv + q]
                        }
                    }
                }
                e = try encoderPass.backward(dHidden: nil, dKeys: dK, dValues: dV)
            } else {
                var dH = [Float](repeating: 0, count: T * d)
                for (i, j) in plan.carriers.enumerated() {
                    for q in 0..<d { dH[j * d + q] = gradients.embeddings[(offset + i) * d + q] }
                }
                e = try encoderPass.backward(dHidden: dH)
            }
            if let a = anchorEmbedding {
                let shared = a.shape[0] == 1
                a.withMutableGrad { ag in
                    for (i, j) in plan.carriers.enumerated() {
                        let row = shared ? 0 : plan.slots[i]
                        for q in 0..<d { ag[row * d + q] += e.embeddings[j * d + q] }
                    }
                }
            }
            if let m = memoryEmbedding, plan.memoryTokens > 0 {
                let base = plan.range.count
                m.withMutableGrad { mg in
                    for k in 0..<plan.memoryTokens {
                        for q in 0..<d { mg[k * d + q] += e.embeddings[(base + k) * d + q] }
                    }
                }
            }
        }
    }
}

/// Times the stages of one `Compressor.loss` call for its `stageTimes` hook.
struct StageClock {
    let report: ((LossStage, Double) -> Void)?
    private var start = DispatchTime.now().uptimeNanoseconds

    init(report: ((LossStage, Double) -> Void)?) { self.report = report }

    /// Reports the seconds since the last lap as `stage`, and starts the next.
    mutating func lap(_ stage: LossStage) {
        let now = DispatchTime.now().uptimeNanoseconds
        report?(stage, Double(now - start) / 1e9)
        start = now
    }

    mutating func restart() { start = DispatchTime.now().uptimeNanoseconds }
}

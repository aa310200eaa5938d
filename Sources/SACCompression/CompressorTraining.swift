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
    public func loss(
        context ids: [Int32], decoders: [(DecoderSequence, Float)], distillation: [Distillation?]?, backward: Bool = true,
        anchorIndices: [[Int]]? = nil
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
            throw CompressionError.invalidOption(option: "--method tokens", detail: "has nothing to train")
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
        let c = model.config, L = c.numLayers, kv = c.numKVHeads * c.headDim, d = c.hiddenSize
        let usesKV = settings.method.usesKV

        // Encode.
        var keys = [[Float]](repeating: [], count: L), values = keys
        var memEmbeddings: [Float] = []
        for (ci, plan) in plans.enumerated() {
            // The last chunk's activations serve the backward directly; earlier chunks are
            // encoded again there.
            try encode(ids, plan, forBackward: backward && ci == plans.count - 1)
            if usesKV {
                for l in 0..<L { encoderPass.gatherKV(layer: l, rows: plan.carriers, keys: &keys[l], values: &values[l]) }
            } else {
                let h = encoderPass.hidden
                for j in plan.carriers { memEmbeddings.append(contentsOf: h[(j * d)..<((j + 1) * d)]) }
            }
        }
        let C = plans.reduce(0) { $0 + $1.carriers.count }
        let memRows = usesKV ? 0 : C
        var results: [DecoderLoss] = []
        // Gradients at the memory, summed over the decoder sequences.
        var gKeys = [[Float]](repeating: [Float](repeating: 0, count: usesKV ? C * kv : 0), count: L), gValues = gKeys
        var gMem = [Float](repeating: 0, count: memRows * d)
        var anyGradient = false
        for (di, (seq, gradScale)) in decoders.enumerated() {
            let dist = distillation?[di] ?? nil
            let soft = seq.soft == .lm ? lmToken! : aeToken!
            var x = memEmbeddings
            x.append(contentsOf: soft.value.data)
            if !seq.ids.isEmpty { x.append(contentsOf: model.embed(seq.ids)) }
            let start = decoderStart(soft: seq.soft, contextTokens: ids.count, carriers: C)
            var positions = (0..<memRows).map { Int32($0) }
            positions.append(contentsOf: (0...seq.ids.count).map { start + Int32($0) })
            let prefix = usesKV ? PrefixKV(keys: keys, values: values, count: C) : nil
            try decoderPass.forward(
                embeddings: x, positions: positions, mask: .causal(prefix: usesKV ? C : 0), prefix: prefix, lora: nil)
            var rows: [Int] = [], targets: [Int32] = []
            for (i, t) in seq.targets.enumerated() where dist != nil || t != CrossEntropy.defaultIgnoreIndex {
                rows.append(memRows + i)
                targets.append(t)
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
            results.append(result)
            guard backward, out.ceCount > 0 || dist != nil else { continue }
            anyGradient = true
            // Back through the decoder into the soft token and the memory.
            let g = try decoderPass.backward(dHidden: out.dHidden, dLayerOutputs: dLayers)
            soft.withMutableGrad { sg in
                for e in 0..<d { sg[e] += g.embeddings[memRows * d + e] }
            }
            if usesKV {
                for l in 0..<L {
                    for i in 0..<(C * kv) { gKeys[l][i] += g.prefixKeys[l][i]; gValues[l][i] += g.prefixValues[l][i] }
                }
            } else {
                for i in 0..<(memRows * d) { gMem[i] += g.embeddings[i] }
            }
        }
        guard backward, anyGradient else { return results }

        // Back through the encoder, last chunk first (its activations are still there).
        var offset = C
        for (ci, plan) in plans.enumerated().reversed() {
            let n = plan.carriers.count, T = plan.sequenceLength
            offset -= n
            if ci != plans.count - 1 {
                try encode(ids, plan, forBackward: true)
            }
            let e: PassGradients
            if usesKV {
                var dK = [[Float]](repeating: [Float](repeating: 0, count: T * kv), count: L), dV = dK
                for l in 0..<L {
                    for (i, j) in plan.carriers.enumerated() {
                        for q in 0..<kv {
                            dK[l][j * kv + q] = gKeys[l][(offset + i) * kv + q]
                            dV[l][j * kv + q] = gValues[l][(offset + i) * kv + q]
                        }
                    }
                }
                e = try encoderPass.backward(dHidden: nil, dKeys: dK, dValues: dV)
            } else {
                var dH = [Float](repeating: 0, count: T * d)
                for (i, j) in plan.carriers.enumerated() {
                    for q in 0..<d { dH[j * d + q] = gMem[(offset + i) * d + q] }
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
        return results
    }
}

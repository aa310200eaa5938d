import Foundation
import SACTensor

/// A projection of a Llama layer that a LoRA adapter can target (Hugging Face module names).
public enum LoRATarget: String, CaseIterable, Codable, Sendable, Comparable {
    case qProj = "q_proj", kProj = "k_proj", vProj = "v_proj", oProj = "o_proj"
    case gateProj = "gate_proj", upProj = "up_proj", downProj = "down_proj"

    /// The module path inside a layer, e.g. `self_attn.q_proj`.
    public var modulePath: String {
        switch self {
        case .qProj, .kProj, .vProj, .oProj: return "self_attn.\(rawValue)"
        case .gateProj, .upProj, .downProj: return "mlp.\(rawValue)"
        }
    }

    public static func < (a: LoRATarget, b: LoRATarget) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Rank, scaling and targets of a LoRA adapter: `y = W·x + (alpha/rank)·B·A·x`.
public struct LoRAConfig: Codable, Sendable, Equatable {
    /// Rank r of A [r × in] and B [out × r].
    public var rank: Int
    /// Scaling numerator; the update is multiplied by `alpha / rank`.
    public var alpha: Float
    /// The projections that get an adapter, in every layer.
    public var targets: [LoRATarget]

    /// SAC's default: q_proj and v_proj, rank 128, alpha 256 (scale 2).
    public init(rank: Int = 128, alpha: Float = 256, targets: [LoRATarget] = [.qProj, .vProj]) {
        self.rank = rank
        self.alpha = alpha
        self.targets = targets.sorted()
    }

    /// alpha / rank.
    public var scale: Float { alpha / Float(rank) }

    /// Checks rank ≥ 1, a finite alpha and at least one target, without duplicates.
    public func validate() throws {
        guard rank >= 1 else { throw TensorError.invalidArgument(op: "LoRAConfig", detail: "rank \(rank), expected ≥ 1") }
        guard alpha.isFinite else { throw TensorError.invalidArgument(op: "LoRAConfig", detail: "alpha \(alpha) is not finite") }
        guard !targets.isEmpty, Set(targets).count == targets.count else {
            throw TensorError.invalidArgument(op: "LoRAConfig", detail: "targets \(targets.map(\.rawValue)): expected one or more distinct modules")
        }
    }
}

/// LoRA adapters on the projections of every layer of a Llama model, as trainable parameters
/// named like Hugging Face PEFT (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`).
///
/// The base weights are never copied or changed: a `LlamaPass` adds the adapter's low-rank
/// update inside the projections when it is given the adapter, and reads the plain model
/// when it is not (LoRA switched off).
public final class LlamaLoRA {
    public let config: LoRAConfig
    /// `a[layer][target]` [rank × in] and `b[layer][target]` [out × rank].
    let a: [[LoRATarget: Parameter]]
    let b: [[LoRATarget: Parameter]]

    /// Fresh adapters for a model with `model`'s shapes: A from PEFT's kaiming-uniform
    /// (bound 1/√in), B zero, so the adapted model starts equal to the base model.
    public init(config: LoRAConfig, model: LlamaConfig, seed: UInt64) throws {
        try config.validate()
        self.config = config
        var rng = SplitMix64(seed: seed)
        var a: [[LoRATarget: Parameter]] = [], b: [[LoRATarget: Parameter]] = []
        for l in 0..<model.numLayers {
            var la: [LoRATarget: Parameter] = [:], lb: [LoRATarget: Parameter] = [:]
            for t in config.targets {
                let (out, inF) = LlamaLoRA.shape(t, model)
                let bound = 1 / Float(inF).squareRoot()
                la[t] = Parameter(
                    name: LlamaLoRA.name(layer: l, target: t, matrix: "A"),
                    value: Tensor(randomUniform: [config.rank, inF], bound: bound, using: &rng))
                lb[t] = Parameter(
                    name: LlamaLoRA.name(layer: l, target: t, matrix: "B"), value: Tensor(zeros: [out, config.rank]))
            }
            a.append(la)
            b.append(lb)
        }
        self.a = a
        self.b = b
    }

    /// (out, in) features of `target` in a model with config `c`.
    public static func shape(_ t: LoRATarget, _ c: LlamaConfig) -> (out: Int, in: Int) {
        let d = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.kvDim, f = c.intermediateSize
        switch t {
        case .qProj: return (q, d)
        case .kProj, .vProj: return (kv, d)
        case .oProj: return (d, q)
        case .gateProj, .upProj: return (f, d)
        case .downProj: return (d, f)
        }
    }

    /// PEFT's tensor name, `matrix` "A" or "B".
    public static func name(layer: Int, target: LoRATarget, matrix: String) -> String {
        "base_model.model.model.layers.\(layer).\(target.modulePath).lora_\(matrix).weight"
    }

    /// Every A and B, layer by layer, targets in a fixed order.
    public var parameters: [Parameter] {
        var out: [Parameter] = []
        for l in 0..<a.count {
            for t in config.targets { out.append(a[l][t]!); out.append(b[l][t]!) }
        }
        return out
    }

    /// Number of layers covered.
    public var layers: Int { a.count }

    func has(_ t: LoRATarget) -> Bool { a.first?[t] != nil }

    /// y[rows × out] += scale · (x·Aᵀ)·Bᵀ, keeping xa = x·Aᵀ [rows × rank] for the backward.
    func forward(
        layer l: Int, target t: LoRATarget, x: UnsafePointer<Float>, rows: Int,
        xa: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>
    ) {
        let pa = a[l][t]!, pb = b[l][t]!
        let r = config.rank, inF = pa.shape[1], out = pb.shape[0]
        pa.withValue { av in
            GEMM.sgemm(transA: false, transB: true, m: rows, n: r, k: inF, alpha: 1,
                       a: x, lda: inF, b: av.baseAddress!, ldb: inF, beta: 0, c: xa, ldc: r)
        }
        pb.withValue { bv in
            GEMM.sgemm(transA: false, transB: true, m: rows, n: out, k: r, alpha: config.scale,
                       a: xa, lda: r, b: bv.baseAddress!, ldb: r, beta: 1, c: y, ldc: out)
        }
    }

    /// Backward of `forward`: dx += scale·(dy·B)·A (when dx is given), and, for trainable
    /// adapters, dA += scale·(dy·B)ᵀ·x and dB += scale·dyᵀ·xa. `g` is scratch [rows × rank].
    func backward(
        layer l: Int, target t: LoRATarget, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
        xa: UnsafePointer<Float>, rows: Int, dx: UnsafeMutablePointer<Float>?, g: UnsafeMutablePointer<Float>
    ) {
        let pa = a[l][t]!, pb = b[l][t]!
        let r = config.rank, inF = pa.shape[1], out = pb.shape[0], s = config.scale
        pb.withValue { bv in
            GEMM.sgemm(transA: false, transB: false, m: rows, n: r, k: out, alpha: 1,
                       a: dy, lda: out, b: bv.baseAddress!, ldb: r, beta: 0, c: g, ldc: r)
        }
        if let dx {
            pa.withValue { av in
                GEMM.sgemm(transA: false, transB: false, m: rows, n: inF, k: r, alpha: s,
                           a: g, lda: r, b: av.baseAddress!, ldb: inF, beta: 1, c: dx, ldc: inF)
            }
        }
        if pa.requiresGrad {
            pa.withMutableGrad { ga in
                GEMM.sgemm(transA: true, transB: false, m: r, n: inF, k: rows, alpha: s,
                           a: g, lda: r, b: x, ldb: inF, beta: 1, c: ga.baseAddress!, ldc: inF)
            }
        }
        if pb.requiresGrad {
            pb.withMutableGrad { gb in
                GEMM.sgemm(transA: true, transB: false, m: out, n: r, k: rows, alpha: s,
                           a: dy, lda: out, b: xa, ldb: r, beta: 1, c: gb.baseAddress!, ldc: r)
            }
        }
    }
}

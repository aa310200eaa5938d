import SACTensor

/// The inference forward pass's calls into the tensor kernels, in one place.
enum Kernels {
    /// out[rows × dim] = RMSNorm(x) · weight.
    static func rmsNorm(
        _ x: UnsafePointer<Float>, _ weight: [Float], _ out: UnsafeMutablePointer<Float>, rows: Int, dim: Int, eps: Float
    ) {
        weight.withUnsafeBufferPointer { w in
            RMSNorm.forward(x: x, weight: w.baseAddress!, out: out, rows: rows, dim: dim, eps: eps)
        }
    }

    /// out = silu(gate) ⊙ up (out may alias gate).
    static func swiGLU(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int) {
        SwiGLU.forward(gate: gate, up: up, out: out, count: count)
    }

    /// y += x.
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        Residual.add(y, x, count: count)
    }

    /// Grouped-query attention of `tokens` new queries over `keyCount` cached rows, the first
    /// `prefix` of which every query sees; the new tokens are causal.
    static func attention(
        q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, tokens: Int, keyCount: Int, heads: Int, kvHeads: Int, headDim: Int,
        prefix: Int
    ) {
        let dims = AttentionDims(queries: tokens, keys: keyCount, heads: heads, kvHeads: kvHeads, headDim: headDim)
        Attention.forward(
            q: q, ldq: heads * headDim, k: keys, ldk: kvHeads * headDim, v: values, ldv: kvHeads * headDim,
            out: out, ldo: heads * headDim, lse: nil, dims: dims, mask: .causal(prefix: prefix))
    }
}

/// `Tensor`-level attention: shape-checked, throwing wrappers around the pointer kernels.
extension Attention {
    /// The result of `Attention.forward(q:k:v:...)`.
    public struct ForwardResult: Sendable {
        /// [T, nH·hd].
        public var out: Tensor
        /// [nH, T] logsumexp of the scaled scores (−∞ for a query that sees no key); nil unless
        /// asked for.
        public var lse: Tensor?
    }

    /// The gradients produced by `Attention.backward(dOut:...)`.
    public struct Gradients: Sendable {
        /// [T, nH·hd].
        public var dq: Tensor
        /// [S, nKV·hd], including the prefix keys.
        public var dk: Tensor
        /// [S, nKV·hd], including the prefix values.
        public var dv: Tensor
    }

    /// Checks `q` [T, nH·hd], `k`/`v` [S, nKV·hd], the head counts and the mask, and returns
    /// the sizes. Throws `TensorError`.
    static func dims(q: Tensor, k: Tensor, v: Tensor, heads: Int, kvHeads: Int,
                     mask: AttentionMask, op: String) throws -> AttentionDims {
        guard heads >= 1, kvHeads >= 1, heads % kvHeads == 0 else {
            throw TensorError.invalidArgument(
                op: op, detail: "heads \(heads) must be a positive multiple of kvHeads \(kvHeads) ≥ 1")
        }
        guard q.rank == 2, q.shape[1] >= heads, q.shape[1] % heads == 0 else {
            throw TensorError.shapeMismatch(
                op: op, detail: "q has shape \(q.shape), expected [T, heads·headDim] with heads = \(heads)")
        }
        let hd = q.shape[1] / heads
        guard k.rank == 2, k.shape[1] == kvHeads * hd else {
            throw TensorError.shapeMismatch(
                op: op, detail: "k has shape \(k.shape), expected [S, \(kvHeads * hd)] (kvHeads·headDim)")
        }
        try v.expectShape(k.shape, "v", op: op)
        let d = AttentionDims(queries: q.shape[0], keys: k.shape[0], heads: heads, kvHeads: kvHeads, headDim: hd)
        try mask.validate(queries: d.queries, keys: d.keys, op: op)
        return d
    }

    /// Attention forward on tensors: `q` [T, nH·hd], `k` and `v` [S, nKV·hd] (S keys, prefix
    /// first). Returns `out` [T, nH·hd] and, when `saveLSE`, `lse` [nH, T] for `backward`.
    /// `scale` nil means `1/√hd`. Throws `TensorError` for inconsistent shapes, head counts
    /// (`heads % kvHeads != 0`) or a mask that does not fit T×S.
    public static func forward(
        q: Tensor, k: Tensor, v: Tensor, heads: Int, kvHeads: Int,
        mask: AttentionMask, scale: Float? = nil, saveLSE: Bool = true
    ) throws -> ForwardResult {
        let d = try dims(q: q, k: k, v: v, heads: heads, kvHeads: kvHeads, mask: mask, op: "Attention.forward")
        var out = Tensor(zeros: [d.queries, d.heads * d.headDim])
        var lse = Tensor(zeros: [saveLSE ? d.heads : 0, d.queries])
        if d.queries > 0 {
            let kvWidth = d.kvHeads * d.headDim, qWidth = d.heads * d.headDim
            q.data.withUnsafeBufferPointer { pq in
            k.data.withUnsafeBufferPointer { pk in
            v.data.withUnsafeBufferPointer { pv in
            out.data.withUnsafeMutableBufferPointer { po in
            lse.data.withUnsafeMutableBufferPointer { pl in
                forward(q: pq.baseAddress!, ldq: qWidth,
                        k: pk.baseAddress ?? pq.baseAddress!, ldk: kvWidth,
                        v: pv.baseAddress ?? pq.baseAddress!, ldv: kvWidth,
                        out: po.baseAddress!, ldo: qWidth, lse: saveLSE ? pl.baseAddress : nil,
                        dims: d, scale: scale, mask: mask)
            } } } } }
        }
        return ForwardResult(out: out, lse: saveLSE ? lse : nil)
    }

    /// Attention backward on tensors: given `dOut` [T, nH·hd] and the forward's inputs, `out`
    /// and `lse` [nH, T], returns fresh `dq` [T, nH·hd], `dk` and `dv` [S, nKV·hd] (prefix keys
    /// included; gradients of query heads sharing a kv head are summed). Same mask and scale as
    /// the forward. Throws `TensorError` for inconsistent shapes or mask.
    public static func backward(
        dOut: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
        heads: Int, kvHeads: Int, mask: AttentionMask, scale: Float? = nil
    ) throws -> Gradients {
        let op = "Attention.backward"
        let d = try dims(q: q, k: k, v: v, heads: heads, kvHeads: kvHeads, mask: mask, op: op)
        try out.expectShape(q.shape, "out", op: op)
        try dOut.expectShape(q.shape, "dOut", op: op)
        try lse.expectShape([d.heads, d.queries], "lse", op: op)
        var g = Gradients(dq: Tensor(zeros: q.shape), dk: Tensor(zeros: k.shape), dv: Tensor(zeros: v.shape))
        if d.queries == 0 || d.keys == 0 { return g }
        let kvWidth = d.kvHeads * d.headDim, qWidth = d.heads * d.headDim
        q.data.withUnsafeBufferPointer { pq in
        k.data.withUnsafeBufferPointer { pk in
        v.data.withUnsafeBufferPointer { pv in
        out.data.withUnsafeBufferPointer { po in
        dOut.data.withUnsafeBufferPointer { pd in
        lse.data.withUnsafeBufferPointer { pl in
        g.dq.data.withUnsafeMutableBufferPointer { gq in
        g.dk.data.withUnsafeMutableBufferPointer { gk in
        g.dv.data.withUnsafeMutableBufferPointer { gv in
            backward(dOut: pd.baseAddress!, q: pq.baseAddress!, ldq: qWidth,
                     k: pk.baseAddress!, ldk: kvWidth, v: pv.baseAddress!, ldv: kvWidth,
                     out: po.baseAddress!, ldo: qWidth, lse: pl.baseAddress!,
                     dq: gq.baseAddress!, dk: gk.baseAddress!, dv: gv.baseAddress!,
                     dims: d, scale: scale, mask: mask, accumulate: false)
        } } } } } } } } }
        return g
    }
}

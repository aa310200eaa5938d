/// A bias-free linear layer `y = x·Wᵀ` (Llama projections) with an optional LoRA branch
/// `y += scale·(x·Aᵀ)·Bᵀ`, `scale = alpha / rank`.
///
/// Layouts (row-major, Hugging Face): `W` [out × in], LoRA `A` [rank × in], `B` [out × rank],
/// inputs `x` [T × in], outputs `y` [T × out]. The same base weights serve calls with the
/// LoRA branch on (encoder) and off (decoder): LoRA is chosen per call.
///
/// The static functions work on raw pointers (hot path, preconditions); the instance methods
/// work on `Tensor`s and throw `TensorError`.
public struct Linear: Sendable {
    /// Base weight [out, in].
    public var weight: Tensor
    /// Optional low-rank adapter.
    public var lora: LoRAAdapter?

    /// Input features (`weight.shape[1]`).
    public var inFeatures: Int { weight.shape[1] }
    /// Output features (`weight.shape[0]`).
    public var outFeatures: Int { weight.shape[0] }

    /// Throws `TensorError.shapeMismatch` unless `weight` is [out, in] and the adapter's
    /// `a` is [rank, in] and `b` is [out, rank].
    public init(weight: Tensor, lora: LoRAAdapter? = nil) throws {
        guard weight.rank == 2 else {
            throw TensorError.shapeMismatch(op: "Linear", detail: "weight has shape \(weight.shape), expected [out, in]")
        }
        if let lora {
            try lora.a.expectShape([lora.rank, weight.shape[1]], "lora.a", op: "Linear")
            try lora.b.expectShape([weight.shape[0], lora.rank], "lora.b", op: "Linear")
        }
        self.weight = weight
        self.lora = lora
    }
}

/// A LoRA adapter: `A` [rank, in], `B` [out, rank], and `scale = alpha / rank`.
public struct LoRAAdapter: Sendable, Equatable {
    /// Down projection [rank, in].
    public var a: Tensor
    /// Up projection [out, rank] (zeros at the usual initialisation).
    public var b: Tensor
    /// LoRA alpha; the branch is scaled by `alpha / rank`.
    public var alpha: Float

    /// The rank r (`a.shape[0]`).
    public var rank: Int { a.shape[0] }
    /// `alpha / rank`.
    public var scale: Float { alpha / Float(rank) }

    /// Throws `TensorError.shapeMismatch` unless `a` is [r, in] and `b` is [out, r] with
    /// r ≥ 1 (the layer checks `in` and `out`).
    public init(a: Tensor, b: Tensor, alpha: Float) throws {
        guard a.rank == 2, b.rank == 2, a.shape[0] >= 1, b.shape[1] == a.shape[0] else {
            throw TensorError.shapeMismatch(
                op: "LoRAAdapter", detail: "a has shape \(a.shape), b has shape \(b.shape), expected [r, in] and [out, r]")
        }
        self.a = a
        self.b = b
        self.alpha = alpha
    }
}

/// Raw-pointer view of a LoRA adapter's parameters.
public struct LoRAPointers {
    /// `A` [rank × in].
    public var a: UnsafePointer<Float>
    /// `B` [out × rank].
    public var b: UnsafePointer<Float>
    /// The rank r ≥ 1.
    public var rank: Int
    /// `alpha / rank`.
    public var scale: Float

    public init(a: UnsafePointer<Float>, b: UnsafePointer<Float>, rank: Int, scale: Float) {
        self.a = a; self.b = b; self.rank = rank; self.scale = scale
    }
}

/// Raw-pointer view of a LoRA adapter's gradient accumulators (`+=`).
public struct LoRAGradientPointers {
    /// `dA` [rank × in].
    public var a: UnsafeMutablePointer<Float>
    /// `dB` [out × rank].
    public var b: UnsafeMutablePointer<Float>

    public init(a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>) {
        self.a = a; self.b = b
    }
}

extension Linear {
    /// `y = x·Wᵀ (+ scale·xa·Bᵀ with xa = x·Aᵀ when lora is given)`.
    ///
    /// - x: [rows × inFeatures]; weight: [outFeatures × inFeatures]; y: [rows × outFeatures],
    ///   overwritten (not read).
    /// - xa: [rows × rank], receives `x·Aᵀ` for the backward pass; may be nil when `lora`
    ///   is nil, or when the caller does not need it (a scratch buffer is used then).
    /// Preconditions: sizes ≥ 0; y overlaps nothing else.
    public static func forward(
        x: UnsafePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int,
        weight: UnsafePointer<Float>, lora: LoRAPointers?, xa: UnsafeMutablePointer<Float>?,
        y: UnsafeMutablePointer<Float>
    ) {
        precondition(rows >= 0 && inFeatures >= 0 && outFeatures >= 0, "Linear.forward: negative size")
        if rows == 0 || outFeatures == 0 { return }
        let ldIn = max(1, inFeatures)
        GEMM.sgemm(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures, alpha: 1,
                   a: x, lda: ldIn, b: weight, ldb: ldIn, beta: 0, c: y, ldc: outFeatures)
        guard let lora else { return }
        precondition(lora.rank >= 1, "Linear.forward: LoRA rank must be ≥ 1")
        let r = lora.rank
        withBuffer(rows * r, given: xa) { xaBuf in
            GEMM.sgemm(transA: false, transB: true, m: rows, n: r, k: inFeatures, alpha: 1,
                       a: x, lda: ldIn, b: lora.a, ldb: ldIn, beta: 0, c: xaBuf, ldc: r)
            GEMM.sgemm(transA: false, transB: true, m: rows, n: outFeatures, k: r, alpha: lora.scale,
                       a: xaBuf, lda: r, b: lora.b, ldb: r, beta: 1, c: y, ldc: outFeatures)
        }
    }

    /// Gradients of `y = x·Wᵀ (+ scale·(x·Aᵀ)·Bᵀ)` given `dy` [rows × outFeatures].
    ///
    /// - dx [rows × inFeatures] (nil: not computed) gets `dy·W (+ scale·(dy·B)·A)`;
    ///   it is accumulated (`+=`, handy for residual streams) when `accumulateInput`, else
    ///   overwritten.
    /// - dWeight [out × in] (nil: frozen base weight, skipped) `+= dyᵀ·x`.
    /// - With `lora` (the adapter used in the forward pass): `xa` [rows × rank] must be the
    ///   forward's `x·Aᵀ`; `loraGrads` (nil: adapter frozen) gets `dA += scale·(dy·B)ᵀ·x`
    ///   and `dB += scale·dyᵀ·xa`.
    /// - x [rows × inFeatures] is needed when dWeight or loraGrads is given.
    /// Preconditions: the outputs do not overlap each other or the inputs.
    public static func backward(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int,
        weight: UnsafePointer<Float>, lora: LoRAPointers?, xa: UnsafePointer<Float>?,
        dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool,
        dWeight: UnsafeMutablePointer<Float>?, loraGrads: LoRAGradientPointers?
    ) {
        precondition(rows >= 0 && inFeatures >= 0 && outFeatures >= 0, "Linear.backward: negative size")
        if inFeatures == 0 { return }
        let ldOut = max(1, outFeatures)
        if let dx {
            GEMM.sgemm(transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures, alpha: 1,
                       a: dy, lda: ldOut, b: weight, ldb: inFeatures, beta: accumulateInput ? 1 : 0,
                       c: dx, ldc: inFeatures)
        }
        if let dWeight {
            GEMM.sgemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows, alpha: 1,
                       a: dy, lda: ldOut, b: x, ldb: inFeatures, beta: 1, c: dWeight, ldc: inFeatures)
        }
        guard let lora, dx != nil || loraGrads != nil else { return }
        let r = lora.rank
        precondition(r >= 1, "Linear.backward: LoRA rank must be ≥ 1")
        withBuffer(rows * r, given: nil) { g in
            // g = dy·B [rows × r]
            GEMM.sgemm(transA: false, transB: false, m: rows, n: r, k: outFeatures, alpha: 1,
                       a: dy, lda: ldOut, b: lora.b, ldb: r, beta: 0, c: g, ldc: r)
            if let dx {
                GEMM.sgemm(transA: false, transB: false, m: rows, n: inFeatures, k: r, alpha: lora.scale,
                           a: g, lda: r, b: lora.a, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
            }
            if let loraGrads {
                precondition(xa != nil, "Linear.backward: LoRA gradients need the forward's xa")
                GEMM.sgemm(transA: true, transB: false, m: r, n: inFeatures, k: rows, alpha: lora.scale,
                           a: g, lda: r, b: x, ldb: inFeatures, beta: 1, c: loraGrads.a, ldc: inFeatures)
                GEMM.sgemm(transA: true, transB: false, m: outFeatures, n: r, k: rows, alpha: lora.scale,
                           a: dy, lda: ldOut, b: xa!, ldb: r, beta: 1, c: loraGrads.b, ldc: r)
            }
        }
    }

    /// Runs `body` with `given`, or with a pooled scratch buffer of `count` floats.
    private static func withBuffer(
        _ count: Int, given: UnsafeMutablePointer<Float>?, _ body: (UnsafeMutablePointer<Float>) -> Void
    ) {
        if let given { body(given); return }
        let buf = GEMMBufferPool.shared.acquire(count)
        defer { GEMMBufferPool.shared.release(buf) }
        body(buf.pointer)
    }
}

extension Linear {
    /// What the forward pass saves for the backward pass.
    public struct Cache: Sendable {
        /// The input, [..., in].
        public var x: Tensor
        /// `x·Aᵀ` flattened to [T, rank] when the LoRA branch was on, else nil.
        public var xa: Tensor?
    }

    /// Gradient accumulators; a nil entry is frozen (skipped).
    public struct Gradients: Sendable {
        /// dW [out, in].
        public var weight: Tensor?
        /// dA [rank, in].
        public var loraA: Tensor?
        /// dB [out, rank].
        public var loraB: Tensor?

        public init(weight: Tensor? = nil, loraA: Tensor? = nil, loraB: Tensor? = nil) {
            self.weight = weight; self.loraA = loraA; self.loraB = loraB
        }

        /// Zero accumulators for `layer`: dW when `weight`, dA and dB when `lora` and the
        /// layer has an adapter.
        public init(zerosFor layer: Linear, weight: Bool = true, lora: Bool = true) {
            self.weight = weight ? Tensor(zeros: layer.weight.shape) : nil
            if lora, let l = layer.lora {
                loraA = Tensor(zeros: l.a.shape)
                loraB = Tensor(zeros: l.b.shape)
            }
        }
    }

    /// `y = x·Wᵀ (+ scale·(x·Aᵀ)·Bᵀ when useLoRA and the layer has an adapter)`.
    ///
    /// `x` has shape [..., in] (rank ≥ 1; leading dimensions are flattened to T rows); `y`
    /// has shape [..., out]. Throws `TensorError.shapeMismatch` when the last dimension is
    /// not `inFeatures`.
    public func forward(_ x: Tensor, useLoRA: Bool = true) throws -> (y: Tensor, cache: Cache) {
        guard x.rank >= 1, x.shape[x.rank - 1] == inFeatures else {
            throw TensorError.shapeMismatch(
                op: "Linear.forward", detail: "x has shape \(x.shape), expected [..., \(inFeatures)]")
        }
        let rows = inFeatures == 0 ? x.shape.dropLast().reduce(1, *) : x.count / inFeatures
        var y = Tensor(zeros: Array(x.shape.dropLast()) + [outFeatures])
        let adapter = useLoRA ? lora : nil
        var xa = adapter.map { Tensor(zeros: [rows, $0.rank]) }
        if rows > 0 && outFeatures > 0 {
            Self.withPointers(weight, adapter) { w, lp in
                x.data.withUnsafeBufferPointer { px in
                    y.data.withUnsafeMutableBufferPointer { py in
                        let xp = px.baseAddress ?? w  // empty x only when in == 0 (k == 0)
                        if xa == nil {
                            Self.forward(x: xp, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
                                         weight: w, lora: lp, xa: nil, y: py.baseAddress!)
                        } else {
                            xa!.data.withUnsafeMutableBufferPointer { pxa in
                                Self.forward(x: xp, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
                                             weight: w, lora: lp, xa: pxa.baseAddress!, y: py.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
        return (y, Cache(x: x, xa: xa))
    }

    /// Backward pass for a `forward` that returned `cache`: accumulates (`+=`) into the
    /// non-nil entries of `gradients` and returns dx (shape of `cache.x`, freshly computed).
    ///
    /// `dy` must have the shape of the forward's y. Throws `TensorError.shapeMismatch` on
    /// shape errors, `TensorError.invalidArgument` when the cache used LoRA but the layer
    /// has no adapter (or a different rank).
    public func backward(_ dy: Tensor, cache: Cache, gradients: inout Gradients) throws -> Tensor {
        let x = cache.x
        try dy.expectShape(Array(x.shape.dropLast()) + [outFeatures], "dy", op: "Linear.backward")
        try x.expectShape(Array(x.shape.dropLast()) + [inFeatures], "cache.x", op: "Linear.backward")
        let rows = dy.shape.dropLast().reduce(1, *)
        var adapter: LoRAAdapter? = nil
        if let xa = cache.xa {
            guard let l = lora, xa.shape == [rows, l.rank] else {
                throw TensorError.invalidArgument(
                    op: "Linear.backward", detail: "cache holds xa \(xa.shape) but the layer's adapter does not match")
            }
            adapter = l
        }
        if let g = gradients.weight { try g.expectShape(weight.shape, "gradients.weight", op: "Linear.backward") }
        let wantLoRA = adapter != nil && (gradients.loraA != nil || gradients.loraB != nil)
        if wantLoRA {
            guard let ga = gradients.loraA, let gb = gradients.loraB else {
                throw TensorError.invalidArgument(
                    op: "Linear.backward", detail: "gradients.loraA and gradients.loraB must be both set or both nil")
            }
            try ga.expectShape(adapter!.a.shape, "gradients.loraA", op: "Linear.backward")
            try gb.expectShape(adapter!.b.shape, "gradients.loraB", op: "Linear.backward")
        }
        var dx = Tensor(zeros: x.shape)
        if rows == 0 || inFeatures == 0 || outFeatures == 0 { return dx }
        var dW = gradients.weight, dA = wantLoRA ? gradients.loraA : nil, dB = wantLoRA ? gradients.loraB : nil
        // Move the accumulators out so that their buffers stay uniquely referenced (no copy).
        gradients.weight = nil
        if wantLoRA { gradients.loraA = nil; gradients.loraB = nil }
        defer {
            if let dW { gradients.weight = dW }
            if let dA { gradients.loraA = dA }
            if let dB { gradients.loraB = dB }
        }
        Self.withPointers(weight, adapter) { w, lp in
            dy.data.withUnsafeBufferPointer { pdy in
                x.data.withUnsafeBufferPointer { px in
                    dx.data.withUnsafeMutableBufferPointer { pdx in
                        Self.withOptionalMutable(&dW) { pdW in
                            Self.withOptionalMutable(&dA) { pdA in
                                Self.withOptionalMutable(&dB) { pdB in
                                    let grads = (pdA != nil && pdB != nil)
                                        ? LoRAGradientPointers(a: pdA!, b: pdB!) : nil
                                    let dxp = pdx.baseAddress!
                                    func run(_ pxa: UnsafePointer<Float>?) {
                                        Self.backward(
                                            dy: pdy.baseAddress!, x: px.baseAddress!, rows: rows,
                                            inFeatures: inFeatures, outFeatures: outFeatures, weight: w,
                                            lora: lp, xa: pxa, dx: dxp, accumulateInput: false,
                                            dWeight: pdW, loraGrads: grads)
                                    }
                                    if let xa = cache.xa {
                                        xa.data.withUnsafeBufferPointer { run($0.baseAddress!) }
                                    } else {
                                        run(nil)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// Pointers to the weight and (when given) the adapter.
    private static func withPointers(
        _ weight: Tensor, _ adapter: LoRAAdapter?,
        _ body: (UnsafePointer<Float>, LoRAPointers?) -> Void
    ) {
        weight.data.withUnsafeBufferPointer { pw in
            let w = pw.baseAddress ?? UnsafePointer(bitPattern: 64)!
            guard let adapter else { body(w, nil); return }
            adapter.a.data.withUnsafeBufferPointer { pa in
                adapter.b.data.withUnsafeBufferPointer { pb in
                    body(w, LoRAPointers(a: pa.baseAddress ?? w, b: pb.baseAddress ?? w,
                                         rank: adapter.rank, scale: adapter.scale))
                }
            }
        }
    }

    /// The mutable base address of an optional tensor (nil when absent or empty).
    private static func withOptionalMutable(
        _ t: inout Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> Void
    ) {
        if t == nil { body(nil); return }
        t!.data.withUnsafeMutableBufferPointer { body($0.baseAddress) }
    }
}

import SACTensor

/// A linear projection's weight, W [rows × cols] in Hugging Face layout (y = x·Wᵀ), kept in
/// the form that is fastest to apply: Float32, or the GGUF blocks (Q8_0, Q4_0, Q4_1) as they
/// are in the file.
///
/// Quantised weights are never stored as Float32: a few tokens at a time (decoding) use the
/// blocks rearranged into panels (`QuantizedPanels`: every row's result independent of the
/// batch), or the fused row kernels with 8-bit activations; a long prompt dequantises the matrix into a scratch
/// buffer and runs the packed GEMM, which costs one pass over the weights per forward (a few
/// percent of the GEMM at 512 tokens). Dequantised values are exactly gguf-py's (d·q + m), so
/// both paths compute with the same Float32 weights as Hugging Face's loader.
public struct Projection: @unchecked Sendable {
    /// Output features.
    public let rows: Int
    /// Input features.
    public let cols: Int
    enum Storage {
        case dense([Float])
        case quantized(QuantizedMatrix)
    }
    let storage: Storage
    /// The block weights rearranged into panels of 8 rows (`QuantizedPanels`) for decoding's
    /// products with Float32 activations: every row's result is the same whatever else is in
    /// the batch, and many rows share each decoded block. Nil for Float32 weights.
    let panels: QuantizedPanels?
    /// Whether the weight is stored as Float32 (no fused quantised product to prefer).
    var isDense: Bool {
        if case .dense = storage { return true }
        return false
    }
    /// Wᵀ packed for `apply` (see `prepacked(forward:backward:)`), or nil.
    let packedForward: PackedMatrix?
    /// W packed for `applyTransposed`, or nil.
    let packedBackward: PackedMatrix?
    /// Whether fused products of block weights (at most `fusedTokenLimit` tokens: decoding)
    /// quantise the activations to 8 bits (`QuantizedMatrix.matmulQ8`) instead of keeping
    /// them in Float32. See `DecodeActivations`.
    public let q8Activations: Bool

    /// A Float32 weight; `weight.count == rows·cols`.
    public init(dense weight: [Float], rows: Int, cols: Int) {
        precondition(weight.count == rows * cols)
        self.rows = rows
        self.cols = cols
        storage = .dense(weight)
        panels = nil
        packedForward = nil
        packedBackward = nil
        q8Activations = false
    }

    /// A block-quantised weight.
    public init(quantized: QuantizedMatrix) {
        rows = quantized.rows
        cols = quantized.cols
        storage = .quantized(quantized)
        panels = QuantizedPanels(quantized)
        packedForward = nil
        packedBackward = nil
        q8Activations = false
    }

    private init(_ p: Projection, forward: PackedMatrix?, backward: PackedMatrix?, q8Activations: Bool? = nil) {
        rows = p.rows
        cols = p.cols
        storage = p.storage
        panels = p.panels
        packedForward = forward
        packedBackward = backward
        self.q8Activations = q8Activations ?? p.q8Activations
    }

    /// This projection with decoding's fused products taking `activations` (no effect on
    /// Float32 weights, which have no integer product).
    public func with(activations: DecodeActivations) -> Projection {
        Projection(self, forward: packedForward, backward: packedBackward,
                   q8Activations: activations == .q8 && !isDense)
    }

    /// This projection with the Float32 weight also kept packed for the GEMM: as Wᵀ for
    /// `apply` on more than `fusedTokenLimit` tokens (`forward`) and as W for
    /// `applyTransposed` (`backward`). Each packed copy holds about `rows·cols` floats and
    /// saves a dequantisation (block weights) and a packing pass per product: worth it for a
    /// model that runs many long products (training, compressing many chunks). Results are
    /// bit-for-bit those of the unpacked path. Already packed copies are kept.
    public func prepacked(forward: Bool, backward: Bool) -> Projection {
        let wantF = forward && packedForward == nil, wantB = backward && packedBackward == nil
        if !wantF && !wantB || rows == 0 || cols == 0 { return self }
        let w = dense()
        return w.withUnsafeBufferPointer { p in
            let f = wantF ? PackedMatrix(transB: true, k: cols, n: rows, b: p.baseAddress!, ldb: cols) : packedForward
            let b = wantB ? PackedMatrix(transB: false, k: rows, n: cols, b: p.baseAddress!, ldb: cols) : packedBackward
            return Projection(self, forward: f, backward: b)
        }
    }

    /// Floats held in packed copies (0 when none).
    public var packedCount: Int { (packedForward?.count ?? 0) + (packedBackward?.count ?? 0) }

    /// Largest number of tokens for which the fused quantised product beats dequantise + GEMM.
    static let fusedTokenLimit = 8

    /// Floats of scratch `apply` needs for `tokens` tokens (0 when none).
    func scratchCount(tokens: Int) -> Int {
        if packedForward != nil && tokens > Projection.fusedTokenLimit { return 0 }
        if case .quantized = storage, tokens > Projection.fusedTokenLimit { return rows * cols }
        return 0
    }

    /// `apply` with every row's result exactly what `apply` gives that row alone (`tokens: 1`):
    /// the panel product for block weights (any number of rows; each decoded block serves up
    /// to 4 rows at once), row by row for Float32 weights. For batched decoding, where a
    /// request's answer must not depend on what else is in the batch.
    func applyRowwise(_ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>) {
        if case .quantized(let q) = storage {
            fused(q, x, tokens: tokens, y)
            return
        }
        for t in 0..<tokens { apply(x + t * cols, tokens: 1, y + t * rows, scratch: nil) }
    }

    /// y[tokens × rows] = x[tokens × cols] · Wᵀ (overwrites y). `scratch` must hold
    /// `scratchCount(tokens:)` floats. A packed Wᵀ serves every product the packed GEMM driver
    /// would run anyway (more than `GEMM.smallRowLimit` tokens for a Float32 weight, more than
    /// `fusedTokenLimit` for a block-quantised one): for the tied output head at training's few
    /// supervised rows it skips packing the 49152×576 embedding on every call.
    func apply(_ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?) {
        if let packed = packedForward, tokens > Projection.fusedTokenLimit || (isDense && tokens > GEMM.smallRowLimit) {
            GEMM.sgemm(transA: false, m: tokens, n: rows, k: cols, alpha: 1, a: x, lda: cols,
                       packedB: packed, beta: 0, c: y, ldc: rows)
            return
        }
        switch storage {
        case .dense(let w):
            w.withUnsafeBufferPointer { wp in
                GEMM.sgemm(
                    transA: false, transB: true, m: tokens, n: rows, k: cols, alpha: 1,
                    a: x, lda: cols, b: wp.baseAddress!, ldb: cols, beta: 0, c: y, ldc: rows)
            }
        case .quantized(let q):
            if tokens <= Projection.fusedTokenLimit {
                fused(q, x, tokens: tokens, y)
            } else {
                let s = scratch!
                q.dequantize(rows: 0..<rows, into: s)
                GEMM.sgemm(
                    transA: false, transB: true, m: tokens, n: rows, k: cols, alpha: 1,
                    a: x, lda: cols, b: s, ldb: cols, beta: 0, c: y, ldc: rows)
            }
        }
    }

    /// The fused quantised product: the panels with Float32 activations, the row kernels with
    /// 8-bit ones.
    @inline(__always)
    private func fused(_ q: QuantizedMatrix, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>) {
        if q8Activations {
            q.matmulQ8(x: x, tokens: tokens, y: y)
        } else if let panels {
            panels.matmul(x: x, tokens: tokens, y: y)
        } else {
            q.matmul(x: x, tokens: tokens, y: y)
        }
    }

    /// Floats of scratch `applyTransposed` needs (the dequantised matrix for block weights).
    func transposedScratchCount() -> Int {
        if packedBackward != nil { return 0 }
        if case .quantized = storage { return rows * cols }
        return 0
    }

    /// dx[tokens × cols] (+)= dy[tokens × rows] · W: the input gradient of `apply`.
    /// Accumulates when `accumulate`, else overwrites. `scratch` must hold
    /// `transposedScratchCount()` floats.
    func applyTransposed(
        _ dy: UnsafePointer<Float>, tokens: Int, _ dx: UnsafeMutablePointer<Float>, accumulate: Bool,
        scratch: UnsafeMutablePointer<Float>?
    ) {
        if tokens == 0 { return }
        if let packed = packedBackward {
            GEMM.sgemm(transA: false, m: tokens, n: cols, k: rows, alpha: 1, a: dy, lda: rows,
                       packedB: packed, beta: accumulate ? 1 : 0, c: dx, ldc: cols)
            return
        }
        func run(_ w: UnsafePointer<Float>) {
            GEMM.sgemm(
                transA: false, transB: false, m: tokens, n: cols, k: rows, alpha: 1,
                a: dy, lda: rows, b: w, ldb: cols, beta: accumulate ? 1 : 0, c: dx, ldc: cols)
        }
        switch storage {
        case .dense(let w):
            w.withUnsafeBufferPointer { run($0.baseAddress!) }
        case .quantized(let q):
            let s = scratch!
            q.dequantize(rows: 0..<rows, into: s)
            run(s)
        }
    }

    /// The weight as Float32 (dequantised when needed).
    public func dense() -> [Float] {
        switch storage {
        case .dense(let w): return w
        case .quantized(let q):
            var out = [Float](repeating: 0, count: rows * cols)
            out.withUnsafeMutableBufferPointer { q.dequantize(rows: 0..<rows, into: $0.baseAddress!) }
            return out
        }
    }

    /// Bytes the weight occupies (block weights: the ggml blocks and their panels).
    public var byteCount: Int {
        switch storage {
        case .dense(let w): return w.count * 4
        case .quantized(let q): return q.weightBytes + (panels?.weightBytes ?? 0)
        }
    }
}

/// How decoding multiplies activations with block-quantised weights.
public enum DecodeActivations: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Float32 activations against the exactly decoded weights: logits within 1e-4 of the
    /// Float32 reference (the default).
    case f32
    /// Activations quantised to 8 bits per block of 32 and integer dot products, as llama.cpp
    /// does: faster decoding, logits off the Float32 reference by the activations' rounding.
    case q8

    public var description: String { rawValue }
}

extension Projection {
    /// The GGUF blocks as a `QuantizedMatrix` when the fused kernels support their format
    /// (Q8_0, Q4_0, Q4_1); nil for other types, which the model reads as Float32 instead.
    static func quantizedMatrix(_ w: QuantizedWeight) throws -> QuantizedMatrix? {
        let format: QuantFormat
        switch w.type {
        case .q8_0: format = .q8_0
        case .q4_0: format = .q4_0
        case .q4_1: format = .q4_1
        default: return nil
        }
        return try QuantizedMatrix(format: format, rows: w.rows, cols: w.cols, copying: w.bytes)
    }
}

/// Root-mean-square normalisation as in Hugging Face `LlamaRMSNorm`:
/// `rstd = 1 / sqrt(mean(x²) + eps)` (Float32), `y = w ⊙ (x · rstd)`, row by row.
public enum RMSNorm {
    /// Computes `rstd[t] = 1 / sqrt(Σ_j x[t, j]² / dim + eps)` for every row (Float32, in
    /// HF order: the mean, then `+ eps`, then the square root, then the reciprocal).
    ///
    /// - Precondition: `rows >= 0`, `dim >= 1`.
    public static func computeRstd(
        x: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float, rstd: UnsafeMutablePointer<Float>
    ) {
        precondition(rows >= 0 && dim >= 1, "RMSNorm.computeRstd: need rows ≥ 0, dim ≥ 1")
        let xs = UncheckedSendable(x), rs = UncheckedSendable(rstd)
        Parallel.forRanges(rows, grain: max(1, 32768 / dim)) { range in
            for t in range { rs.value[t] = rowRstd(xs.value + t * dim, dim, eps) }
        }
    }

    /// `out[t, :] = weight ⊙ (x[t, :] · rstd[t])` for `t < rows`.
    ///
    /// - Parameters:
    ///   - x: `[rows × dim]` input.
    ///   - weight: `[dim]` gain.
    ///   - out: `[rows × dim]` output; may be the same buffer as `x`.
    ///   - eps: added to the mean square (SmolLM2: 1e-5).
    ///   - rstd: when given, receives the `[rows]` reciprocal RMS values for `backward`.
    /// - Precondition: `rows >= 0`, `dim >= 1`.
    public static func forward(
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        rows: Int, dim: Int, eps: Float, rstd: UnsafeMutablePointer<Float>? = nil
    ) {
        precondition(rows >= 0 && dim >= 1, "RMSNorm.forward: need rows ≥ 0, dim ≥ 1")
        let xs = UncheckedSendable(x), ws = UncheckedSendable(weight), os = UncheckedSendable(out)
        let rs = UncheckedSendable(rstd)
        Parallel.forRanges(rows, grain: max(1, 16384 / dim)) { range in
            let w = ws.value
            for t in range {
                let xr = xs.value + t * dim, orow = os.value + t * dim
                let r = rowRstd(xr, dim, eps)
                rs.value?[t] = r
                let rv = SIMD16<Float>(repeating: r)
                var j = 0
                while j + 16 <= dim {
                    VecMath.store(VecMath.load(w + j) * (VecMath.load(xr + j) * rv), orow + j)
                    j += 16
                }
                while j < dim { orow[j] = w[j] * (xr[j] * r); j += 1 }
            }
        }
    }

    /// Gradients of `y = w ⊙ x·rstd(x)`:
    /// `dx_j = rstd·w_j·g_j − (rstd³/dim)·x_j·Σ_k g_k·w_k·x_k` and `dw_j += Σ_t g_tj·x_tj·rstd_t`.
    ///
    /// - Parameters:
    ///   - x: `[rows × dim]` forward input.
    ///   - weight: `[dim]` gain.
    ///   - rstd: `[rows]` values saved by `forward` (or from `computeRstd`).
    ///   - dOut: `[rows × dim]` gradient with respect to `y`.
    ///   - dx: `[rows × dim]` gradient with respect to `x`, overwritten; may equal `dOut`. `nil` skips it.
    ///   - dWeight: `[dim]` gradient of the gain, accumulated into (`+=`). `nil` skips it.
    /// - Precondition: `rows >= 0`, `dim >= 1`; `dx` does not overlap `x`, `weight`, `rstd`.
    public static func backward(
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        dOut: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
        rows: Int, dim: Int
    ) {
        precondition(rows >= 0 && dim >= 1, "RMSNorm.backward: need rows ≥ 0, dim ≥ 1")
        if rows == 0 { return }
        let xs = UncheckedSendable(x), ws = UncheckedSendable(weight), rs = UncheckedSendable(rstd)
        let gs = UncheckedSendable(dOut)
        // dW first: dx may overwrite dOut. Threads own disjoint column ranges.
        if let dWeight {
            let dws = UncheckedSendable(dWeight)
            Parallel.forRanges(dim, grain: rows * dim < 1 << 15 ? dim : 64) { cols in
                let c0 = cols.lowerBound, n = cols.count
                let dw = dws.value + c0
                for t in 0..<rows {
                    let xr = xs.value + t * dim + c0, gr = gs.value + t * dim + c0
                    let r = rs.value[t], rv = SIMD16<Float>(repeating: r)
                    var j = 0
                    while j + 16 <= n {
                        VecMath.store(VecMath.load(dw + j).addingProduct(VecMath.load(gr + j) * VecMath.load(xr + j), rv),
                                      dw + j)
                        j += 16
                    }
                    while j < n { dw[j] += gr[j] * xr[j] * r; j += 1 }
                }
            }
        }
        guard let dx else { return }
        let ds = UncheckedSendable(dx)
        Parallel.forRanges(rows, grain: max(1, 16384 / dim)) { range in
            let w = ws.value
            for t in range {
                let xr = xs.value + t * dim, gr = gs.value + t * dim, dr = ds.value + t * dim
                let r = rs.value[t]
                // c = Σ g·w·x
                var acc = SIMD16<Float>()
                var j = 0
                while j + 16 <= dim {
                    acc = acc.addingProduct(VecMath.load(gr + j) * VecMath.load(w + j), VecMath.load(xr + j))
                    j += 16
                }
                var c = acc.sum()
                while j < dim { c += gr[j] * w[j] * xr[j]; j += 1 }
                let k = -(r * r * r * c / Float(dim))
                let rv = SIMD16<Float>(repeating: r), kv = SIMD16<Float>(repeating: k)
                j = 0
                while j + 16 <= dim {
                    let v = (VecMath.load(w + j) * VecMath.load(gr + j) * rv).addingProduct(VecMath.load(xr + j), kv)
                    VecMath.store(v, dr + j)
                    j += 16
                }
                while j < dim { dr[j] = w[j] * gr[j] * r + xr[j] * k; j += 1 }
            }
        }
    }

    /// `1 / sqrt(mean(x²) + eps)` of one row, Float32 SIMD accumulation.
    @inline(__always)
    static func rowRstd(_ x: UnsafePointer<Float>, _ n: Int, _ eps: Float) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var j = 0
        while j + 32 <= n {
            let u = VecMath.load(x + j), v = VecMath.load(x + j + 16)
            a0 = a0.addingProduct(u, u); a1 = a1.addingProduct(v, v)
            j += 32
        }
        if j + 16 <= n { let u = VecMath.load(x + j); a0 = a0.addingProduct(u, u); j += 16 }
        var s = (a0 + a1).sum()
        while j < n { s += x[j] * x[j]; j += 1 }
        let variance = s / Float(n)
        return 1 / (variance + eps).squareRoot()
    }
}

extension RMSNorm {
    /// Normalises the rows of `x` (`[T × d]`, or any rank whose last dimension is `d`) with
    /// gain `weight` (`[d]`). Returns `y` (shape of `x`) and `rstd` (`[x.count / d]`).
    /// Throws `TensorError.shapeMismatch` when the last dimension is not `weight.count`,
    /// `TensorError.invalidArgument` for `d == 0` or a non-positive / non-finite `eps`.
    public static func forward(_ x: Tensor, weight: Tensor, eps: Float) throws -> (y: Tensor, rstd: Tensor) {
        let (rows, d) = try check(x, weight: weight, op: "RMSNorm.forward")
        guard eps.isFinite, eps > 0 else {
            throw TensorError.invalidArgument(op: "RMSNorm.forward", detail: "eps must be positive and finite, got \(eps)")
        }
        var y = Tensor(zeros: x.shape), rstd = Tensor(zeros: [rows])
        x.data.withUnsafeBufferPointer { xb in
            weight.data.withUnsafeBufferPointer { wb in
                y.data.withUnsafeMutableBufferPointer { yb in
                    rstd.data.withUnsafeMutableBufferPointer { rb in
                        guard rows > 0 else { return }
                        forward(x: xb.baseAddress!, weight: wb.baseAddress!, out: yb.baseAddress!,
                                rows: rows, dim: d, eps: eps, rstd: rb.baseAddress!)
                    }
                }
            }
        }
        return (y, rstd)
    }

    /// Gradients `(dx, dWeight)` given the forward input, gain, saved `rstd` and `dOut`.
    public static func backward(x: Tensor, weight: Tensor, rstd: Tensor, dOut: Tensor) throws
        -> (dx: Tensor, dWeight: Tensor) {
        let (rows, d) = try check(x, weight: weight, op: "RMSNorm.backward")
        try rstd.expectShape([rows], "rstd", op: "RMSNorm.backward")
        try dOut.expectShape(x.shape, "dOut", op: "RMSNorm.backward")
        var dx = Tensor(zeros: x.shape), dw = Tensor(zeros: [d])
        x.data.withUnsafeBufferPointer { xb in
            weight.data.withUnsafeBufferPointer { wb in
                rstd.data.withUnsafeBufferPointer { rb in
                    dOut.data.withUnsafeBufferPointer { gb in
                        dx.data.withUnsafeMutableBufferPointer { db in
                            dw.data.withUnsafeMutableBufferPointer { dwb in
                                guard rows > 0 else { return }
                                backward(x: xb.baseAddress!, weight: wb.baseAddress!, rstd: rb.baseAddress!,
                                         dOut: gb.baseAddress!, dx: db.baseAddress!, dWeight: dwb.baseAddress!,
                                         rows: rows, dim: d)
                            }
                        }
                    }
                }
            }
        }
        return (dx, dw)
    }

    private static func check(_ x: Tensor, weight: Tensor, op: String) throws -> (rows: Int, dim: Int) {
        guard weight.rank == 1, weight.count > 0 else {
            throw TensorError.invalidArgument(op: op, detail: "weight has shape \(weight.shape), expected [d] with d ≥ 1")
        }
        guard let last = x.shape.last, last == weight.count else {
            throw TensorError.shapeMismatch(op: op, detail: "x has shape \(x.shape), expected last dimension \(weight.count)")
        }
        return (x.count / last, last)
    }
}

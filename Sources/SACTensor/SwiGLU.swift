/// SiLU and the SwiGLU gate of the Llama MLP: `h = silu(g) ⊙ u` with
/// `silu(g) = g / (1 + exp(−g))` (Float32, as PyTorch computes it).
///
/// The element-wise kernels read each element's inputs before writing its outputs, so any
/// output buffer may be the same buffer as any input (exact aliasing, not partial overlap).
public enum SwiGLU {
    /// `out[i] = silu(gate[i]) · up[i]` for `i < count`; `out` may equal `gate` or `up`.
    ///
    /// - Parameters:
    ///   - gate: `count` pre-activation values (`[T × ffn]` from the gate projection).
    ///   - up: `count` values of the up projection.
    ///   - out: `count` outputs.
    /// - Precondition: `count >= 0`.
    public static func forward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int
    ) {
        precondition(count >= 0, "SwiGLU.forward: negative count")
        let gs = UncheckedSendable(gate), us = UncheckedSendable(up), os = UncheckedSendable(out)
        Parallel.forRanges(count, grain: 1 << 14) { r in
            let g = gs.value, u = us.value, o = os.value
            var i = r.lowerBound
            while i + 16 <= r.upperBound {
                let gv = VecMath.load(g + i), uv = VecMath.load(u + i)
                VecMath.store(SiLU.silu(gv) * uv, o + i)
                i += 16
            }
            if i < r.upperBound { SiLU.tail(g + i, r.upperBound - i) { j, sv, _ in o[i + j] = sv * u[i + j] } }
        }
    }

    /// Gradients of `h = silu(g)·u`: `dGate = dOut·u·silu'(g)`, `dUp = dOut·silu(g)`, with
    /// `silu'(g) = σ(g)·(1 + g·(1 − σ(g)))`. Both outputs are overwritten; either may equal
    /// any input buffer.
    ///
    /// - Parameters:
    ///   - gate, up: the forward inputs (`count` values each).
    ///   - dOut: gradient with respect to `h`.
    ///   - dGate, dUp: gradients with respect to `gate` and `up`.
    public static func backward(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
        dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>, count: Int
    ) {
        precondition(count >= 0, "SwiGLU.backward: negative count")
        let gs = UncheckedSendable(gate), us = UncheckedSendable(up), ds = UncheckedSendable(dOut)
        let dgs = UncheckedSendable(dGate), dus = UncheckedSendable(dUp)
        Parallel.forRanges(count, grain: 1 << 14) { r in
            let g = gs.value, u = us.value, d = ds.value, dg = dgs.value, du = dus.value
            var i = r.lowerBound
            while i + 16 <= r.upperBound {
                let gv = VecMath.load(g + i), uv = VecMath.load(u + i), dv = VecMath.load(d + i)
                let (sv, dsv) = SiLU.siluAndDerivative(gv)
                VecMath.store(dv * uv * dsv, dg + i)
                VecMath.store(dv * sv, du + i)
                i += 16
            }
            if i < r.upperBound {
                SiLU.tail(g + i, r.upperBound - i) { j, sv, dsv in
                    let k = i + j
                    let dk = d[k], uk = u[k]
                    dg[k] = dk * uk * dsv
                    du[k] = dk * sv
                }
            }
        }
    }
}

extension SwiGLU {
    /// `silu(gate) ⊙ up` for tensors of the same shape (throws `TensorError.shapeMismatch`).
    public static func forward(gate: Tensor, up: Tensor) throws -> Tensor {
        try up.expectShape(gate.shape, "up", op: "SwiGLU.forward")
        var out = gate
        up.data.withUnsafeBufferPointer { ub in
            out.data.withUnsafeMutableBufferPointer { ob in
                guard let up = ub.baseAddress, let op = ob.baseAddress else { return }
                forward(gate: op, up: up, out: op, count: ob.count)
            }
        }
        return out
    }

    /// `(dGate, dUp)` for the forward inputs and `dOut` (all of one shape).
    public static func backward(gate: Tensor, up: Tensor, dOut: Tensor) throws -> (dGate: Tensor, dUp: Tensor) {
        try up.expectShape(gate.shape, "up", op: "SwiGLU.backward")
        try dOut.expectShape(gate.shape, "dOut", op: "SwiGLU.backward")
        var dg = Tensor(zeros: gate.shape), du = Tensor(zeros: gate.shape)
        gate.data.withUnsafeBufferPointer { gb in
            up.data.withUnsafeBufferPointer { ub in
                dOut.data.withUnsafeBufferPointer { db in
                    dg.data.withUnsafeMutableBufferPointer { dgb in
                        du.data.withUnsafeMutableBufferPointer { dub in
                            guard gb.count > 0 else { return }
                            backward(gate: gb.baseAddress!, up: ub.baseAddress!, dOut: db.baseAddress!,
                                     dGate: dgb.baseAddress!, dUp: dub.baseAddress!, count: gb.count)
                        }
                    }
                }
            }
        }
        return (dg, du)
    }
}

/// The SiLU activation `silu(x) = x / (1 + exp(−x)) = x·σ(x)`, standalone.
public enum SiLU {
    /// `out[i] = silu(x[i])`; `out` may equal `x`.
    public static func forward(x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0, "SiLU.forward: negative count")
        let xs = UncheckedSendable(x), os = UncheckedSendable(out)
        Parallel.forRanges(count, grain: 1 << 14) { r in
            let x = xs.value, o = os.value
            var i = r.lowerBound
            while i + 16 <= r.upperBound { VecMath.store(silu(VecMath.load(x + i)), o + i); i += 16 }
            if i < r.upperBound { tail(x + i, r.upperBound - i) { j, sv, _ in o[i + j] = sv } }
        }
    }

    /// `dx[i] = dOut[i] · silu'(x[i])` with `silu'(x) = σ(x)·(1 + x·(1 − σ(x)))`; `dx` may
    /// equal `x` or `dOut`.
    public static func backward(
        x: UnsafePointer<Float>, dOut: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        precondition(count >= 0, "SiLU.backward: negative count")
        let xs = UncheckedSendable(x), ds = UncheckedSendable(dOut), dxs = UncheckedSendable(dx)
        Parallel.forRanges(count, grain: 1 << 14) { r in
            let x = xs.value, d = ds.value, o = dxs.value
            var i = r.lowerBound
            while i + 16 <= r.upperBound {
                let (_, dsv) = siluAndDerivative(VecMath.load(x + i))
                VecMath.store(VecMath.load(d + i) * dsv, o + i)
                i += 16
            }
            if i < r.upperBound { tail(x + i, r.upperBound - i) { j, _, dsv in o[i + j] = d[i + j] * dsv } }
        }
    }

    /// `silu` of a Tensor (any shape).
    public static func forward(_ x: Tensor) -> Tensor {
        var y = x
        y.data.withUnsafeMutableBufferPointer { yb in
            if let p = yb.baseAddress { forward(x: p, out: p, count: yb.count) }
        }
        return y
    }

    /// Gradient with respect to `x` given `dOut` of the same shape (throws on mismatch).
    public static func backward(x: Tensor, dOut: Tensor) throws -> Tensor {
        try dOut.expectShape(x.shape, "dOut", op: "SiLU.backward")
        var dx = dOut
        x.data.withUnsafeBufferPointer { xb in
            dx.data.withUnsafeMutableBufferPointer { db in
                guard let xp = xb.baseAddress, let dp = db.baseAddress else { return }
                backward(x: xp, dOut: dp, dx: dp, count: db.count)
            }
        }
        return dx
    }

    /// `x / (1 + exp(−x))`, 16 lanes.
    @inline(__always) static func silu(_ x: SIMD16<Float>) -> SIMD16<Float> {
        x / (VecMath.exp(-x) + SIMD16(repeating: 1))
    }

    /// `(silu(x), silu'(x))`, 16 lanes.
    @inline(__always) static func siluAndDerivative(_ x: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
        let one = SIMD16<Float>(repeating: 1)
        let den = VecMath.exp(-x) + one
        let sig = one / den
        let s = x / den
        return (s, sig * (one + x * (one - sig)))
    }

    /// Runs `body(j, silu, silu')` for the `n < 16` tail values at `x` via one padded vector.
    @inline(__always) static func tail(
        _ x: UnsafePointer<Float>, _ n: Int, _ body: (Int, Float, Float) -> Void
    ) {
        var v = SIMD16<Float>()
        for j in 0..<n { v[j] = x[j] }
        let (sv, dsv) = siluAndDerivative(v)
        for j in 0..<n { body(j, sv[j], dsv[j]) }
    }
}

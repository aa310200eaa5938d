/// The residual connection `y += x`. Its backward is the identity: the gradient of the sum
/// flows unchanged into both branches, so callers add the incoming gradient to each.
public enum Residual {
    /// `y[i] += x[i]` for `i < count`, SIMD, threaded for large counts.
    ///
    /// - Precondition: `count >= 0`; `x` and `y` do not partially overlap (they may be equal,
    ///   which doubles `y`).
    public static func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        precondition(count >= 0, "Residual.add: negative count")
        if count < 1 << 16 { addSerial(y, x, count); return }
        let ys = UncheckedSendable(y), xs = UncheckedSendable(x)
        Parallel.forRanges(count, grain: 1 << 15) { r in
            addSerial(ys.value + r.lowerBound, xs.value + r.lowerBound, r.count)
        }
    }

    /// `y += x` on the caller's thread (used inside other threaded kernels).
    @inline(__always)
    static func addSerial(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        var j = 0
        while j + 32 <= n {
            VecMath.store(VecMath.load(y + j) + VecMath.load(x + j), y + j)
            VecMath.store(VecMath.load(y + j + 16) + VecMath.load(x + j + 16), y + j + 16)
            j += 32
        }
        while j + 16 <= n { VecMath.store(VecMath.load(y + j) + VecMath.load(x + j), y + j); j += 16 }
        while j < n { y[j] += x[j]; j += 1 }
    }

    /// `y += x` for tensors of the same shape; throws `TensorError.shapeMismatch` otherwise.
    public static func add(into y: inout Tensor, _ x: Tensor) throws {
        try x.expectShape(y.shape, "x", op: "Residual.add")
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                if let xp = xb.baseAddress, let yp = yb.baseAddress { add(yp, xp, count: xb.count) }
            }
        }
    }
}

/// Total L2 norm of the gradients of the parameters with `requiresGrad`, as if all of them
/// were concatenated into one vector: `sqrt(Σ_p Σ_i grad_p[i]²)`.
///
/// Squares are accumulated in Float64 (SIMD, split over `Parallel.threads` for large
/// tensors), so the result is accurate to about Float64 rounding before the final
/// conversion by the caller. Frozen parameters are ignored. Returns `+inf` or NaN when a
/// gradient holds one (or the sum overflows Float64, which Float32 inputs cannot).
public func gradNorm(_ params: [Parameter]) -> Double {
    var total = 0.0
    for p in params where p.requiresGrad {
        total += p.withGrad { g in sumOfSquares(g) }
    }
    return total.squareRoot()
}

/// Clips the gradients in place like `torch.nn.utils.clip_grad_norm_(params, maxNorm)`
/// (L2 norm) and returns the total norm **before** clipping, as Float32.
///
/// With `norm = gradNorm(params)` and `coef = maxNorm / (Float(norm) + 1e-6)` (Float32
/// arithmetic as in torch), the gradients of the parameters with `requiresGrad` are
/// multiplied by `coef` when `coef < 1`, and left alone otherwise.
///
/// Non-finite norm: when a gradient contains NaN or ±inf the norm is NaN or `+inf`; unlike
/// torch (which then multiplies every gradient by NaN) the gradients are left untouched
/// and the non-finite norm is returned. The caller must check `isFinite` and skip the
/// optimiser step (and zero the gradients) for that batch.
///
/// - Parameters:
///   - params: the parameters; frozen ones (`requiresGrad == false`) are ignored.
///   - maxNorm: the largest allowed total norm, `>= 0` (`+inf` only measures the norm).
/// - Throws: `TensorError.invalidArgument` when `maxNorm` is negative or NaN.
@discardableResult
public func clipGradNorm(_ params: [Parameter], maxNorm: Float) throws -> Float {
    guard maxNorm >= 0 else {
        throw TensorError.invalidArgument(op: "clipGradNorm", detail: "maxNorm = \(maxNorm), expected >= 0")
    }
    let norm = Float(gradNorm(params))
    guard norm.isFinite else { return norm }
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 { scaleGradients(params, by: coef) }
    return norm
}

/// Σ x[i]² in Float64, SIMD, threaded over `Parallel.threads` for large buffers.
private func sumOfSquares(_ x: UnsafeBufferPointer<Float>) -> Double {
    let n = x.count
    guard n > 0, let base = x.baseAddress else { return 0 }
    let grain = 1 << 16
    let parts = max(1, min(Parallel.threads, n / grain))
    if parts == 1 { return sumOfSquares(base, 0..<n) }
    var partial = [Double](repeating: 0, count: parts)
    partial.withUnsafeMutableBufferPointer { out in
        let o = out.baseAddress!
        Parallel.forEach(parts) { k in
            o[k] = sumOfSquares(base, (n * k / parts)..<(n * (k + 1) / parts))
        }
    }
    return partial.reduce(0, +)
}

/// Σ x[i]² over `range` in Float64: Float32 loads, widened to Float64 before the FMA.
@inline(__always)
private func sumOfSquares(_ x: UnsafePointer<Float>, _ range: Range<Int>) -> Double {
    var acc0 = SIMD8<Double>(), acc1 = SIMD8<Double>()
    var i = range.lowerBound
    let end = range.upperBound
    while i + 16 <= end {
        let a = SIMD8<Double>(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
        let b = SIMD8<Double>(UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<Float>.self))
        acc0 = acc0.addingProduct(a, a)
        acc1 = acc1.addingProduct(b, b)
        i += 16
    }
    var s = (acc0 + acc1).sum()
    while i < end {
        let d = Double(x[i])
        s += d * d
        i += 1
    }
    return s
}

/// Multiplies the gradient of every parameter with `requiresGrad` by `factor`, in place
/// (SIMD, threaded for large tensors). Frozen parameters are left alone.
public func scaleGradients(_ params: [Parameter], by factor: Float) {
    for p in params where p.requiresGrad {
        p.withMutableGrad { g in
            guard let base = g.baseAddress else { return }
            let n = g.count
            if n < (1 << 15) {
                scale(base, 0..<n, factor)
            } else {
                Parallel.forRanges(n, grain: 1 << 14) { r in scale(base, r, factor) }
            }
        }
    }
}

/// `x[i] *= factor` over `range`, 16 lanes at a time.
@inline(__always)
private func scale(_ x: UnsafeMutablePointer<Float>, _ range: Range<Int>, _ factor: Float) {
    let f = SIMD16<Float>(repeating: factor)
    var i = range.lowerBound
    let end = range.upperBound
    while i + 16 <= end {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(x + i).storeBytes(of: v * f, as: SIMD16<Float>.self)
        i += 16
    }
    while i < end {
        x[i] *= factor
        i += 1
    }
}

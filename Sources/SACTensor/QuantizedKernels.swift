extension QuantizedMatrix {
    /// Fused product with the quantised weights: `y[t, r] = Σ_c x[t, c] · W[r, c]`, that is
    /// `y = x · Wᵀ`, for a few tokens at a time (decoding).
    ///
    /// - `x`: `tokens × cols` Float32, row-major.
    /// - `y`: `tokens × rows` Float32, row-major, overwritten.
    ///
    /// The weights are never expanded to Float32 in memory: each block is decoded in registers
    /// (in a shuffle-free lane order matched by a permuted copy of `x` made once per call)
    /// once per group of up to 8 tokens and used for all of them (more tokens are processed in
    /// groups of 8). Scales are applied once per block (`Σ x·d·q = d·Σ x·q`); the offset terms
    /// (`m` of `q4_1`, `−8·d` of `q4_0`) use per-block sums of `x` computed once per call
    /// (`Σ x·m = m·Σ x`).
    /// Threaded over rows with `Parallel.forRanges`.
    /// Rounding: Float32 accumulation; the error is well below `1e-5 · Σ|x||w|`.
    /// Preconditions: `tokens >= 0`; `x` and `y` hold the sizes above and do not overlap.
    public func matmul(x: UnsafePointer<Float>, tokens: Int, y: UnsafeMutablePointer<Float>) {
        precondition(tokens >= 0, "tokens must be non-negative, got \(tokens)")
        if tokens == 0 || rows == 0 { return }
        let nb = blocksPerRow, c = cols, r = rows, rb = rowBytes, fmt = format
        if nb == 0 { y.initialize(repeating: 0, count: tokens * rows); return }

        // Per-block sums of x, [tokens × nb], for the offset terms of q4_0 and q4_1.
        var xsum: UnsafeMutablePointer<Float>? = nil
        if fmt != .q8_0 {
            let s = UnsafeMutablePointer<Float>.allocate(capacity: tokens * nb)
            for t in 0..<tokens {
                for b in 0..<nb { s[t * nb + b] = QuantMath.blockSum(x + t * c + b * 32) }
            }
            xsum = s
        }
        defer { xsum?.deallocate() }
        let sums = UnsafePointer(xsum)

        // x with every block's 32 values in the order the kernels decode weights (no shuffles
        // in the inner loop); a dot product is unchanged by a shared permutation.
        let xp = UnsafeMutablePointer<Float>.allocate(capacity: tokens * c)
        defer { xp.deallocate() }
        (fmt == .q8_0 ? QuantLevels.q8Order : QuantLevels.q4Order).withUnsafeBufferPointer { order in
            for base in stride(from: 0, to: tokens * c, by: 32) {
                for p in 0..<32 { xp[base + p] = x[base + order[p]] }
            }
        }

        bytes.withUnsafeBytes { raw in
            let w = raw.baseAddress!
            // At least ~24 KB of weights per thread, so that small matrices stay on one thread.
            let grain = max(1, 24_576 / max(1, rb))
            Parallel.forRanges(r, grain: grain) { range in
                let mins = UnsafeMutablePointer<Float>.allocate(capacity: nb)
                defer { mins.deallocate() }
                var t0 = 0
                while t0 < tokens {
                    let n = min(8, tokens - t0)
                    let job = QuantJob(
                        w: w, rowBytes: rb, nb: nb, rows: range, x: xp + t0 * c, cols: c,
                        xsum: sums.map { $0 + t0 * nb }, mins: mins, y: y + t0 * r, yStride: r)
                    switch fmt {
                    case .q8_0: QuantKernel.run(QuantDecodeQ8_0.self, n, job)
                    case .q4_0: QuantKernel.run(QuantDecodeQ4_0.self, n, job)
                    case .q4_1: QuantKernel.run(QuantDecodeQ4_1.self, n, job)
                    }
                    t0 += n
                }
            }
        }
    }

    /// `x · Wᵀ` for a `[tokens, cols]` (or `[cols]`) tensor; returns `[tokens, rows]`
    /// (or `[rows]`). Throws `TensorError.shapeMismatch` when the last dimension of `x` is not
    /// `cols` or `x` has rank other than 1 or 2.
    public func matmul(_ x: Tensor) throws -> Tensor {
        guard (x.rank == 1 || x.rank == 2), x.shape.last == cols else {
            throw TensorError.shapeMismatch(
                op: "QuantizedMatrix.matmul", detail: "x has shape \(x.shape), expected [tokens, \(cols)] or [\(cols)]")
        }
        let tokens = x.rank == 2 ? x.shape[0] : 1
        var y = Tensor(zeros: x.rank == 2 ? [tokens, rows] : [rows])
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                if let xb = xp.baseAddress, let yb = yp.baseAddress {
                    matmul(x: xb, tokens: tokens, y: yb)
                }
            }
        }
        return y
    }
}

/// One format's block decoding for the fused kernel.
protocol QuantBlockDecoder {
    static var blockBytes: Int { get }
    /// Whether blocks carry an offset `m` added to every weight (`q4_1`; `q4_0` as `−8·d`).
    static var hasMin: Bool { get }
    /// Integer levels of the 32 weights, in kernel order
    /// (`QuantLevels.q4Order` / `q8Order`).
    static func levels(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    static func scale(_ p: UnsafeRawPointer) -> Float
    static func offset(_ p: UnsafeRawPointer) -> Float
}

enum QuantDecodeQ8_0: QuantBlockDecoder {
    static var blockBytes: Int { 34 }
    static var hasMin: Bool { false }
    @inline(__always) static func levels(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        QuantLevels.q8Kernel(p + 2)
    }
    @inline(__always) static func scale(_ p: UnsafeRawPointer) -> Float { quantHalf(p) }
    @inline(__always) static func offset(_ p: UnsafeRawPointer) -> Float { 0 }
}

/// `q4_0` as raw levels 0…15 with the block offset `−8·d` (exact), so that centring costs
/// one scalar per block instead of four vector subtractions: `Σ x·d(q − 8) = d·Σ x·q − 8d·Σ x`.
enum QuantDecodeQ4_0: QuantBlockDecoder {
    static var blockBytes: Int { 18 }
    static var hasMin: Bool { true }
    @inline(__always) static func levels(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        QuantLevels.q4Kernel(p + 2)
    }
    @inline(__always) static func scale(_ p: UnsafeRawPointer) -> Float { quantHalf(p) }
    @inline(__always) static func offset(_ p: UnsafeRawPointer) -> Float { -8 * quantHalf(p) }
}

enum QuantDecodeQ4_1: QuantBlockDecoder {
    static var blockBytes: Int { 20 }
    static var hasMin: Bool { true }
    @inline(__always) static func levels(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        QuantLevels.q4Kernel(p + 4)
    }
    @inline(__always) static func scale(_ p: UnsafeRawPointer) -> Float { quantHalf(p) }
    @inline(__always) static func offset(_ p: UnsafeRawPointer) -> Float { quantHalf(p + 2) }
}

/// Compile-time token counts 1…8, so that the per-token accumulators live in registers.
protocol QuantTokens { static var n: Int { get } }
enum QuantTokens1: QuantTokens { static var n: Int { 1 } }
enum QuantTokens2: QuantTokens { static var n: Int { 2 } }
enum QuantTokens3: QuantTokens { static var n: Int { 3 } }
enum QuantTokens4: QuantTokens { static var n: Int { 4 } }
enum QuantTokens5: QuantTokens { static var n: Int { 5 } }
enum QuantTokens6: QuantTokens { static var n: Int { 6 } }
enum QuantTokens7: QuantTokens { static var n: Int { 7 } }
enum QuantTokens8: QuantTokens { static var n: Int { 8 } }

/// Arguments of one kernel call: rows `rows` of the matrix at `w` against up to 8 tokens.
struct QuantJob {
    var w: UnsafeRawPointer
    var rowBytes: Int
    var nb: Int
    var rows: Range<Int>
    /// First token's row of x; token `t` starts at `x + t · cols`.
    var x: UnsafePointer<Float>
    var cols: Int
    /// Block sums of x (formats with an offset), token `t` at `xsum + t · nb`.
    var xsum: UnsafePointer<Float>?
    /// Scratch for one row's block offsets, `nb` floats.
    var mins: UnsafeMutablePointer<Float>
    /// First token's row of y; token `t`, row `r` at `y[t · yStride + r]`.
    var y: UnsafeMutablePointer<Float>
    var yStride: Int
}

enum QuantKernel {
    static func run<D: QuantBlockDecoder>(_ d: D.Type, _ n: Int, _ job: QuantJob) {
        switch n {
        case 1: rows(d, QuantTokens1.self, job)
        case 2: rows(d, QuantTokens2.self, job)
        case 3: rows(d, QuantTokens3.self, job)
        case 4: rows(d, QuantTokens4.self, job)
        case 5: rows(d, QuantTokens5.self, job)
        case 6: rows(d, QuantTokens6.self, job)
        case 7: rows(d, QuantTokens7.self, job)
        case 8: rows(d, QuantTokens8.self, job)
        default: preconditionFailure("token group of \(n)")
        }
    }

    /// Σ over one block of x[0..<32] · levels, as a SIMD8 partial sum.
    @inline(__always)
    static func dot(
        _ x: UnsafePointer<Float>,
        _ q: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    ) -> SIMD8<Float> {
        let xr = UnsafeRawPointer(x)
        var p = xr.loadUnaligned(as: SIMD8<Float>.self) * q.0
        p = p.addingProduct(xr.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), q.1)
        p = p.addingProduct(xr.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self), q.2)
        p = p.addingProduct(xr.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self), q.3)
        return p
    }

    static func rows<D: QuantBlockDecoder, N: QuantTokens>(_: D.Type, _: N.Type, _ job: QuantJob) {
        let n = N.n, nb = job.nb, cols = job.cols
        let x = job.x, mins = job.mins
        for r in job.rows {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            var blk = job.w + r * job.rowBytes
            var xb = x
            for b in 0..<nb {
                let q = D.levels(blk)
                let d = SIMD8<Float>(repeating: D.scale(blk))
                if D.hasMin { mins[b] = D.offset(blk) }
                a0 = a0.addingProduct(dot(xb, q), d)
                if n > 1 { a1 = a1.addingProduct(dot(xb + cols, q), d) }
                if n > 2 { a2 = a2.addingProduct(dot(xb + 2 * cols, q), d) }
                if n > 3 { a3 = a3.addingProduct(dot(xb + 3 * cols, q), d) }
                if n > 4 { a4 = a4.addingProduct(dot(xb + 4 * cols, q), d) }
                if n > 5 { a5 = a5.addingProduct(dot(xb + 5 * cols, q), d) }
                if n > 6 { a6 = a6.addingProduct(dot(xb + 6 * cols, q), d) }
                if n > 7 { a7 = a7.addingProduct(dot(xb + 7 * cols, q), d) }
                blk += D.blockBytes
                xb += 32
            }
            let acc = (a0, a1, a2, a3, a4, a5, a6, a7)
            withUnsafeBytes(of: acc) { accBytes in
                for t in 0..<n {
                    var s = accBytes.load(fromByteOffset: t * 32, as: SIMD8<Float>.self).sum()
                    if D.hasMin, let xs = job.xsum {
                        s += QuantMath.dot(UnsafePointer(mins), xs + t * nb, nb)
                    }
                    job.y[t * job.yStride + r] = s
                }
            }
        }
    }
}

/// Small reductions for the quantised kernels.
enum QuantMath {
    /// Σ x[0..<32].
    @inline(__always)
    static func blockSum(_ x: UnsafePointer<Float>) -> Float {
        let xr = UnsafeRawPointer(x)
        let s = xr.loadUnaligned(as: SIMD8<Float>.self) + xr.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
            + xr.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
            + xr.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
        return s.sum()
    }

    /// Σ a[i]·b[i] for i in 0..<n.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        let ar = UnsafeRawPointer(a), br = UnsafeRawPointer(b)
        while i + 8 <= n {
            acc = acc.addingProduct(
                ar.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self),
                br.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
            i += 8
        }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }
}

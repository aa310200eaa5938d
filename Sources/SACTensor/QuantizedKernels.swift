import SACIntrinsics

extension QuantizedMatrix {
    /// Fused product with the quantised weights: `y[t, r] = Σ_c x[t, c] · W[r, c]`, that is
    /// `y = x · Wᵀ`, for a few tokens at a time (decoding).
    ///
    /// - `x`: `tokens × cols` Float32, row-major.
    /// - `y`: `tokens × rows` Float32, row-major, overwritten.
    ///
    /// The weights are never expanded to Float32 in memory: each block is decoded in registers
    /// (`vpmovzxbd`/`vpmovsxbd` straight from the block, then `vcvtdq2ps`, in the blocks'
    /// natural order) once per group of up to 8 tokens and used for all of them (more tokens
    /// are processed in groups of 8). Scales are applied once per block (`Σ x·d·q = d·Σ x·q`);
    /// the offset terms (`m` of `q4_1`, `−8·d` of `q4_0`) use per-block sums of `x` computed
    /// once per call (`Σ x·m = m·Σ x`).
    /// Threaded over rows with `Parallel.forRanges`.
    /// Rounding: Float32 accumulation; the error is well below `1e-5 · Σ|x||w|`.
    /// Preconditions: `tokens >= 0`; `x` and `y` hold the sizes above and do not overlap.
    public func matmul(x: UnsafePointer<Float>, tokens: Int, y: UnsafeMutablePointer<Float>) {
        precondition(tokens >= 0, "tokens must be non-negative, got \(tokens)")
        if tokens == 0 || rows == 0 { return }
        let nb = blocksPerRow, c = cols, r = rows, rb = rowBytes, fmt = format
        if nb == 0 { y.initialize(repeating: 0, count: tokens * rows); return }

        // Per-block sums of x, [tokens × nb], for the offset terms of q4_0 and q4_1.
        let xsum = fmt == .q8_0 ? nil : QuantMath.blockSums(x, tokens: tokens, cols: c)
        defer { xsum?.deallocate() }
        let sums = UnsafePointer(xsum)

        bytes.withUnsafeBytes { raw in
            let w = raw.baseAddress!
            Parallel.forRanges(r, grain: QuantMath.rowGrain(rowBytes: rb)) { range in
                let mins = UnsafeMutablePointer<Float>.allocate(capacity: nb)
                defer { mins.deallocate() }
                var t0 = 0
                while t0 < tokens {
                    let n = min(8, tokens - t0)
                    let job = QuantJob(
                        w: w, rowBytes: rb, nb: nb, rows: range, x: x + t0 * c, cols: c,
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
        try QuantMath.product(x, rows: rows, cols: cols, op: "QuantizedMatrix.matmul") { matmul(x: $0, tokens: $1, y: $2) }
    }
}

/// One format's block decoding for the fused kernel.
protocol QuantBlockDecoder {
    static var blockBytes: Int { get }
    /// Whether blocks carry an offset `m` added to every weight (`q4_1`; `q4_0` as `−8·d`).
    static var hasMin: Bool { get }
    /// Integer levels of the 32 weights in natural order (weights 0–7, 8–15, 16–23, 24–31).
    static func levels(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    /// The block's scale `d` and offset (0 without one).
    static func scaleOffset(_ p: UnsafeRawPointer) -> (Float, Float)
}

enum QuantDecodeQ8_0: QuantBlockDecoder {
    static var blockBytes: Int { 34 }
    static var hasMin: Bool { false }
    @inline(__always) static func levels(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        QuantLevels.q8(p + 2)
    }
    @inline(__always) static func scaleOffset(_ p: UnsafeRawPointer) -> (Float, Float) { (quantHalf(p), 0) }
}

/// `q4_0` as raw levels 0…15 with the block offset `−8·d` (exact), so that centring costs
/// one scalar per block instead of four vector subtractions: `Σ x·d(q − 8) = d·Σ x·q − 8d·Σ x`.
enum QuantDecodeQ4_0: QuantBlockDecoder {
    static var blockBytes: Int { 18 }
    static var hasMin: Bool { true }
    @inline(__always) static func levels(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        QuantLevels.q4(p + 2, bias: 0)
    }
    @inline(__always) static func scaleOffset(_ p: UnsafeRawPointer) -> (Float, Float) {
        let d = quantHalf(p)
        return (d, -8 * d)
    }
}

enum QuantDecodeQ4_1: QuantBlockDecoder {
    static var blockBytes: Int { 20 }
    static var hasMin: Bool { true }
    @inline(__always) static func levels(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        QuantLevels.q4(p + 4, bias: 0)
    }
    @inline(__always) static func scaleOffset(_ p: UnsafeRawPointer) -> (Float, Float) {
        let dm = halfPair(p)
        return (dm[0], dm[1])
    }
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

    /// Even and odd blocks go to separate accumulators (`a += p·d` for even blocks, `b += p·d`
    /// for odd ones, one rounding per block, `a + b` at the end), so that no accumulator waits
    /// on the previous block; every token's arithmetic is the same whatever the group size, so
    /// a row's result does not depend on the batch.
    static func rows<D: QuantBlockDecoder, N: QuantTokens>(_: D.Type, _: N.Type, _ job: QuantJob) {
        let n = N.n, nb = job.nb, cols = job.cols, bb = D.blockBytes
        let x = job.x, mins = job.mins
        for r in job.rows {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
            var b4 = SIMD8<Float>(), b5 = SIMD8<Float>(), b6 = SIMD8<Float>(), b7 = SIMD8<Float>()
            var blk = job.w + r * job.rowBytes
            var xb = x
            var b = 0
            while b < nb {
                let pair = b + 1 < nb
                let q0 = D.levels(blk), q1 = D.levels(pair ? blk + bb : blk)
                let (scale0, offset0) = D.scaleOffset(blk)
                let (scale1, offset1) = pair ? D.scaleOffset(blk + bb) : (0, 0)
                let d0 = SIMD8<Float>(repeating: scale0), d1 = SIMD8<Float>(repeating: scale1)
                if D.hasMin {
                    mins[b] = offset0
                    if pair { mins[b + 1] = offset1 }
                }
                @inline(__always) func add(_ t: Int, _ even: inout SIMD8<Float>, _ odd: inout SIMD8<Float>) {
                    let x0 = xb + t * cols
                    even = even.addingProduct(dot(x0, q0), d0)
                    if pair { odd = odd.addingProduct(dot(x0 + 32, q1), d1) }
                }
                add(0, &a0, &b0)
                if n > 1 { add(1, &a1, &b1) }
                if n > 2 { add(2, &a2, &b2) }
                if n > 3 { add(3, &a3, &b3) }
                if n > 4 { add(4, &a4, &b4) }
                if n > 5 { add(5, &a5, &b5) }
                if n > 6 { add(6, &a6, &b6) }
                if n > 7 { add(7, &a7, &b7) }
                let step = pair ? 2 : 1
                blk += step * bb
                xb += step * 32
                b += step
            }
            a0 += b0; a1 += b1; a2 += b2; a3 += b3; a4 += b4; a5 += b5; a6 += b6; a7 += b7
            QuantMath.storeRow(
                (a0, a1, a2, a3, a4, a5, a6, a7), tokens: n, row: r, offsets: D.hasMin ? UnsafePointer(mins) : nil,
                xsum: job.xsum, nb: nb, y: job.y, yStride: job.yStride)
        }
    }
}

/// Small reductions for the quantised kernels.
enum QuantMath {
    /// Rows per parallel task: at least ~24 KB of weights per thread, so that small matrices
    /// stay on one thread.
    @inline(__always)
    static func rowGrain(rowBytes: Int) -> Int { max(1, 24_576 / max(1, rowBytes)) }

    /// Writes row `r` of the first `tokens` outputs, `y[t·yStride + r]`: the lanes of
    /// accumulator `t` summed, plus `Σ_b offsets[b]·xsum[t·nb + b]` when the blocks carry offsets.
    @inline(__always)
    static func storeRow(
        _ acc: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>),
        tokens: Int, row r: Int, offsets: UnsafePointer<Float>?, xsum: UnsafePointer<Float>?, nb: Int,
        y: UnsafeMutablePointer<Float>, yStride: Int
    ) {
        withUnsafeBytes(of: acc) { accBytes in
            for t in 0..<tokens {
                var s = sum(accBytes.load(fromByteOffset: t * 32, as: SIMD8<Float>.self))
                if let offsets, let xsum { s += dot(offsets, xsum + t * nb, nb) }
                y[t * yStride + r] = s
            }
        }
    }

    /// Largest lane.
    @inline(__always)
    static func largest(_ v: SIMD8<Float>) -> Float {
        let h = maxima4(v.lowHalf, v.highHalf)
        return Swift.max(Swift.max(h[0], h[1]), Swift.max(h[2], h[3]))
    }

    @inline(__always)
    static func maxima4(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
        SIMD4(Swift.max(a[0], b[0]), Swift.max(a[1], b[1]), Swift.max(a[2], b[2]), Swift.max(a[3], b[3]))
    }

    /// Σ of the 8 lanes as a pairwise tree.
    @inline(__always)
    static func sum(_ v: SIMD8<Float>) -> Float {
        let h = v.lowHalf + v.highHalf, q = h.lowHalf + h.highHalf
        return q[0] + q[1]
    }

    /// `x · Wᵀ` for a `[tokens, cols]` (or `[cols]`) tensor through the pointer product
    /// `product(x, tokens, y)`; returns `[tokens, rows]` (or `[rows]`). Throws
    /// `TensorError.shapeMismatch` (naming `op`) when the last dimension of `x` is not `cols` or
    /// `x` has rank other than 1 or 2.
    static func product(
        _ x: Tensor, rows: Int, cols: Int, op: String,
        _ product: (UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void
    ) throws -> Tensor {
        guard (x.rank == 1 || x.rank == 2), x.shape.last == cols else {
            throw TensorError.shapeMismatch(
                op: op, detail: "x has shape \(x.shape), expected [tokens, \(cols)] or [\(cols)]")
        }
        let tokens = x.rank == 2 ? x.shape[0] : 1
        var y = Tensor(zeros: x.rank == 2 ? [tokens, rows] : [rows])
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                if let xb = xp.baseAddress, let yb = yp.baseAddress { product(xb, tokens, yb) }
            }
        }
        return y
    }

    /// The block sums of `tokens` rows of `x` (`tokens × cols`, cols a multiple of 32), for
    /// the offset terms of `q4_0` and `q4_1`: a new `[tokens × cols/32]` buffer (the caller
    /// deallocates it), token `t`'s block `b` at `t · cols/32 + b`, each as `blockSum` takes it.
    static func blockSums(_ x: UnsafePointer<Float>, tokens: Int, cols: Int) -> UnsafeMutablePointer<Float> {
        let nb = cols / 32
        let s = UnsafeMutablePointer<Float>.allocate(capacity: max(1, tokens * nb))
        for t in 0..<tokens {
            for b in 0..<nb { s[t * nb + b] = blockSum(x + t * cols + b * 32) }
        }
        return s
    }

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

import SACIntrinsics

/// Activations quantised to 8 bits per block of 32 values, as ggml's `Q8_1` does for
/// llama.cpp's quantised products: for block `b` of token `t`, `d = max|x| / 127`,
/// `q = round(x / d)` (ties to even, as ggml's AVX2 path) in −127…127, and `s = d · Σ q`.
/// `x ≈ d · q` with an error of at most `d / 2` per value.
public struct Q8Activations {
    /// Values per block.
    public static let block = 32
    public let tokens: Int
    public let cols: Int
    /// `tokens × cols` levels.
    public private(set) var q: [Int8]
    /// `tokens × cols/32` scales.
    public private(set) var d: [Float]
    /// `tokens × cols/32` block sums `d · Σ q`.
    public private(set) var s: [Float]

    /// Quantises `tokens × cols` Float32 values (`cols` a multiple of 32). Non-finite values
    /// give a non-finite scale, so that a product with them is not finite either.
    public init(_ x: UnsafePointer<Float>, tokens: Int, cols: Int) {
        precondition(tokens >= 0 && cols >= 0 && cols % 32 == 0, "Q8Activations: \(tokens) × \(cols)")
        self.tokens = tokens
        self.cols = cols
        let nb = cols / 32
        var q = [Int8](repeating: 0, count: tokens * cols)
        var d = [Float](repeating: 0, count: tokens * nb), s = d
        q.withUnsafeMutableBytes { qp in
            let qb = qp.baseAddress!
            for blockIndex in 0..<(tokens * nb) {
                let xb = UnsafeRawPointer(x + blockIndex * 32)
                let v0 = xb.loadUnaligned(as: SIMD8<Float>.self)
                let v1 = xb.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                let v2 = xb.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                let v3 = xb.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                var m = QuantMath.largest(maxima(maxima(magnitudes(v0), magnitudes(v1)), maxima(magnitudes(v2), magnitudes(v3))))
                // NaN and ±∞ (which the maximum may not surface) show in the plain sum.
                if !m.isFinite || !QuantMath.sum(v0 + v1 + v2 + v3).isFinite { m = .nan }
                let scale = m / 127
                let inverse = SIMD8<Float>(repeating: scale > 0 ? 1 / scale : 0)
                let out = qb + blockIndex * 32
                // |v · inverse| ≤ 127 up to rounding; the clamp also turns NaN lanes (a
                // non-finite block, whose scale is NaN) into a defined level.
                @inline(__always) func levels(_ v: SIMD8<Float>, _ k: Int) -> SIMD8<Int32> {
                    let l = nearestIntegers(maxima(minima(v * inverse, SIMD8(repeating: 127)), SIMD8(repeating: -127)))
                    out.storeBytes(of: truncatedBytes(l), toByteOffset: 8 * k, as: SIMD8<Int8>.self)
                    return l
                }
                let total = levels(v0, 0) &+ levels(v1, 1) &+ levels(v2, 2) &+ levels(v3, 3)
                d[blockIndex] = scale
                s[blockIndex] = scale * Float(total.wrappedSum())
            }
        }
        self.q = q
        self.d = d
        self.s = s
    }

    /// The quantised values `d · q` as Float32 (`tokens × cols`).
    public func dequantized() -> [Float] {
        (0..<(tokens * cols)).map { i in d[i / 32] * Float(q[i]) }
    }
}

extension QuantizedMatrix {
    /// `y = x · Wᵀ` with `x` quantised to 8 bits per block (`Q8Activations`) and integer dot
    /// products per block (`vpmaddubsw` + `vpmaddwd` on x86-64), as llama.cpp computes its
    /// quantised products: about 2× the fused Float32 `matmul(x:tokens:y:)` on AVX2, at the
    /// cost of the activations' quantisation error (relative error per value ≤ 1/254 of its
    /// block's largest magnitude). Each token's row depends only on that token.
    ///
    /// Exact to Float32 rounding for the quantised activations: the per-block integer sums are
    /// exact, then scaled by `d_w · d_x` and accumulated in Float32, plus `m_w · s_x` for the
    /// offsets (`m` of `q4_1`, `−8·d` of `q4_0`).
    /// Shapes as for `matmul(x:tokens:y:)`.
    public func matmulQ8(x: UnsafePointer<Float>, tokens: Int, y: UnsafeMutablePointer<Float>) {
        precondition(tokens >= 0, "tokens must be non-negative, got \(tokens)")
        if tokens == 0 || rows == 0 { return }
        if blocksPerRow == 0 { y.initialize(repeating: 0, count: tokens * rows); return }
        matmul(Q8Activations(x, tokens: tokens, cols: cols), y: y)
    }

    /// `y = x · Wᵀ` for already quantised activations (`x.cols == cols`).
    public func matmul(_ x: Q8Activations, y: UnsafeMutablePointer<Float>) {
        precondition(x.cols == cols, "Q8Activations has \(x.cols) columns, the matrix \(cols)")
        let tokens = x.tokens, nb = blocksPerRow, c = cols, r = rows, rb = rowBytes, fmt = format
        if tokens == 0 || r == 0 { return }
        x.q.withUnsafeBytes { qRaw in
            x.d.withUnsafeBufferPointer { dBuf in
                x.s.withUnsafeBufferPointer { sBuf in
                    bytes.withUnsafeBytes { raw in
                        let w = raw.baseAddress!, xq = qRaw.baseAddress!
                        let xd = dBuf.baseAddress!, xs = sBuf.baseAddress!
                        Parallel.forRanges(r, grain: QuantMath.rowGrain(rowBytes: rb)) { range in
                            let mins = UnsafeMutablePointer<Float>.allocate(capacity: nb)
                            defer { mins.deallocate() }
                            var t0 = 0
                            while t0 < tokens {
                                let n = min(8, tokens - t0)
                                let job = Q8Job(
                                    w: w, rowBytes: rb, nb: nb, rows: range, xq: xq + t0 * c, cols: c,
                                    xd: xd + t0 * nb, xs: xs + t0 * nb, mins: mins, y: y + t0 * r, yStride: r)
                                switch fmt {
                                case .q8_0: Q8Kernel.run(Q8WeightsQ8_0.self, n, job)
                                case .q4_0: Q8Kernel.run(Q8WeightsQ4_0.self, n, job)
                                case .q4_1: Q8Kernel.run(Q8WeightsQ4_1.self, n, job)
                                }
                                t0 += n
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Arguments of one `Q8Kernel` call: rows `rows` of the matrix at `w` against up to 8 tokens.
struct Q8Job {
    var w: UnsafeRawPointer
    var rowBytes: Int
    var nb: Int
    var rows: Range<Int>
    /// Levels of the first token; token `t` at `xq + t · cols`.
    var xq: UnsafeRawPointer
    var cols: Int
    /// Scales and block sums of the first token; token `t` at `+ t · nb`.
    var xd: UnsafePointer<Float>
    var xs: UnsafePointer<Float>
    /// Scratch for one row's block offsets, `nb` floats.
    var mins: UnsafeMutablePointer<Float>
    var y: UnsafeMutablePointer<Float>
    var yStride: Int
}

/// One weight format for `Q8Kernel`: the block's 32 weights prepared once for the integer
/// dot product with any number of tokens' levels.
protocol Q8Weights {
    associatedtype Prepared
    static var blockBytes: Int { get }
    static var hasMin: Bool { get }
    static func prepare(_ p: UnsafeRawPointer) -> Prepared
    static func scaleOffset(_ p: UnsafeRawPointer) -> (Float, Float)
    /// `Σ_i w_i · x_i` over the block, as 8 `Int32` partial sums, exact.
    static func dot(_ w: Prepared, _ x: UnsafeRawPointer) -> SIMD8<Int32>
}

/// Nibble blocks (`q4_0`, `q4_1`): the 32 levels 0…15 as unsigned bytes in natural order.
@inline(__always)
func q8NibbleBytes(_ p: UnsafeRawPointer) -> SIMD32<UInt8> {
    let v = p.loadUnaligned(as: SIMD16<UInt8>.self)
    return SIMD32<UInt8>(lowHalf: v & 0xF, highHalf: v &>> 4)
}

@inline(__always)
func q8UnsignedDot(_ w: SIMD32<UInt8>, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
    #if arch(x86_64)
    // Products ≤ 15·127 (or 128·127): no pair reaches Int16's saturation.
    return multiplyAddPairs(multiplyAddPairs(w, x.loadUnaligned(as: SIMD32<Int8>.self)), SIMD16<Int16>(repeating: 1))
    #else
    return q8PortableDot(w, x)
    #endif
}

#if !arch(x86_64)
/// `Σ_i w_i · x_i` over one block, exact, for targets without the x86 instructions.
@inline(__always)
func q8PortableDot<S: FixedWidthInteger & SIMDScalar>(_ w: SIMD32<S>, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
    var acc = SIMD8<Int32>()
    let xb = x.assumingMemoryBound(to: Int8.self)
    for i in 0..<32 { acc[i & 7] &+= Int32(w[i]) &* Int32(xb[i]) }
    return acc
}
#endif

enum Q8WeightsQ4_1: Q8Weights {
    static var blockBytes: Int { 20 }
    static var hasMin: Bool { true }
    @inline(__always) static func prepare(_ p: UnsafeRawPointer) -> SIMD32<UInt8> { q8NibbleBytes(p + 4) }
    @inline(__always) static func scaleOffset(_ p: UnsafeRawPointer) -> (Float, Float) {
        let dm = halfPair(p)
        return (dm[0], dm[1])
    }
    @inline(__always) static func dot(_ w: SIMD32<UInt8>, _ x: UnsafeRawPointer) -> SIMD8<Int32> { q8UnsignedDot(w, x) }
}

enum Q8WeightsQ4_0: Q8Weights {
    static var blockBytes: Int { 18 }
    static var hasMin: Bool { true }
    @inline(__always) static func prepare(_ p: UnsafeRawPointer) -> SIMD32<UInt8> { q8NibbleBytes(p + 2) }
    @inline(__always) static func scaleOffset(_ p: UnsafeRawPointer) -> (Float, Float) {
        let d = quantHalf(p)
        return (d, -8 * d)
    }
    @inline(__always) static func dot(_ w: SIMD32<UInt8>, _ x: UnsafeRawPointer) -> SIMD8<Int32> { q8UnsignedDot(w, x) }
}

/// `q8_0` weights: signed × signed through `|w|` (unsigned) times `x` carrying `w`'s sign.
enum Q8WeightsQ8_0: Q8Weights {
    static var blockBytes: Int { 34 }
    static var hasMin: Bool { false }
    @inline(__always) static func prepare(_ p: UnsafeRawPointer) -> SIMD32<Int8> { p.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self) }
    @inline(__always) static func scaleOffset(_ p: UnsafeRawPointer) -> (Float, Float) { (quantHalf(p), 0) }
    @inline(__always) static func dot(_ w: SIMD32<Int8>, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        #if arch(x86_64)
        let magnitude = unsafeBitCast(applyingSign(w, of: w), to: SIMD32<UInt8>.self)
        let signed = applyingSign(x.loadUnaligned(as: SIMD32<Int8>.self), of: w)
        return multiplyAddPairs(multiplyAddPairs(magnitude, signed), SIMD16<Int16>(repeating: 1))
        #else
        return q8PortableDot(w, x)
        #endif
    }
}

enum Q8Kernel {
    static func run<W: Q8Weights>(_ w: W.Type, _ n: Int, _ job: Q8Job) {
        switch n {
        case 1: rows(w, QuantTokens1.self, job)
        case 2: rows(w, QuantTokens2.self, job)
        case 3: rows(w, QuantTokens3.self, job)
        case 4: rows(w, QuantTokens4.self, job)
        case 5: rows(w, QuantTokens5.self, job)
        case 6: rows(w, QuantTokens6.self, job)
        case 7: rows(w, QuantTokens7.self, job)
        case 8: rows(w, QuantTokens8.self, job)
        default: preconditionFailure("token group of \(n)")
        }
    }

    /// Blocks go in pairs, `acc += (p₀·s₀ + p₁·s₁)`, so that each token's accumulator waits
    /// on one addition per two blocks; every token's arithmetic is the same whatever the group
    /// size, so a row's result does not depend on the batch.
    static func rows<W: Q8Weights, N: QuantTokens>(_: W.Type, _: N.Type, _ job: Q8Job) {
        let n = N.n, nb = job.nb, cols = job.cols, mins = job.mins
        let xd = job.xd, bb = W.blockBytes
        for r in job.rows {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            var blk = job.w + r * job.rowBytes
            var xb = job.xq
            var b = 0
            while b < nb {
                let pair = b + 1 < nb
                let w0 = W.prepare(blk), w1 = W.prepare(pair ? blk + bb : blk)
                let (scale0, offset0) = W.scaleOffset(blk)
                let (scale1, offset1) = pair ? W.scaleOffset(blk + bb) : (0, 0)
                if W.hasMin {
                    mins[b] = offset0
                    if pair { mins[b + 1] = offset1 }
                }
                @inline(__always) func term(_ t: Int) -> SIMD8<Float> {
                    let x0 = xb + t * cols
                    let u = floats(W.dot(w0, x0)) * SIMD8<Float>(repeating: scale0 * xd[t * nb + b])
                    if !pair { return u }
                    return u.addingProduct(floats(W.dot(w1, x0 + 32)), SIMD8<Float>(repeating: scale1 * xd[t * nb + b + 1]))
                }
                a0 += term(0)
                if n > 1 { a1 += term(1) }
                if n > 2 { a2 += term(2) }
                if n > 3 { a3 += term(3) }
                if n > 4 { a4 += term(4) }
                if n > 5 { a5 += term(5) }
                if n > 6 { a6 += term(6) }
                if n > 7 { a7 += term(7) }
                let step = pair ? 2 : 1
                blk += step * bb
                xb += step * 32
                b += step
            }
            QuantMath.storeRow(
                (a0, a1, a2, a3, a4, a5, a6, a7), tokens: n, row: r, offsets: W.hasMin ? UnsafePointer(mins) : nil,
                xsum: job.xs, nb: nb, y: job.y, yStride: job.yStride)
        }
    }
}

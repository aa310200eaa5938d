import SACIntrinsics

/// A block-quantised matrix rearranged into panels of 8 rows, for products `y = x · Wᵀ` whose
/// every output is computed with the same arithmetic however many tokens are multiplied at
/// once: a sequence decoded alone and the same sequence among 15 others get bit-identical
/// logits, while many tokens share each decoded block (batched decoding at near-GEMM rate).
///
/// The fused kernels of `QuantizedMatrix.matmul` reduce along a row (lanes are columns, a
/// horizontal sum at the end), so each token's multiply–adds are separate work; here the
/// lanes are 8 rows and the columns are walked in order, so one decoded level vector serves
/// every token in the group with one broadcast and one FMA.
///
/// Layout (`bytes`): for each group of rows `8g ..< 8g + 8` (the last one padded with zero
/// rows), for each block `b` of columns `32b ..< 32b + 32`, one panel block of
/// `blockBytes(format)` bytes, the same bytes as the ggml blocks (rearranged):
/// - the 8 rows' scales `d` as the file's f16 (16 bytes);
/// - `q4_1`: the 8 rows' offsets `m` as f16 (16 bytes); `q4_0` leaves these 16 bytes unused
///   (its offset is `−8·d`, exact), so that both 4-bit formats share one layout and decoder;
/// - `q4_0`, `q4_1`: 16 × 8 bytes, byte `8j + r` being byte `j` of row `r`'s ggml nibbles (low
///   nibble: weight `j`, high nibble: weight `j + 16`), 160 bytes a panel block in all;
/// - `q8_0`: 32 × 8 `Int8`, byte `8k + r` being row `r`'s level `k`: 272 bytes in all.
///
/// Arithmetic of one output `y[t, r]`, the same for every token count, group and thread
/// split: for each block, two chains of FMAs in column order, `lo` over columns 0…15 and `hi`
/// over 16…31 (`x[t, k] · level[r, k]`, from 0), then `acc = fma(lo + hi, d, acc)` and, with
/// offsets, `acc = fma(Σ_k x[t, k], offset, acc)` (the block's sum of `x` as
/// `QuantMath.blockSum` takes it), blocks in order from `acc = 0`.
public struct QuantizedPanels: Sendable {
    public let format: QuantFormat
    public let rows: Int
    public let cols: Int
    let bytes: [UInt8]

    /// Bytes of one panel block (8 rows × 32 columns).
    @inlinable public static func blockBytes(_ format: QuantFormat) -> Int {
        format == .q8_0 ? 16 + 256 : 32 + 128
    }
    /// Groups of 8 rows, `⌈rows / 8⌉`.
    public var groups: Int { (rows + 7) / 8 }
    var blocksPerRow: Int { cols / QuantFormat.blockWeights }
    var groupBytes: Int { blocksPerRow * Self.blockBytes(format) }
    /// Bytes of the panels (the ggml blocks' bytes, plus padding rows up to a multiple of 8).
    public var weightBytes: Int { bytes.count }

    /// Rearranges the blocks of `m` (the bytes are not changed, only their order), the groups
    /// of rows in parallel.
    public init(_ m: QuantizedMatrix) {
        format = m.format
        rows = m.rows
        cols = m.cols
        let nb = m.blocksPerRow, bb = Self.blockBytes(m.format), groups = (m.rows + 7) / 8
        var out = [UInt8](repeating: 0, count: groups * nb * bb)
        let fmt = m.format, srcBlock = m.format.blockBytes, rowBytes = m.rowBytes, rowCount = m.rows
        m.bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                Parallel.forRanges(groups, grain: max(1, 65_536 / max(1, nb * bb))) { range in
                    for g in range {
                        for b in 0..<nb {
                            let o = (g * nb + b) * bb
                            for r in 0..<8 where 8 * g + r < rowCount {
                                let s = src.baseAddress! + (8 * g + r) * rowBytes + b * srcBlock
                                // Scales and offsets stay the file's f16 bits (widened exactly when used).
                                dst[o + 2 * r] = s.load(fromByteOffset: 0, as: UInt8.self)
                                dst[o + 2 * r + 1] = s.load(fromByteOffset: 1, as: UInt8.self)
                                switch fmt {
                                case .q8_0:
                                    for k in 0..<32 { dst[o + 16 + 8 * k + r] = s.load(fromByteOffset: 2 + k, as: UInt8.self) }
                                case .q4_0:
                                    for j in 0..<16 { dst[o + 32 + 8 * j + r] = s.load(fromByteOffset: 2 + j, as: UInt8.self) }
                                case .q4_1:
                                    dst[o + 16 + 2 * r] = s.load(fromByteOffset: 2, as: UInt8.self)
                                    dst[o + 16 + 2 * r + 1] = s.load(fromByteOffset: 3, as: UInt8.self)
                                    for j in 0..<16 { dst[o + 32 + 8 * j + r] = s.load(fromByteOffset: 4 + j, as: UInt8.self) }
                                }
                            }
                        }
                    }
                }
            }
        }
        bytes = out
    }

    /// `y[t, r] = Σ_c x[t, c] · W[r, c]` for `tokens` rows of `x` (`tokens × cols`, row-major)
    /// into `y` (`tokens × rows`, row-major, overwritten), with the per-output arithmetic in
    /// the type's documentation: row `t` of `y` depends on row `t` of `x` only, bit for bit.
    /// Threaded over groups of rows with `Parallel.forRanges`.
    /// Rounding: Float32 accumulation; the error is well below `1e-5 · Σ|x||w|`.
    /// Preconditions: `tokens >= 0`; `x` and `y` hold the sizes above and do not overlap.
    public func matmul(x: UnsafePointer<Float>, tokens: Int, y: UnsafeMutablePointer<Float>) {
        precondition(tokens >= 0, "tokens must be non-negative, got \(tokens)")
        if tokens == 0 || rows == 0 { return }
        let nb = blocksPerRow, c = cols, fmt = format
        if nb == 0 { y.initialize(repeating: 0, count: tokens * rows); return }
        let xsum = fmt == .q8_0 ? nil : QuantMath.blockSums(x, tokens: tokens, cols: c)
        defer { xsum?.deallocate() }
        let sums = UnsafePointer(xsum), gb = groupBytes, r = rows
        bytes.withUnsafeBytes { raw in
            let job = PanelJob(w: raw.baseAddress!, groupBytes: gb, nb: nb, x: x, cols: c, xsum: sums, y: y, rows: r)
            Parallel.forRanges(groups, grain: max(1, 24_576 / max(1, gb))) { range in
                switch fmt {
                case .q8_0: PanelKernel.groups(PanelQ8_0.self, job, range, tokens: tokens)
                case .q4_0: PanelKernel.groups(PanelQ4_0.self, job, range, tokens: tokens)
                case .q4_1: PanelKernel.groups(PanelQ4_1.self, job, range, tokens: tokens)
                }
            }
        }
    }

    /// `x · Wᵀ` for a `[tokens, cols]` (or `[cols]`) tensor; returns `[tokens, rows]` (or
    /// `[rows]`). Throws `TensorError.shapeMismatch` when the last dimension of `x` is not
    /// `cols` or `x` has rank other than 1 or 2.
    public func matmul(_ x: Tensor) throws -> Tensor {
        try QuantMath.product(x, rows: rows, cols: cols, op: "QuantizedPanels.matmul") { matmul(x: $0, tokens: $1, y: $2) }
    }
}

/// One format's panel blocks.
protocol PanelDecoder {
    static var blockBytes: Int { get }
    /// Whether the panel blocks carry offsets.
    static var hasOffsets: Bool { get }
    /// The 8 rows' levels at columns `j` and `j + 16` (0 ≤ j < 16) of the panel block at `p`.
    static func pair(_ p: UnsafeRawPointer, _ j: Int) -> (SIMD8<Float>, SIMD8<Float>)
    /// The 8 rows' scales `d` and offsets (zero without offsets).
    static func scales(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>)
}

enum PanelQ4_1: PanelDecoder {
    static var blockBytes: Int { 160 }
    static var hasOffsets: Bool { true }
    @inline(__always) static func pair(_ p: UnsafeRawPointer, _ j: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        let v = zeroExtendedBytes8(p + 32 + 8 * j)
        return (floats(v & 15), floats(v &>> 4))
    }
    @inline(__always) static func scales(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>) {
        (halves8(p), halves8(p + 16))
    }
}

/// `q4_0` as raw levels 0…15 with the offset `−8·d` (exact).
enum PanelQ4_0: PanelDecoder {
    static var blockBytes: Int { 160 }
    static var hasOffsets: Bool { true }
    @inline(__always) static func pair(_ p: UnsafeRawPointer, _ j: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        PanelQ4_1.pair(p, j)
    }
    @inline(__always) static func scales(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>) {
        let d = halves8(p)
        return (d, d * -8)
    }
}

enum PanelQ8_0: PanelDecoder {
    static var blockBytes: Int { 272 }
    static var hasOffsets: Bool { false }
    @inline(__always) static func pair(_ p: UnsafeRawPointer, _ j: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        (floats(signExtendedBytes8(p + 16 + 8 * j)), floats(signExtendedBytes8(p + 16 + 8 * (j + 16))))
    }
    @inline(__always) static func scales(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>) {
        (halves8(p), SIMD8<Float>())
    }
}

/// How many groups of rows and tokens one kernel call covers (panels × tokens ≤ 4, so that
/// 8 FMA chains are in flight: enough to keep two FMA units busy at 4 cycles of latency).
protocol PanelShape {
    static var panels: Int { get }
    static var tokens: Int { get }
}
enum Panels1x1: PanelShape { static var panels: Int { 1 }; static var tokens: Int { 1 } }
enum Panels2x1: PanelShape { static var panels: Int { 2 }; static var tokens: Int { 1 } }
enum Panels3x1: PanelShape { static var panels: Int { 3 }; static var tokens: Int { 1 } }
enum Panels4x1: PanelShape { static var panels: Int { 4 }; static var tokens: Int { 1 } }
enum Panels1x2: PanelShape { static var panels: Int { 1 }; static var tokens: Int { 2 } }
enum Panels2x2: PanelShape { static var panels: Int { 2 }; static var tokens: Int { 2 } }
enum Panels1x3: PanelShape { static var panels: Int { 1 }; static var tokens: Int { 3 } }
enum Panels1x4: PanelShape { static var panels: Int { 1 }; static var tokens: Int { 4 } }

/// Arguments of the panel kernels.
struct PanelJob {
    var w: UnsafeRawPointer
    var groupBytes: Int
    var nb: Int
    /// Token `t` at `x + t · cols`.
    var x: UnsafePointer<Float>
    var cols: Int
    /// Block sums of x (formats with offsets), token `t` at `xsum + t · nb`.
    var xsum: UnsafePointer<Float>?
    /// Token `t`, row `r` at `y[t · rows + r]`.
    var y: UnsafeMutablePointer<Float>
    var rows: Int
}

enum PanelKernel {
    /// The groups `range` against every token: 4 tokens a call while at least 4 are left,
    /// then 3 (one group a call), 2 (two groups a call) or 1 (four groups a call).
    static func groups<D: PanelDecoder>(_ d: D.Type, _ job: PanelJob, _ range: Range<Int>, tokens: Int) {
        var t0 = 0
        while t0 < tokens {
            let left = tokens - t0
            if left >= 4 {
                for g in range { run(d, Panels1x4.self, job, g, t0) }
                t0 += 4
            } else if left == 3 {
                for g in range { run(d, Panels1x3.self, job, g, t0) }
                t0 += 3
            } else if left == 2 {
                var g = range.lowerBound
                while g + 2 <= range.upperBound { run(d, Panels2x2.self, job, g, t0); g += 2 }
                if g < range.upperBound { run(d, Panels1x2.self, job, g, t0) }
                t0 += 2
            } else {
                var g = range.lowerBound
                while g + 4 <= range.upperBound { run(d, Panels4x1.self, job, g, t0); g += 4 }
                switch range.upperBound - g {
                case 3: run(d, Panels3x1.self, job, g, t0)
                case 2: run(d, Panels2x1.self, job, g, t0)
                case 1: run(d, Panels1x1.self, job, g, t0)
                default: break
                }
                t0 += 1
            }
        }
    }

    /// Groups `g ..< g + S.panels` against tokens `t0 ..< t0 + S.tokens`. Combination `i`
    /// (fewer than 4) is group `g + i / S.tokens` and token `t0 + i % S.tokens`.
    @inline(__always)
    static func run<D: PanelDecoder, S: PanelShape>(_: D.Type, _: S.Type, _ job: PanelJob, _ g: Int, _ t0: Int) {
        let pn = S.panels, tn = S.tokens, n = pn * tn
        let gb = job.groupBytes, bb = D.blockBytes, nb = job.nb, cols = job.cols
        let w = job.w + g * gb
        let x = job.x + t0 * cols
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
        for b in 0..<nb {
            let blk = w + b * bb
            let xb = x + 32 * b
            var lo0 = SIMD8<Float>(), lo1 = SIMD8<Float>(), lo2 = SIMD8<Float>(), lo3 = SIMD8<Float>()
            var hi0 = SIMD8<Float>(), hi1 = SIMD8<Float>(), hi2 = SIMD8<Float>(), hi3 = SIMD8<Float>()
            for j in 0..<16 {
                let v0 = D.pair(blk, j)
                let v1 = pn > 1 ? D.pair(blk + gb, j) : v0
                let v2 = pn > 2 ? D.pair(blk + 2 * gb, j) : v0
                let v3 = pn > 3 ? D.pair(blk + 3 * gb, j) : v0
                @inline(__always) func levels(_ p: Int) -> (SIMD8<Float>, SIMD8<Float>) {
                    p == 0 ? v0 : p == 1 ? v1 : p == 2 ? v2 : v3
                }
                @inline(__always) func add(_ i: Int, _ lo: inout SIMD8<Float>, _ hi: inout SIMD8<Float>) {
                    let (l, h) = levels(i / tn)
                    let xt = xb + (i % tn) * cols
                    lo = lo.addingProduct(SIMD8<Float>(repeating: xt[j]), l)
                    hi = hi.addingProduct(SIMD8<Float>(repeating: xt[j + 16]), h)
                }
                add(0, &lo0, &hi0)
                if n > 1 { add(1, &lo1, &hi1) }
                if n > 2 { add(2, &lo2, &hi2) }
                if n > 3 { add(3, &lo3, &hi3) }
            }
            @inline(__always) func finish(_ i: Int, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>, _ acc: inout SIMD8<Float>) {
                let (d, m) = D.scales(blk + (i / tn) * gb)
                acc = acc.addingProduct(lo + hi, d)
                if D.hasOffsets, let xsum = job.xsum {
                    acc = acc.addingProduct(SIMD8<Float>(repeating: xsum[(t0 + i % tn) * nb + b]), m)
                }
            }
            finish(0, lo0, hi0, &c0)
            if n > 1 { finish(1, lo1, hi1, &c1) }
            if n > 2 { finish(2, lo2, hi2, &c2) }
            if n > 3 { finish(3, lo3, hi3, &c3) }
        }
        @inline(__always) func store(_ i: Int, _ acc: SIMD8<Float>) {
            let row0 = 8 * (g + i / tn)
            let y = job.y + (t0 + i % tn) * job.rows + row0
            if row0 + 8 <= job.rows {
                UnsafeMutableRawPointer(y).storeBytes(of: acc, as: SIMD8<Float>.self)
            } else {
                for r in 0..<(job.rows - row0) { y[r] = acc[r] }
            }
        }
        store(0, c0)
        if n > 1 { store(1, c1) }
        if n > 2 { store(2, c2) }
        if n > 3 { store(3, c3) }
    }
}

/// A ggml block-quantisation format. Every format packs 32 consecutive weights of a row
/// into one block; the blocks of a row follow each other, rows are row-major.
///
/// Block layouts (all scalars little-endian; `f16` is an IEEE-754 binary16):
/// - `q8_0`: 34 bytes, `f16 d` then 32 × `Int8 q` → weight `j` is `d · q[j]`.
/// - `q4_0`: 18 bytes, `f16 d` then 16 bytes; weight `j` (0…15) is the low nibble of byte `j`,
///   weight `j + 16` its high nibble; a nibble `q` stands for `(q − 8) · d`.
/// - `q4_1`: 20 bytes, `f16 d`, `f16 m`, then 16 bytes of nibbles as in `q4_0`; a nibble `q`
///   stands for `d · q + m`.
public enum QuantFormat: String, Sendable, CaseIterable, Equatable, CustomStringConvertible {
    case q8_0, q4_0, q4_1

    /// Weights per block (32 for every format).
    public static let blockWeights = 32

    /// Bytes per block of 32 weights.
    public var blockBytes: Int {
        switch self {
        case .q8_0: return 34
        case .q4_0: return 18
        case .q4_1: return 20
        }
    }

    public var description: String { rawValue }
}

/// A `rows × cols` weight matrix `W` kept in a ggml quantised format (see `QuantFormat`),
/// used straight from its blocks for matrix–vector products while decoding.
///
/// The struct is `Sendable` as checked by the compiler (not `@unchecked`): every stored
/// property is an immutable `Sendable` value, the bytes live in a copy-on-write `[UInt8]`
/// that no API mutates, so sharing a matrix between threads (and the parallel kernels reading
/// its buffer from several threads at once) is race-free.
public struct QuantizedMatrix: Sendable {
    /// Quantisation format of the blocks.
    public let format: QuantFormat
    /// Number of rows (output features).
    public let rows: Int
    /// Number of columns (input features); a multiple of 32.
    public let cols: Int
    /// The raw blocks, `rows × cols/32` of them, row-major, `rows · rowBytes` bytes.
    public let bytes: [UInt8]

    /// Blocks per row, `cols / 32`.
    @inlinable public var blocksPerRow: Int { cols / QuantFormat.blockWeights }
    /// Bytes per row, `blocksPerRow · format.blockBytes`.
    @inlinable public var rowBytes: Int { blocksPerRow * format.blockBytes }

    /// Bytes a `rows × cols` matrix occupies in `format`. Throws `TensorError.invalidArgument`
    /// when a dimension is negative or `cols` is not a multiple of 32.
    public static func byteCount(format: QuantFormat, rows: Int, cols: Int) throws -> Int {
        guard rows >= 0, cols >= 0 else {
            throw TensorError.invalidArgument(
                op: "QuantizedMatrix", detail: "negative shape \(rows) × \(cols)")
        }
        guard cols % QuantFormat.blockWeights == 0 else {
            throw TensorError.invalidArgument(
                op: "QuantizedMatrix",
                detail: "\(format) needs cols to be a multiple of 32, got \(cols)")
        }
        let (n, overflow) = rows.multipliedReportingOverflow(by: cols / 32 * format.blockBytes)
        guard !overflow else {
            throw TensorError.invalidArgument(op: "QuantizedMatrix", detail: "shape \(rows) × \(cols) too large")
        }
        return n
    }

    /// Takes ownership of `bytes`, the `rows × cols/32` blocks of a matrix in `format`.
    /// Throws `TensorError.invalidArgument` when `cols` is not a multiple of 32, a dimension is
    /// negative, or `bytes.count` is not exactly `rows · cols/32 · format.blockBytes`.
    public init(format: QuantFormat, rows: Int, cols: Int, bytes: [UInt8]) throws {
        let expected = try Self.byteCount(format: format, rows: rows, cols: cols)
        guard bytes.count == expected else {
            throw TensorError.invalidArgument(
                op: "QuantizedMatrix",
                detail: "\(format) \(rows) × \(cols) needs \(expected) bytes, got \(bytes.count)")
        }
        self.format = format
        self.rows = rows
        self.cols = cols
        self.bytes = bytes
    }

    /// Copies the blocks of a matrix in `format` out of `source` (for example a memory-mapped
    /// GGUF tensor). Same checks and errors as `init(format:rows:cols:bytes:)`.
    public init(format: QuantFormat, rows: Int, cols: Int, copying source: UnsafeRawBufferPointer) throws {
        let expected = try Self.byteCount(format: format, rows: rows, cols: cols)
        guard source.count == expected else {
            throw TensorError.invalidArgument(
                op: "QuantizedMatrix",
                detail: "\(format) \(rows) × \(cols) needs \(expected) bytes, got \(source.count)")
        }
        try self.init(format: format, rows: rows, cols: cols, bytes: [UInt8](source))
    }

    /// Bytes of weights one full product reads (`bytes.count`), for bandwidth figures.
    public var weightBytes: Int { bytes.count }
}

extension QuantizedMatrix {
    /// Decodes the rows `rows` of `W` to Float32, row-major, into `out`
    /// (`rows.count × cols` floats, overwritten).
    ///
    /// Bit-for-bit equal to gguf-py's numpy dequantisation: the scale is the f16 value widened
    /// to Float32 and each weight is `d · q` (`q8_0`), `d · (q − 8)` (`q4_0`) or `d · q + m` with
    /// the product rounded before the addition (`q4_1`, no fused multiply–add).
    /// Precondition: `rows` lies inside `0..<self.rows`.
    public func dequantize(rows range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside 0..<\(rows)")
        if range.isEmpty || cols == 0 { return }
        let nb = blocksPerRow, rb = rowBytes, c = cols, fmt = format
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            Parallel.forRanges(range.count, grain: max(1, 16_384 / c)) { part in
                for i in part {
                    let src = base + (range.lowerBound + i) * rb
                    let dst = UnsafeMutableRawPointer(out + i * c)
                    switch fmt {
                    case .q8_0: QuantDequant.rowQ8_0(src, dst, nb)
                    case .q4_0: QuantDequant.rowQ4_0(src, dst, nb)
                    case .q4_1: QuantDequant.rowQ4_1(src, dst, nb)
                    }
                }
            }
        }
    }

    /// Decodes the whole matrix to a `[rows, cols]` Float32 tensor (see `dequantize(rows:into:)`).
    public func dequantized() -> Tensor {
        var t = Tensor(zeros: [rows, cols])
        t.data.withUnsafeMutableBufferPointer { p in
            if let b = p.baseAddress { dequantize(rows: 0..<rows, into: b) }
        }
        return t
    }
}

/// Row decoders for `QuantizedMatrix.dequantize`: 32 weights per block as four `SIMD8<Float>`.
enum QuantDequant {
    @inline(__always)
    static func store(_ v: SIMD8<Float>, _ dst: UnsafeMutableRawPointer, _ offset: Int) {
        dst.storeBytes(of: v, toByteOffset: offset, as: SIMD8<Float>.self)
    }

    static func rowQ8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 34
            let d = SIMD8<Float>(repeating: quantHalf(p))
            let (q0, q1, q2, q3) = QuantLevels.q8(p + 2)
            let o = b * 128
            store(d * q0, dst, o); store(d * q1, dst, o + 32)
            store(d * q2, dst, o + 64); store(d * q3, dst, o + 96)
        }
    }

    static func rowQ4_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 18
            let d = SIMD8<Float>(repeating: quantHalf(p))
            let (q0, q1, q2, q3) = QuantLevels.q4(p + 2, bias: 8)
            let o = b * 128
            store(d * q0, dst, o); store(d * q1, dst, o + 32)
            store(d * q2, dst, o + 64); store(d * q3, dst, o + 96)
        }
    }

    static func rowQ4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 20
            let d = SIMD8<Float>(repeating: quantHalf(p))
            let m = SIMD8<Float>(repeating: quantHalf(p + 2))
            let (q0, q1, q2, q3) = QuantLevels.q4(p + 4, bias: 0)
            let o = b * 128
            // `d * q` is rounded before `+ m` (Swift does not contract to FMA), as numpy does.
            store(d * q0 + m, dst, o); store(d * q1 + m, dst, o + 32)
            store(d * q2 + m, dst, o + 64); store(d * q3 + m, dst, o + 96)
        }
    }
}

import SACTensor

/// Conversion of ggml tensor data (plain and block-quantised) to Float32.
///
/// The results equal gguf-py's numpy dequantisation bit for bit: products and sums are
/// rounded separately (`d * q + m`, never fused), in the same order as `gguf/quants.py`.
/// Block layouts (little-endian, f16 scales):
/// - Q8_0 (34 B / 32): `d`, 32 × int8; `x = d·q`.
/// - Q4_0 (18 B / 32): `d`, 16 bytes; element j < 16 is the low nibble of byte j, element
///   j + 16 the high nibble; `x = d·(q − 8)`.
/// - Q4_1 (20 B / 32): `d`, `m`, 16 bytes as Q4_0; `x = d·q + m`.
/// - Q4_K (144 B / 256): `d`, `dmin`, 12 bytes of packed 6-bit scales and mins, 128 bytes of
///   nibbles; `x = (d·sc)·q − (dmin·m)` per sub-block of 32.
/// - Q6_K (210 B / 256): 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 × int8 scales,
///   `d`; `x = (d·sc)·(q − 32)` per sub-block of 16.
public enum Dequantize {
    /// Converts `count` elements of `type` at `src` to Float32 at `dst`, threaded over blocks.
    ///
    /// - Precondition: `type.canDequantize`, `count` is a multiple of `type.blockSize`, `src`
    ///   holds `type.byteCount(elements: count)` bytes and `dst` has room for `count` floats.
    ///   `src` needs no alignment.
    public static func run(_ type: GGMLType, src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(type.canDequantize, "Dequantize: unsupported type \(type)")
        precondition(count >= 0 && count % type.blockSize == 0, "Dequantize: \(count) is not a whole number of blocks")
        let blocks = count / type.blockSize
        let grain = max(1, 32768 / type.blockSize)
        let src = UncheckedRaw(src)
        let dst = UncheckedFloats(dst)
        Parallel.forRanges(blocks, grain: grain) { r in
            let s = src.p + r.lowerBound * type.typeSize
            let d = dst.p + r.lowerBound * type.blockSize
            blockKernel(type, s, d, blocks: r.count)
        }
    }

    /// Converts `count` elements of `type` held in `bytes` to a new Float32 array.
    /// Throws `ModelError.unsupported` for types without a dequantiser and
    /// `ModelError.truncated`/`invalidField` when `bytes` does not hold exactly `count` elements.
    /// `file` and `field` name the source in errors.
    public static func toFloats(
        _ type: GGMLType, bytes: UnsafeRawBufferPointer, count: Int, file: String = "", field: String = ""
    ) throws -> [Float] {
        guard type.canDequantize else {
            throw ModelError.unsupported(file: file, field: field, what: "tensor type \(type)")
        }
        guard let need = type.byteCount(elements: count) else {
            throw ModelError.invalidField(
                file: file, field: field, expected: "a multiple of \(type.blockSize) elements", found: "\(count)")
        }
        guard bytes.count >= need, let base = bytes.baseAddress ?? (need == 0 ? UnsafeRawPointer(bitPattern: 16) : nil)
        else {
            throw ModelError.truncated(file: file, field: field, needed: need, available: bytes.count)
        }
        return [Float](unsafeUninitializedCapacity: count) { buf, n in
            if count > 0 { run(type, src: base, dst: buf.baseAddress!, count: count) }
            n = count
        }
    }

    /// Single-threaded conversion of `blocks` whole blocks.
    @inline(__always)
    static func blockKernel(_ type: GGMLType, _ s: UnsafeRawPointer, _ d: UnsafeMutablePointer<Float>, blocks: Int) {
        switch type {
        case .f32: HalfConversion.f32Buffer(s, d, count: blocks)
        case .f16: HalfConversion.f16Buffer(s, d, count: blocks)
        case .bf16: HalfConversion.bf16Buffer(s, d, count: blocks)
        case .q8_0: q8_0(s, d, blocks: blocks)
        case .q4_0: q4_0(s, d, blocks: blocks)
        case .q4_1: q4_1(s, d, blocks: blocks)
        case .q4_K: q4_K(s, d, blocks: blocks)
        case .q6_K: q6_K(s, d, blocks: blocks)
        default: preconditionFailure("Dequantize: unsupported type \(type)")
        }
    }

    @inline(__always)
    static func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    @inline(__always)
    static func floats(_ q: SIMD16<UInt8>) -> SIMD16<Float> {
        SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q))
    }

    static func q8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 34
            let o = dst + b * 32
            let d = SIMD16<Float>(repeating: HalfConversion.f16(at: p, 0))
            for k in 0..<2 {
                let q = p.loadUnaligned(fromByteOffset: 2 + 16 * k, as: SIMD16<Int8>.self)
                store(SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q)) * d, o + 16 * k)
            }
        }
    }

    static func q4_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        let eight = SIMD16<Float>(repeating: 8)
        for b in 0..<blocks {
            let p = src + b * 18
            let o = dst + b * 32
            let d = SIMD16<Float>(repeating: HalfConversion.f16(at: p, 0))
            let q = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
            store(d * (floats(q & 0x0F) - eight), o)
            store(d * (floats(q &>> 4) - eight), o + 16)
        }
    }

    static func q4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 20
            let o = dst + b * 32
            let d = SIMD16<Float>(repeating: HalfConversion.f16(at: p, 0))
            let m = SIMD16<Float>(repeating: HalfConversion.f16(at: p, 2))
            let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
            // Separate multiply and add (no FMA), as numpy computes `d * q + m`.
            let lo = d * floats(q & 0x0F)
            let hi = d * floats(q &>> 4)
            store(lo + m, o)
            store(hi + m, o + 16)
        }
    }

    static func q4_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 144
            let o = dst + b * 256
            let d = HalfConversion.f16(at: p, 0)
            let dmin = HalfConversion.f16(at: p, 2)
            let s = p + 4
            for g in 0..<4 {
                let q = p + 16 + 32 * g
                for half in 0..<2 {
                    let j = 2 * g + half
                    let sc: UInt8
                    let mn: UInt8
                    if j < 4 {
                        sc = s.load(fromByteOffset: j, as: UInt8.self) & 63
                        mn = s.load(fromByteOffset: j + 4, as: UInt8.self) & 63
                    } else {
                        let a = s.load(fromByteOffset: j + 4, as: UInt8.self)
                        sc = (a & 0x0F) | ((s.load(fromByteOffset: j - 4, as: UInt8.self) >> 6) << 4)
                        mn = (a >> 4) | ((s.load(fromByteOffset: j, as: UInt8.self) >> 6) << 4)
                    }
                    let ds = SIMD16<Float>(repeating: d * Float(sc))
                    let dm = SIMD16<Float>(repeating: dmin * Float(mn))
                    for k in 0..<2 {
                        let v = q.loadUnaligned(fromByteOffset: 16 * k, as: SIMD16<UInt8>.self)
                        let n = half == 0 ? (v & 0x0F) : (v &>> 4)
                        let prod = ds * floats(n)
                        store(prod - dm, o + 32 * j + 16 * k)
                    }
                }
            }
        }
    }

    static func q6_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 210
            let o = dst + b * 256
            let d = HalfConversion.f16(at: p, 208)
            for n in 0..<2 {
                let ql = p + 64 * n
                let qh = p + 128 + 32 * n
                let sc = p + 192 + 8 * n
                let y = o + 128 * n
                for c in 0..<2 {  // l in 16c ..< 16c + 16, scale index is = c
                    let l = 16 * c
                    let a = ql.loadUnaligned(fromByteOffset: l, as: SIMD16<UInt8>.self)
                    let a2 = ql.loadUnaligned(fromByteOffset: l + 32, as: SIMD16<UInt8>.self)
                    let h = qh.loadUnaligned(fromByteOffset: l, as: SIMD16<UInt8>.self)
                    let q1 = (a & 0x0F) | ((h & 3) &<< 4)
                    let q2 = (a2 & 0x0F) | (((h &>> 2) & 3) &<< 4)
                    let q3 = (a &>> 4) | (((h &>> 4) & 3) &<< 4)
                    let q4 = (a2 &>> 4) | (((h &>> 6) & 3) &<< 4)
                    q6Store(q1, d, sc, c, 0, y + l)
                    q6Store(q2, d, sc, c, 1, y + l + 32)
                    q6Store(q3, d, sc, c, 2, y + l + 64)
                    q6Store(q4, d, sc, c, 3, y + l + 96)
                }
            }
        }
    }
}

extension Dequantize {
    /// Stores `(d · sc[c + 2k]) · (q − 32)` for 16 Q6_K values.
    @inline(__always)
    static func q6Store(
        _ q: SIMD16<UInt8>, _ d: Float, _ sc: UnsafeRawPointer, _ c: Int, _ k: Int, _ y: UnsafeMutablePointer<Float>
    ) {
        let scale = Float(sc.load(fromByteOffset: c + 2 * k, as: Int8.self))
        let ds = SIMD16<Float>(repeating: d * scale)
        let v = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q) &- SIMD16<Int32>(repeating: 32))
        store(ds * v, y)
    }
}

/// A raw pointer that parallel loops may share (iterations touch disjoint bytes).
struct UncheckedRaw: @unchecked Sendable {
    let p: UnsafeRawPointer
    init(_ p: UnsafeRawPointer) { self.p = p }
}

/// A mutable Float pointer that parallel loops may share (iterations write disjoint ranges).
struct UncheckedFloats: @unchecked Sendable {
    let p: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) { self.p = p }
}

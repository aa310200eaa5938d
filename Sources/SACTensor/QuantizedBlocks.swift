/// Reads the little-endian IEEE half at `p` and widens it to Float32 (exact).
/// On x86-64 with F16C (the `haswell` target) this is one `vcvtph2ps`.
@inline(__always)
func quantHalf(_ p: UnsafeRawPointer) -> Float {
    let bits = UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))
    #if arch(x86_64) && (os(macOS) || os(iOS) || os(tvOS) || os(watchOS))
    // Float16 is unavailable on Intel Apple platforms: widen by hand.
    let sign = UInt32(bits & 0x8000) << 16
    let exp = UInt32(bits >> 10) & 0x1F
    let mant = UInt32(bits & 0x3FF)
    if exp == 0 {
        let v = Float(mant) * 0x1p-24
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    #else
    return Float(Float16(bitPattern: bits))
    #endif
}

#if _endian(big)
#error("the quantised kernels read ggml blocks as little-endian 32-bit words")
#endif

/// Integer levels of one block's 32 weights as four `SIMD8<Float>`, before scaling.
///
/// The stdlib's generic SIMD integer→float conversions are not inlined (they become calls
/// with scalar loops), so the levels are made with the exponent trick instead: a level
/// `0 ≤ k < 2²³` placed in the mantissa of `2²³` (`0x4B00_0000 | k`) is the float `2²³ + k`,
/// and subtracting `2²³` (plus any bias) gives the level exactly. Everything here lowers to
/// `vpsrlvd`/`vpsrld`, `vpand`, `vpor`/`vpxor` and `vsubps`.
enum QuantLevels {
    typealias Levels = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    /// `(v >> shift) & mask` as integer levels, minus `bias`: float `(… | 2²³ bits) − (2²³ + bias)`.
    @inline(__always)
    static func field(_ v: SIMD8<UInt32>, _ shift: SIMD8<UInt32>, _ mask: UInt32, _ bias: Float) -> SIMD8<Float> {
        let bits = ((v &>> shift) & mask) | 0x4B00_0000
        return unsafeBitCast(bits, to: SIMD8<Float>.self) - SIMD8<Float>(repeating: 8_388_608 + bias)
    }

    /// Signed bytes at bit offset `shift` of each lane: `((v >> s) & 0xFF) ^ 0x80` is `q + 128`.
    @inline(__always)
    static func signedByte(_ v: SIMD8<UInt32>, _ shift: UInt32) -> SIMD8<Float> {
        let bits = ((v &>> shift) & 0xFF) ^ 0x4B00_0080
        return unsafeBitCast(bits, to: SIMD8<Float>.self) - SIMD8<Float>(repeating: 8_388_736)
    }

    // MARK: Natural order (weights 0–7, 8–15, 16–23, 24–31), for dequantisation

    @inline(__always) static var byteShifts: SIMD8<UInt32> { SIMD8<UInt32>(0, 8, 16, 24, 0, 8, 16, 24) }

    /// Lanes `(w[i] ×4, w[i+1] ×4)` of the little-endian words at `p`.
    @inline(__always)
    static func pairs(_ p: UnsafeRawPointer, _ i: Int) -> SIMD8<UInt32> {
        let a = p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
        let b = p.loadUnaligned(fromByteOffset: 4 * i + 4, as: UInt32.self)
        return SIMD8<UInt32>(a, a, a, a, b, b, b, b)
    }

    /// 32 `Int8` at `p`, natural order.
    @inline(__always)
    static func q8(_ p: UnsafeRawPointer) -> Levels {
        func part(_ i: Int) -> SIMD8<Float> {
            let bits = ((pairs(p, i) &>> byteShifts) & 0xFF) ^ 0x4B00_0080
            return unsafeBitCast(bits, to: SIMD8<Float>.self) - SIMD8<Float>(repeating: 8_388_736)
        }
        return (part(0), part(2), part(4), part(6))
    }

    /// 16 bytes of nibbles at `p`, natural order, levels `q − bias`.
    @inline(__always)
    static func q4(_ p: UnsafeRawPointer, bias: Float) -> Levels {
        let lo = pairs(p, 0), hi = pairs(p, 2), s4 = byteShifts &+ 4
        return (field(lo, byteShifts, 0xF, bias), field(hi, byteShifts, 0xF, bias),
                field(lo, s4, 0xF, bias), field(hi, s4, 0xF, bias))
    }
}

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

/// Integer levels of one block's 32 weights as four `SIMD8<Float>` (weights 0–7, 8–15,
/// 16–23, 24–31), before scaling. Shared by dequantisation and the fused products.
enum QuantLevels {
    /// 32 `Int8` at `p` → sign-extended, converted (vpmovsxbd + vcvtdq2ps).
    @inline(__always)
    static func q8(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let a = p.loadUnaligned(as: SIMD16<Int8>.self)
        let b = p.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self)
        return (cvt(a.lowHalf), cvt(a.highHalf), cvt(b.lowHalf), cvt(b.highHalf))
    }

    /// 16 bytes of nibbles at `p` → levels `q − 8` in −8…7 (the `q4_0` convention).
    @inline(__always)
    static func q4Centered(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let v = p.loadUnaligned(as: SIMD16<UInt8>.self)
        let eight = SIMD16<Int8>(repeating: 8)
        let lo = SIMD16<Int8>(truncatingIfNeeded: v & 0x0F) &- eight
        let hi = SIMD16<Int8>(truncatingIfNeeded: v &>> 4) &- eight
        return (cvt(lo.lowHalf), cvt(lo.highHalf), cvt(hi.lowHalf), cvt(hi.highHalf))
    }

    /// 16 bytes of nibbles at `p` → levels `q` in 0…15 (the `q4_1` convention).
    @inline(__always)
    static func q4(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let v = p.loadUnaligned(as: SIMD16<UInt8>.self)
        let lo = SIMD16<Int8>(truncatingIfNeeded: v & 0x0F)
        let hi = SIMD16<Int8>(truncatingIfNeeded: v &>> 4)
        return (cvt(lo.lowHalf), cvt(lo.highHalf), cvt(hi.lowHalf), cvt(hi.highHalf))
    }

    @inline(__always)
    static func cvt(_ v: SIMD8<Int8>) -> SIMD8<Float> {
        SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: v))
    }
}

import SACIntrinsics

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

/// Integer levels of one block's 32 weights as four `SIMD8<Float>`, before scaling, in the
/// blocks' natural order (weights 0–7, 8–15, 16–23, 24–31): for dequantisation and the fused
/// kernels alike. Bytes are widened straight from memory (`vpmovzxbd`/`vpmovsxbd`) and
/// converted with `vcvtdq2ps`, through `SACIntrinsics` (the stdlib's generic SIMD
/// integer→float conversions are out-of-line scalar loops).
enum QuantLevels {
    typealias Levels = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    /// 32 `Int8` at `p`.
    @inline(__always)
    static func q8(_ p: UnsafeRawPointer) -> Levels {
        (floats(signExtendedBytes8(p)), floats(signExtendedBytes8(p + 8)),
         floats(signExtendedBytes8(p + 16)), floats(signExtendedBytes8(p + 24)))
    }

    /// 16 bytes of nibbles at `p` (low nibbles are weights 0–15, high 16–31), levels
    /// `q − bias` (exact).
    @inline(__always)
    static func q4(_ p: UnsafeRawPointer, bias: Float) -> Levels {
        let b0 = zeroExtendedBytes8(p), b1 = zeroExtendedBytes8(p + 8), c = SIMD8<Float>(repeating: bias)
        return (floats(b0 & 15) - c, floats(b1 & 15) - c, floats(b0 &>> 4) - c, floats(b1 &>> 4) - c)
    }
}

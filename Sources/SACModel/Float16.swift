/// Conversions from the 16-bit float formats found in weight files (IEEE half, bfloat16)
/// to Float32. Both conversions are exact (every f16 and bf16 value is a Float32 value).
public enum HalfConversion {
    /// IEEE 754 binary16 bits → Float32 (exact; NaN stays NaN, infinities stay infinite).
    @inline(__always)
    public static func f16(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// bfloat16 bits → Float32 (exact: the bits become the high half of the Float32).
    @inline(__always)
    public static func bf16(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Float32 → bfloat16 bits, rounded to nearest with ties to even (NaN stays a quiet NaN;
    /// values beyond bfloat16's largest finite value become infinite).
    @inline(__always)
    public static func bf16Bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(b >> 16) | 0x0040 }
        let rounded = b &+ 0x7fff &+ ((b >> 16) & 1)
        return UInt16(rounded >> 16)
    }

    /// Reads a little-endian f16 at `src + offset` (any alignment) as Float32.
    @inline(__always)
    static func f16(at src: UnsafeRawPointer, _ offset: Int) -> Float {
        f16(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Converts `count` little-endian f16 values at `src` (any alignment) to Float32 at `dst`.
    static func f16Buffer(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self)
            let v = SIMD8<Float>(SIMD8<Float16>(bitPattern: h))
            UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            dst[i] = f16(at: src, 2 * i)
            i += 1
        }
    }

    /// Converts `count` little-endian bf16 values at `src` (any alignment) to Float32 at `dst`.
    static func bf16Buffer(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self)
            let w = SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16
            UnsafeMutableRawPointer(dst + i).storeBytes(of: SIMD8<Float>(bitPattern: w), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            dst[i] = bf16(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            i += 1
        }
    }

    /// Copies `count` little-endian Float32 values at `src` (any alignment) to `dst`.
    static func f32Buffer(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * count)
    }
}

extension SIMD8 where Scalar == Float16 {
    @inline(__always)
    init(bitPattern b: SIMD8<UInt16>) {
        self = unsafeBitCast(b, to: SIMD8<Float16>.self)
    }
}

extension SIMD8 where Scalar == Float {
    @inline(__always)
    init(bitPattern b: SIMD8<UInt32>) {
        self = unsafeBitCast(b, to: SIMD8<Float>.self)
    }
}

// This module is compiled with `-parse-stdlib`, which exposes the compiler's `Builtin` module:
// the LLVM vector casts and x86 instructions that the stdlib's SIMD types do not offer (its
// generic integer → float conversions are out-of-line scalar loops). Every function is
// `@inlinable @inline(__always)`, so callers in other modules get the single instruction.
import Swift

// MARK: Portable vector casts (every architecture)

/// The 8 bytes at `p` zero-extended to `Int32` lanes (`vpmovzxbd` on x86-64).
@inlinable @inline(__always)
public func zeroExtendedBytes8(_ p: UnsafeRawPointer) -> SIMD8<Int32> {
    let b = p.loadUnaligned(as: SIMD8<UInt8>.self)
    var v = SIMD8<Int32>()
    v._storage._value = Builtin.zext_Vec8xInt8_Vec8xInt32(b._storage._value)
    return v
}

/// The 8 bytes at `p` as `Int8`, sign-extended to `Int32` lanes (`vpmovsxbd` on x86-64).
@inlinable @inline(__always)
public func signExtendedBytes8(_ p: UnsafeRawPointer) -> SIMD8<Int32> {
    let b = p.loadUnaligned(as: SIMD8<Int8>.self)
    var v = SIMD8<Int32>()
    v._storage._value = Builtin.sext_Vec8xInt8_Vec8xInt32(b._storage._value)
    return v
}

/// Lane-wise `Int32` → `Float` (exact for |v| ≤ 2²⁴; `vcvtdq2ps` on x86-64).
@inlinable @inline(__always)
public func floats(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    var f = SIMD8<Float>()
    f._storage._value = Builtin.sitofp_Vec8xInt32_Vec8xFPIEEE32(v._storage._value)
    return f
}

/// The two little-endian IEEE halves at `p` widened to `Float` (exact; one `vcvtph2ps` with F16C).
@inlinable @inline(__always)
public func halfPair(_ p: UnsafeRawPointer) -> SIMD2<Float> {
    let h = p.loadUnaligned(as: SIMD2<UInt16>.self)
    var f = SIMD2<Float>()
    f._storage._value = Builtin.fpext_Vec2xFPIEEE16_Vec2xFPIEEE32(
        Builtin.bitcast_Vec2xInt16_Vec2xFPIEEE16(h._storage._value))
    return f
}

/// The eight little-endian IEEE halves at `p` widened to `Float` (exact; one `vcvtph2ps` with F16C).
@inlinable @inline(__always)
public func halves8(_ p: UnsafeRawPointer) -> SIMD8<Float> {
    let h = p.loadUnaligned(as: SIMD8<UInt16>.self)
    var f = SIMD8<Float>()
    f._storage._value = Builtin.fpext_Vec8xFPIEEE16_Vec8xFPIEEE32(
        Builtin.bitcast_Vec8xInt16_Vec8xFPIEEE16(h._storage._value))
    return f
}

/// Lane-wise `|v|` (`vandps` with the sign mask).
@inlinable @inline(__always)
public func magnitudes(_ v: SIMD8<Float>) -> SIMD8<Float> {
    var f = SIMD8<Float>()
    f._storage._value = Builtin.int_fabs_Vec8xFPIEEE32(v._storage._value)
    return f
}

/// Lane-wise maximum; a NaN lane gives the other operand (IEEE `maxNum`).
@inlinable @inline(__always)
public func maxima(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    var f = SIMD8<Float>()
    f._storage._value = Builtin.int_maxnum_Vec8xFPIEEE32(a._storage._value, b._storage._value)
    return f
}

/// Lane-wise minimum; a NaN lane gives the other operand (IEEE `minNum`).
@inlinable @inline(__always)
public func minima(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    var f = SIMD8<Float>()
    f._storage._value = Builtin.int_minnum_Vec8xFPIEEE32(a._storage._value, b._storage._value)
    return f
}

/// Lane-wise nearest integer, ties to even (`vroundps` + `vcvttps2dq`); lanes must lie
/// within `Int32`'s range.
@inlinable @inline(__always)
public func nearestIntegers(_ v: SIMD8<Float>) -> SIMD8<Int32> {
    var i = SIMD8<Int32>()
    i._storage._value = Builtin.fptosi_Vec8xFPIEEE32_Vec8xInt32(Builtin.int_rint_Vec8xFPIEEE32(v._storage._value))
    return i
}

/// The low byte of each lane (exact for lanes in −128…127).
@inlinable @inline(__always)
public func truncatedBytes(_ v: SIMD8<Int32>) -> SIMD8<Int8> {
    var b = SIMD8<Int8>()
    b._storage._value = Builtin.trunc_Vec8xInt32_Vec8xInt8(v._storage._value)
    return b
}

#if arch(x86_64)
// MARK: x86-64 AVX2 integer dot products (the package builds x86-64 code for `haswell`)

/// `vpmaddubsw`: lane `i` of the result is `a[2i]·b[2i] + a[2i+1]·b[2i+1]`, `a` unsigned,
/// `b` signed, saturated to `Int16` (no saturation when `a ≤ 15`, or `a ≤ 128` and `|b| ≤ 127`
/// with one pair's sum under 2¹⁵).
@inlinable @inline(__always)
public func multiplyAddPairs(_ a: SIMD32<UInt8>, _ b: SIMD32<Int8>) -> SIMD16<Int16> {
    var v = SIMD16<Int16>()
    v._storage._value = Builtin.int_x86_avx2_pmadd_ub_sw(a._storage._value, b._storage._value)
    return v
}

/// `vpmaddwd`: lane `i` is `a[2i]·b[2i] + a[2i+1]·b[2i+1]` in `Int32` (exact).
@inlinable @inline(__always)
public func multiplyAddPairs(_ a: SIMD16<Int16>, _ b: SIMD16<Int16>) -> SIMD8<Int32> {
    var v = SIMD8<Int32>()
    v._storage._value = Builtin.int_x86_avx2_pmadd_wd(a._storage._value, b._storage._value)
    return v
}

/// `vpsignb`: `a` negated where `s < 0`, zeroed where `s == 0`, kept where `s > 0`
/// (`−128` stays `−128`, that is `128` read as unsigned).
@inlinable @inline(__always)
public func applyingSign(_ a: SIMD32<Int8>, of s: SIMD32<Int8>) -> SIMD32<Int8> {
    var v = SIMD32<Int8>()
    v._storage._value = Builtin.int_x86_avx2_psign_b(a._storage._value, s._storage._value)
    return v
}
#endif

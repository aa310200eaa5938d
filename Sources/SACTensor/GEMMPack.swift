/// Packing of A and B into the panel layouts the 6×16 micro-kernel reads contiguously.
///
/// Packed A: row micro-panels of `GEMMKernel.mr` rows; within a panel, for each k index `p`,
/// the `mr` values `op(A)[i0 ..< i0+mr, p]`. Rows past `m` are zero.
/// Packed B: column micro-panels of `GEMMKernel.nr` columns; within a panel, for each `p`,
/// the `nr` values `op(B)[p, j0 ..< j0+nr]`. Columns past `n` are zero.
enum GEMMPack {
    /// Packs rows `i0 ..< i0+rows` (rows ≤ mr) and k indices `p0 ..< p0+kc` of op(A) into
    /// `dst` (kc·mr floats). `op(A)[i, p] = a[i·lda + p]`, or `a[p·lda + i]` when `trans`.
    @inline(__always)
    static func packA(
        trans: Bool, a: UnsafePointer<Float>, lda: Int, i0: Int, rows: Int, p0: Int, kc: Int,
        dst: UnsafeMutablePointer<Float>
    ) {
        let mr = GEMMKernel.mr
        if trans {
            // op(A)[i0+ii, p0+p] = a[(p0+p)·lda + i0+ii]: contiguous in ii.
            var src = a + p0 * lda + i0
            var d = dst
            if rows == mr {
                for _ in 0..<kc {
                    d[0] = src[0]; d[1] = src[1]; d[2] = src[2]
                    d[3] = src[3]; d[4] = src[4]; d[5] = src[5]
                    src += lda; d += mr
                }
            } else {
                for _ in 0..<kc {
                    for ii in 0..<rows { d[ii] = src[ii] }
                    for ii in rows..<mr { d[ii] = 0 }
                    src += lda; d += mr
                }
            }
        } else {
            // op(A)[i0+ii, p0+p] = a[(i0+ii)·lda + p0+p]: six row streams.
            let base = a + i0 * lda + p0
            if rows == mr {
                let r0 = base, r1 = base + lda, r2 = base + 2 * lda
                let r3 = base + 3 * lda, r4 = base + 4 * lda, r5 = base + 5 * lda
                var d = dst
                for p in 0..<kc {
                    d[0] = r0[p]; d[1] = r1[p]; d[2] = r2[p]
                    d[3] = r3[p]; d[4] = r4[p]; d[5] = r5[p]
                    d += mr
                }
            } else {
                for p in 0..<kc {
                    let d = dst + p * mr
                    for ii in 0..<rows { d[ii] = base[ii * lda + p] }
                    for ii in rows..<mr { d[ii] = 0 }
                }
            }
        }
    }

    /// Packs columns `j0 ..< j0+cols` (cols ≤ nr) and k indices `p0 ..< p0+kc` of op(B) into
    /// `dst` (kc·nr floats). `op(B)[p, j] = b[p·ldb + j]`, or `b[j·ldb + p]` when `trans`.
    @inline(__always)
    static func packB(
        trans: Bool, b: UnsafePointer<Float>, ldb: Int, j0: Int, cols: Int, p0: Int, kc: Int,
        dst: UnsafeMutablePointer<Float>
    ) {
        let nr = GEMMKernel.nr
        if !trans {
            var src = b + p0 * ldb + j0
            var d = dst
            if cols == nr {
                for _ in 0..<kc {
                    storeSIMD8(d, loadSIMD8(src))
                    storeSIMD8(d + 8, loadSIMD8(src + 8))
                    src += ldb; d += nr
                }
            } else {
                for _ in 0..<kc {
                    for jj in 0..<cols { d[jj] = src[jj] }
                    for jj in cols..<nr { d[jj] = 0 }
                    src += ldb; d += nr
                }
            }
        } else {
            // op(B)[p0+p, j0+jj] = b[(j0+jj)·ldb + p0+p]: transpose 8×8 blocks.
            let base = b + j0 * ldb + p0
            if cols == nr {
                var p = 0
                while p + 8 <= kc {
                    transpose8x8(src: base + p, ld: ldb, dst: dst + p * nr, ldd: nr)
                    transpose8x8(src: base + 8 * ldb + p, ld: ldb, dst: dst + p * nr + 8, ldd: nr)
                    p += 8
                }
                while p < kc {
                    let d = dst + p * nr
                    for jj in 0..<nr { d[jj] = base[jj * ldb + p] }
                    p += 1
                }
            } else {
                for jj in 0..<cols {
                    let s = base + jj * ldb
                    var d = dst + jj
                    for p in 0..<kc { d[0] = s[p]; d += nr }
                }
                for p in 0..<kc {
                    let d = dst + p * nr
                    for jj in cols..<nr { d[jj] = 0 }
                }
            }
        }
    }

    /// Packs `panels` full micro-panels of a non-transposed op(B) (columns `j0 ..< j0 +
    /// 16·panels`, k indices `p0 ..< p0+kc`); panel q goes to `dst + q·kc·nr`. Reads each
    /// row of B as one contiguous segment (long strides between rows cost TLB and
    /// prefetch misses when B is packed panel by panel).
    @inline(__always)
    static func packBRows(
        b: UnsafePointer<Float>, ldb: Int, j0: Int, panels: Int, p0: Int, kc: Int,
        dst: UnsafeMutablePointer<Float>
    ) {
        let nr = GEMMKernel.nr
        precondition(panels >= 1)
        var src = b + p0 * ldb + j0
        for p in 0..<kc {
            var d = dst + p * nr
            var s = src
            for _ in 0..<panels {
                storeSIMD8(d, loadSIMD8(s))
                storeSIMD8(d + 8, loadSIMD8(s + 8))
                d += kc * nr; s += nr
            }
            src += ldb
        }
    }

    /// dst[q·ldd + r] = src[r·ld + q] for r, q in 0..<8.
    @inline(__always)
    static func transpose8x8(src: UnsafePointer<Float>, ld: Int, dst: UnsafeMutablePointer<Float>, ldd: Int) {
        let r0 = loadSIMD8(src), r1 = loadSIMD8(src + ld)
        let r2 = loadSIMD8(src + 2 * ld), r3 = loadSIMD8(src + 3 * ld)
        let r4 = loadSIMD8(src + 4 * ld), r5 = loadSIMD8(src + 5 * ld)
        let r6 = loadSIMD8(src + 6 * ld), r7 = loadSIMD8(src + 7 * ld)
        // Stage 1: interleave pairs of rows (unpacklo/hi within 128-bit lanes).
        let t0 = SIMD8(r0[0], r1[0], r0[1], r1[1], r0[4], r1[4], r0[5], r1[5])
        let t1 = SIMD8(r0[2], r1[2], r0[3], r1[3], r0[6], r1[6], r0[7], r1[7])
        let t2 = SIMD8(r2[0], r3[0], r2[1], r3[1], r2[4], r3[4], r2[5], r3[5])
        let t3 = SIMD8(r2[2], r3[2], r2[3], r3[3], r2[6], r3[6], r2[7], r3[7])
        let t4 = SIMD8(r4[0], r5[0], r4[1], r5[1], r4[4], r5[4], r4[5], r5[5])
        let t5 = SIMD8(r4[2], r5[2], r4[3], r5[3], r4[6], r5[6], r4[7], r5[7])
        let t6 = SIMD8(r6[0], r7[0], r6[1], r7[1], r6[4], r7[4], r6[5], r7[5])
        let t7 = SIMD8(r6[2], r7[2], r6[3], r7[3], r6[6], r7[6], r6[7], r7[7])
        // Stage 2: 64-bit interleave.
        let u0 = SIMD8(t0[0], t0[1], t2[0], t2[1], t0[4], t0[5], t2[4], t2[5])
        let u1 = SIMD8(t0[2], t0[3], t2[2], t2[3], t0[6], t0[7], t2[6], t2[7])
        let u2 = SIMD8(t1[0], t1[1], t3[0], t3[1], t1[4], t1[5], t3[4], t3[5])
        let u3 = SIMD8(t1[2], t1[3], t3[2], t3[3], t1[6], t1[7], t3[6], t3[7])
        let u4 = SIMD8(t4[0], t4[1], t6[0], t6[1], t4[4], t4[5], t6[4], t6[5])
        let u5 = SIMD8(t4[2], t4[3], t6[2], t6[3], t4[6], t4[7], t6[6], t6[7])
        let u6 = SIMD8(t5[0], t5[1], t7[0], t7[1], t5[4], t5[5], t7[4], t7[5])
        let u7 = SIMD8(t5[2], t5[3], t7[2], t7[3], t5[6], t5[7], t7[6], t7[7])
        // Stage 3: 128-bit lane permute.
        storeSIMD8(dst, SIMD8(lowHalf: u0.lowHalf, highHalf: u4.lowHalf))
        storeSIMD8(dst + ldd, SIMD8(lowHalf: u1.lowHalf, highHalf: u5.lowHalf))
        storeSIMD8(dst + 2 * ldd, SIMD8(lowHalf: u2.lowHalf, highHalf: u6.lowHalf))
        storeSIMD8(dst + 3 * ldd, SIMD8(lowHalf: u3.lowHalf, highHalf: u7.lowHalf))
        storeSIMD8(dst + 4 * ldd, SIMD8(lowHalf: u0.highHalf, highHalf: u4.highHalf))
        storeSIMD8(dst + 5 * ldd, SIMD8(lowHalf: u1.highHalf, highHalf: u5.highHalf))
        storeSIMD8(dst + 6 * ldd, SIMD8(lowHalf: u2.highHalf, highHalf: u6.highHalf))
        storeSIMD8(dst + 7 * ldd, SIMD8(lowHalf: u3.highHalf, highHalf: u7.highHalf))
    }
}

/// Unaligned 8-float load.
@inline(__always)
func loadSIMD8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Unaligned 8-float load.
@inline(__always)
func loadSIMD8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Unaligned 8-float store.
@inline(__always)
func storeSIMD8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

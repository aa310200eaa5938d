#if arch(x86_64)
import SACTensorAVX512
#endif

/// The AVX2 micro-kernel (the baseline, and the edges of the AVX-512 path): a 6×16 tile of C from a
/// packed B panel and a packed A panel or six rows of A read in place, with 12 SIMD8 accumulators
/// (6 rows × 2 vectors) updated by fused multiply-adds.
enum GEMMKernel {
    /// Whether the driver runs the 12×32 AVX-512 kernel (`GEMMKernelAVX512`) on full
    /// 12-row × 32-column tiles, keeping this 6×16 kernel for the edges. Set from
    /// `CPUFeatures.preferAVX512`; tests switch it to check both paths. Never true on a CPU
    /// without AVX-512F; not changed while a GEMM runs.
    nonisolated(unsafe) static var useAVX512 = CPUFeatures.preferAVX512

    /// Rows of the register tile.
    static let mr = 6
    /// Columns of the register tile (two SIMD8 vectors).
    static let nr = 16

    /// C[0..<rows, 0..<cols] = alpha·(Ã·B̃) + beta·C, where Ã is a packed A micro-panel
    /// (kc·6 floats) and B̃ a packed B micro-panel (kc·16 floats). `beta == 0` does not read
    /// C. `rows ≤ 6`, `cols ≤ 16`; a partial tile goes through a stack buffer.
    @inline(__always)
    static func tile(
        kc: Int, pa: UnsafePointer<Float>, pb: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, alpha: Float, beta: Float
    ) {
        if rows == mr && cols == nr {
            kernel(kc: kc, pa: pa, pb: pb, c: c, ldc: ldc, alpha: alpha, beta: beta)
        } else {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * nr) { tmp in
                let t = tmp.baseAddress!
                kernel(kc: kc, pa: pa, pb: pb, c: t, ldc: nr, alpha: alpha, beta: 0)
                storeTile(t, width: nr, rows: rows, cols: cols, c: c, ldc: ldc, beta: beta)
            }
        }
    }

    /// `C[0..<rows, 0..<cols] = T + beta·C` (`beta == 0` does not read C) from a tile `T`
    /// of row length `width` that a kernel wrote with `beta = 0`: the partial tiles at the
    /// edges of C.
    @inline(__always)
    static func storeTile(
        _ t: UnsafePointer<Float>, width: Int, rows: Int, cols: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float
    ) {
        for i in 0..<rows {
            let ci = c + i * ldc, ti = t + i * width
            if beta == 0 {
                for j in 0..<cols { ci[j] = ti[j] }
            } else {
                for j in 0..<cols { ci[j] = ti[j] + beta * ci[j] }
            }
        }
    }

    /// `tile` for six rows of a row-major A read in place (`a[r·lda + p]`, r < 6, p < kc) instead
    /// of a packed micro-panel: the rows must exist (`cols ≤ 16` may be partial).
    @inline(__always)
    static func tileRows(
        kc: Int, a: UnsafePointer<Float>, lda: Int, pb: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, alpha: Float, beta: Float
    ) {
        if cols == nr {
            kernelRows(kc: kc, a: a, lda: lda, pb: pb, c: c, ldc: ldc, alpha: alpha, beta: beta)
        } else {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * nr) { tmp in
                let t = tmp.baseAddress!
                kernelRows(kc: kc, a: a, lda: lda, pb: pb, c: t, ldc: nr, alpha: alpha, beta: 0)
                storeTile(t, width: nr, rows: mr, cols: cols, c: c, ldc: ldc, beta: beta)
            }
        }
    }

    /// The full 6×16 kernel on a packed A micro-panel (see `tile`).
    @inline(never)
    static func kernel(
        kc: Int, pa: UnsafePointer<Float>, pb: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        body(kc: kc, rows: PackedRows(p: pa), pb: pb, c: c, ldc: ldc, alpha: alpha, beta: beta)
    }

    /// The full 6×16 kernel on six rows of a row-major A read in place (see `tileRows`).
    @inline(never)
    static func kernelRows(
        kc: Int, a: UnsafePointer<Float>, lda: Int, pb: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        body(kc: kc, rows: InPlaceRows(p: a, lda: lda), pb: pb, c: c, ldc: ldc, alpha: alpha, beta: beta)
    }

    /// Where the kernel reads `op(A)[r, p]` for its six rows r at depth p.
    protocol Rows {
        /// `op(A)[r, p]` at the current depth p.
        func at(_ r: Int) -> Float
        /// Moves to depth p + 1.
        mutating func advance()
    }

    /// A packed micro-panel: the six values of depth p side by side.
    struct PackedRows: Rows {
        var p: UnsafePointer<Float>
        @inline(__always) func at(_ r: Int) -> Float { p[r] }
        @inline(__always) mutating func advance() { p += 6 }
    }

    /// Six rows of a row-major matrix, `lda` floats apart: no packing pass over A.
    struct InPlaceRows: Rows {
        var p: UnsafePointer<Float>
        let lda: Int
        @inline(__always) func at(_ r: Int) -> Float { p[r * lda] }
        @inline(__always) mutating func advance() { p += 1 }
    }

    /// C[6×16] = alpha·(A·B̃) + beta·C over depth kc, A read through `rows`, B̃ a packed
    /// micro-panel; 12 SIMD8 accumulators updated by fused multiply-adds.
    @inline(__always)
    static func body<R: Rows>(
        kc: Int, rows: R, pb: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
        var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
        var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
        var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
        var a = rows, b = pb
        for _ in 0..<kc {
            let b0 = loadSIMD8(b), b1 = loadSIMD8(b + 8)
            var av = SIMD8<Float>(repeating: a.at(0))
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: a.at(1))
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: a.at(2))
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: a.at(3))
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: a.at(4))
            c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: a.at(5))
            c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            a.advance(); b += 16
        }
        let al = SIMD8<Float>(repeating: alpha)
        if beta == 0 {
            storeSIMD8(c, al * c00); storeSIMD8(c + 8, al * c01)
            var r = c + ldc
            storeSIMD8(r, al * c10); storeSIMD8(r + 8, al * c11); r += ldc
            storeSIMD8(r, al * c20); storeSIMD8(r + 8, al * c21); r += ldc
            storeSIMD8(r, al * c30); storeSIMD8(r + 8, al * c31); r += ldc
            storeSIMD8(r, al * c40); storeSIMD8(r + 8, al * c41); r += ldc
            storeSIMD8(r, al * c50); storeSIMD8(r + 8, al * c51)
        } else {
            let be = SIMD8<Float>(repeating: beta)
            @inline(__always) func upd(_ p: UnsafeMutablePointer<Float>, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>) {
                storeSIMD8(p, (be * loadSIMD8(p)).addingProduct(al, v0))
                storeSIMD8(p + 8, (be * loadSIMD8(p + 8)).addingProduct(al, v1))
            }
            var r = c
            upd(r, c00, c01); r += ldc
            upd(r, c10, c11); r += ldc
            upd(r, c20, c21); r += ldc
            upd(r, c30, c31); r += ldc
            upd(r, c40, c41); r += ldc
            upd(r, c50, c51)
        }
    }
}

#if arch(x86_64)
extension GEMMKernel {
    /// `C[0..<rows, 0..<32] = alpha·(Ã·B̃) + beta·C` for the bottom edge of an AVX-512 row
    /// block: `rows` (≤ 12) rows from two packed A micro-panels (the second zero-padded past
    /// the matrix) and two full B micro-panels, computed by the 12×32 kernel into a stack
    /// tile and copied out. Only for `useAVX512`.
    @inline(__always)
    static func wideEdge(
        kc: Int, pa0: UnsafePointer<Float>, pa1: UnsafePointer<Float>,
        pb0: UnsafePointer<Float>, pb1: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, alpha: Float, beta: Float
    ) {
        let w = 2 * nr
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * mr * w) { tmp in
            let t = tmp.baseAddress!
            GEMMKernelAVX512.kernel12x32(
                kc: kc, pa0: pa0, pa1: pa1, pb0: pb0, pb1: pb1, c: t, ldc: w, alpha: alpha, beta: 0)
            storeTile(t, width: w, rows: rows, cols: w, c: c, ldc: ldc, beta: beta)
        }
    }
}
#endif

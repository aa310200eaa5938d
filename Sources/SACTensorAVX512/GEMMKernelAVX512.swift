#if arch(x86_64)
/// The AVX-512 micro-kernel: a 12×32 tile of C from the same packed panels the 6×16 AVX2
/// kernel reads (two 6-row A micro-panels, two 16-column B micro-panels), with 24 SIMD16
/// accumulators updated by fused multiply-adds in 512-bit registers.
///
/// This module is compiled for `skylake-avx512`: call it only after `SACTensor` has checked at
/// run time that the CPU and the operating system support AVX-512F (`GEMMKernel.useAVX512`).
/// It uses no generic standard-library code, so that no AVX-512 copy of a shared
/// specialisation can be linked in place of the baseline one (`nm` on its object file lists
/// only this kernel and its type metadata). The k steps are written out rather than folded
/// into a struct of accumulators with an inlined `step`: that version emitted shared weak
/// helpers (`__swift_memcpy1536_16`) compiled for AVX-512, which the linker could pick for
/// baseline code.
public enum GEMMKernelAVX512 {
    /// `C[0..<12, 0..<32] = alpha·(Ã·B̃) + beta·C` where `pa0`/`pa1` are packed A micro-panels
    /// (kc·6 floats each: rows 0–5 and 6–11) and `pb0`/`pb1` packed B micro-panels (kc·16
    /// floats each: columns 0–15 and 16–31). `beta == 0` does not read C.
    @inline(never)
    public static func kernel12x32(
        kc: Int, pa0: UnsafePointer<Float>, pa1: UnsafePointer<Float>,
        pb0: UnsafePointer<Float>, pb1: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
    ) {
        var c0a = SIMD16<Float>(), c0b = SIMD16<Float>()
        var c1a = SIMD16<Float>(), c1b = SIMD16<Float>()
        var c2a = SIMD16<Float>(), c2b = SIMD16<Float>()
        var c3a = SIMD16<Float>(), c3b = SIMD16<Float>()
        var c4a = SIMD16<Float>(), c4b = SIMD16<Float>()
        var c5a = SIMD16<Float>(), c5b = SIMD16<Float>()
        var c6a = SIMD16<Float>(), c6b = SIMD16<Float>()
        var c7a = SIMD16<Float>(), c7b = SIMD16<Float>()
        var c8a = SIMD16<Float>(), c8b = SIMD16<Float>()
        var c9a = SIMD16<Float>(), c9b = SIMD16<Float>()
        var c10a = SIMD16<Float>(), c10b = SIMD16<Float>()
        var c11a = SIMD16<Float>(), c11b = SIMD16<Float>()
        var a0 = pa0, a1 = pa1, b0 = pb0, b1 = pb1
        // Two k steps per trip (fewer loop instructions per 48 FMAs), then the odd one.
        for _ in 0..<(kc >> 1) {
            do {
                let x = UnsafeRawPointer(b0 + 0).loadUnaligned(as: SIMD16<Float>.self)
                let y = UnsafeRawPointer(b1 + 0).loadUnaligned(as: SIMD16<Float>.self)
                var s: SIMD16<Float>
                s = SIMD16<Float>(repeating: a0[0]); c0a = c0a.addingProduct(s, x); c0b = c0b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[1]); c1a = c1a.addingProduct(s, x); c1b = c1b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[2]); c2a = c2a.addingProduct(s, x); c2b = c2b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[3]); c3a = c3a.addingProduct(s, x); c3b = c3b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[4]); c4a = c4a.addingProduct(s, x); c4b = c4b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[5]); c5a = c5a.addingProduct(s, x); c5b = c5b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[0]); c6a = c6a.addingProduct(s, x); c6b = c6b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[1]); c7a = c7a.addingProduct(s, x); c7b = c7b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[2]); c8a = c8a.addingProduct(s, x); c8b = c8b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[3]); c9a = c9a.addingProduct(s, x); c9b = c9b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[4]); c10a = c10a.addingProduct(s, x); c10b = c10b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[5]); c11a = c11a.addingProduct(s, x); c11b = c11b.addingProduct(s, y)
            }
            do {
                let x = UnsafeRawPointer(b0 + 16).loadUnaligned(as: SIMD16<Float>.self)
                let y = UnsafeRawPointer(b1 + 16).loadUnaligned(as: SIMD16<Float>.self)
                var s: SIMD16<Float>
                s = SIMD16<Float>(repeating: a0[6]); c0a = c0a.addingProduct(s, x); c0b = c0b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[7]); c1a = c1a.addingProduct(s, x); c1b = c1b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[8]); c2a = c2a.addingProduct(s, x); c2b = c2b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[9]); c3a = c3a.addingProduct(s, x); c3b = c3b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[10]); c4a = c4a.addingProduct(s, x); c4b = c4b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a0[11]); c5a = c5a.addingProduct(s, x); c5b = c5b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[6]); c6a = c6a.addingProduct(s, x); c6b = c6b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[7]); c7a = c7a.addingProduct(s, x); c7b = c7b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[8]); c8a = c8a.addingProduct(s, x); c8b = c8b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[9]); c9a = c9a.addingProduct(s, x); c9b = c9b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[10]); c10a = c10a.addingProduct(s, x); c10b = c10b.addingProduct(s, y)
                s = SIMD16<Float>(repeating: a1[11]); c11a = c11a.addingProduct(s, x); c11b = c11b.addingProduct(s, y)
            }
            a0 += 12; a1 += 12; b0 += 32; b1 += 32
        }
        if kc & 1 != 0 {
            let x = UnsafeRawPointer(b0 + 0).loadUnaligned(as: SIMD16<Float>.self)
            let y = UnsafeRawPointer(b1 + 0).loadUnaligned(as: SIMD16<Float>.self)
            var s: SIMD16<Float>
            s = SIMD16<Float>(repeating: a0[0]); c0a = c0a.addingProduct(s, x); c0b = c0b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a0[1]); c1a = c1a.addingProduct(s, x); c1b = c1b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a0[2]); c2a = c2a.addingProduct(s, x); c2b = c2b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a0[3]); c3a = c3a.addingProduct(s, x); c3b = c3b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a0[4]); c4a = c4a.addingProduct(s, x); c4b = c4b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a0[5]); c5a = c5a.addingProduct(s, x); c5b = c5b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a1[0]); c6a = c6a.addingProduct(s, x); c6b = c6b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a1[1]); c7a = c7a.addingProduct(s, x); c7b = c7b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a1[2]); c8a = c8a.addingProduct(s, x); c8b = c8b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a1[3]); c9a = c9a.addingProduct(s, x); c9b = c9b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a1[4]); c10a = c10a.addingProduct(s, x); c10b = c10b.addingProduct(s, y)
            s = SIMD16<Float>(repeating: a1[5]); c11a = c11a.addingProduct(s, x); c11b = c11b.addingProduct(s, y)
        }
        let al = SIMD16<Float>(repeating: alpha)
        var r = UnsafeMutableRawPointer(c)
        let stride = ldc &* 4
        if beta == 0 {
            r.storeBytes(of: al * c0a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c0b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c1a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c1b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c2a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c2b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c3a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c3b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c4a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c4b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c5a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c5b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c6a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c6b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c7a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c7b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c8a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c8b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c9a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c9b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c10a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c10b, as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: al * c11a, as: SIMD16<Float>.self); (r + 64).storeBytes(of: al * c11b, as: SIMD16<Float>.self)
        } else {
            let be = SIMD16<Float>(repeating: beta)
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c0a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c0b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c1a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c1b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c2a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c2b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c3a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c3b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c4a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c4b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c5a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c5b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c6a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c6b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c7a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c7b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c8a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c8b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c9a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c9b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c10a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c10b), as: SIMD16<Float>.self); r += stride
            r.storeBytes(of: (be * r.loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c11a), as: SIMD16<Float>.self)
            (r + 64).storeBytes(of: (be * (r + 64).loadUnaligned(as: SIMD16<Float>.self)).addingProduct(al, c11b), as: SIMD16<Float>.self)
        }
    }
}
#endif

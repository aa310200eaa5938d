/// GEMM for m ≤ 4 (decoding a token: y = x·Wᵀ). No packing: each row of B (transB) or each
/// 16-column strip of B is read once and multiplied by all m rows of op(A) held in L1; the
/// threads split the columns of C. Memory-bound on B.
enum GEMMSmallM {
    static let maxM = 4

    static func run(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        precondition(m >= 1 && m <= maxM)
        if transA || !transB {
            // Gather op(A) into contiguous rows (m·k floats), scaled by alpha when B is not
            // transposed (that kernel accumulates straight into C).
            let buf = GEMMBufferPool.shared.acquire(m * k)
            defer { GEMMBufferPool.shared.release(buf) }
            let x = buf.pointer
            let s: Float = transB ? 1 : alpha
            for i in 0..<m {
                for p in 0..<k { x[i * k + p] = s * (transA ? a[p * lda + i] : a[i * lda + p]) }
            }
            dispatch(transB: transB, m: m, n: n, k: k, alpha: transB ? alpha : 1, x: x, ldx: k, b: b, ldb: ldb,
                     beta: beta, c: c, ldc: ldc, threads: threads)
        } else {
            dispatch(transB: transB, m: m, n: n, k: k, alpha: alpha, x: a, ldx: lda, b: b, ldb: ldb,
                     beta: beta, c: c, ldc: ldc, threads: threads)
        }
    }

    static func dispatch(
        transB: Bool, m: Int, n: Int, k: Int, alpha: Float, x: UnsafePointer<Float>, ldx: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
        threads: Int
    ) {
        // Column ranges: multiples of 16 columns; several per thread for balance when B is
        // transposed (rows of B are independent), one wide range per thread otherwise (long
        // contiguous row segments of B).
        let strips = (n + 15) / 16
        let parts = threads <= 1 ? 1 : min(strips, transB ? 4 * threads : threads)
        gemmForEach(parts, threads: threads) { part in
            let j0 = strips * part / parts * 16
            let j1 = min(n, strips * (part + 1) / parts * 16)
            if j0 >= j1 { return }
            switch (transB, m) {
            case (true, 1): nt(rows: 1, k: k, x: x, ldx: ldx, b: b, ldb: ldb, j0: j0, j1: j1, alpha: alpha, beta: beta, c: c, ldc: ldc)
            case (true, 2): nt(rows: 2, k: k, x: x, ldx: ldx, b: b, ldb: ldb, j0: j0, j1: j1, alpha: alpha, beta: beta, c: c, ldc: ldc)
            case (true, 3): nt(rows: 3, k: k, x: x, ldx: ldx, b: b, ldb: ldb, j0: j0, j1: j1, alpha: alpha, beta: beta, c: c, ldc: ldc)
            case (true, _): nt(rows: 4, k: k, x: x, ldx: ldx, b: b, ldb: ldb, j0: j0, j1: j1, alpha: alpha, beta: beta, c: c, ldc: ldc)
            case (false, 1): nn(rows: 1, k: k, x: x, ldx: ldx, b: b, ldb: ldb, j0: j0, j1: j1, beta: beta, c: c, ldc: ldc)
            case (false, 2): nn(rows: 2, k: k, x: x, ldx: ldx, b: b, ldb: ldb, j0: j0, j1: j1, beta: beta, c: c, ldc: ldc)
            case (false, 3): nn(rows: 3, k: k, x: x, ldx: ldx, b: b, ldb: ldb, j0: j0, j1: j1, beta: beta, c: c, ldc: ldc)
            case (false, _): nn(rows: 4, k: k, x: x, ldx: ldx, b: b, ldb: ldb, j0: j0, j1: j1, beta: beta, c: c, ldc: ldc)
            }
        }
    }

    /// Writes `alpha·v + beta·c` (no read of c when beta == 0).
    @inline(__always)
    static func put(_ c: UnsafeMutablePointer<Float>, _ v: Float, _ alpha: Float, _ beta: Float) {
        c.pointee = beta == 0 ? alpha * v : alpha * v + beta * c.pointee
    }

    /// transB: C[i, j] for j in j0..<j1 = dot(x_i, B_j), two rows of B per step.
    @inline(__always)
    static func nt(
        rows: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, b: UnsafePointer<Float>, ldb: Int,
        j0: Int, j1: Int, alpha: Float, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let x0 = x, x1 = x + (rows > 1 ? ldx : 0), x2 = x + (rows > 2 ? 2 * ldx : 0), x3 = x + (rows > 3 ? 3 * ldx : 0)
        let k8 = k & ~7
        var j = j0
        while j + 2 <= j1 {
            let bA = b + j * ldb, bB = bA + ldb
            var s0a = SIMD8<Float>(), s0b = SIMD8<Float>(), s1a = SIMD8<Float>(), s1b = SIMD8<Float>()
            var s2a = SIMD8<Float>(), s2b = SIMD8<Float>(), s3a = SIMD8<Float>(), s3b = SIMD8<Float>()
            var p = 0
            while p < k8 {
                let va = loadSIMD8(bA + p), vb = loadSIMD8(bB + p)
                let u0 = loadSIMD8(x0 + p)
                s0a = s0a.addingProduct(u0, va); s0b = s0b.addingProduct(u0, vb)
                if rows > 1 { let u = loadSIMD8(x1 + p); s1a = s1a.addingProduct(u, va); s1b = s1b.addingProduct(u, vb) }
                if rows > 2 { let u = loadSIMD8(x2 + p); s2a = s2a.addingProduct(u, va); s2b = s2b.addingProduct(u, vb) }
                if rows > 3 { let u = loadSIMD8(x3 + p); s3a = s3a.addingProduct(u, va); s3b = s3b.addingProduct(u, vb) }
                p += 8
            }
            var r0a = s0a.sum(), r0b = s0b.sum(), r1a = s1a.sum(), r1b = s1b.sum()
            var r2a = s2a.sum(), r2b = s2b.sum(), r3a = s3a.sum(), r3b = s3b.sum()
            while p < k {
                let va = bA[p], vb = bB[p]
                r0a += x0[p] * va; r0b += x0[p] * vb
                if rows > 1 { r1a += x1[p] * va; r1b += x1[p] * vb }
                if rows > 2 { r2a += x2[p] * va; r2b += x2[p] * vb }
                if rows > 3 { r3a += x3[p] * va; r3b += x3[p] * vb }
                p += 1
            }
            put(c + j, r0a, alpha, beta); put(c + j + 1, r0b, alpha, beta)
            if rows > 1 { put(c + ldc + j, r1a, alpha, beta); put(c + ldc + j + 1, r1b, alpha, beta) }
            if rows > 2 { put(c + 2 * ldc + j, r2a, alpha, beta); put(c + 2 * ldc + j + 1, r2b, alpha, beta) }
            if rows > 3 { put(c + 3 * ldc + j, r3a, alpha, beta); put(c + 3 * ldc + j + 1, r3b, alpha, beta) }
            j += 2
        }
        if j < j1 {
            let bj = b + j * ldb
            for i in 0..<rows {
                let xi = x + i * ldx
                var s = SIMD8<Float>()
                var p = 0
                while p < k8 { s = s.addingProduct(loadSIMD8(xi + p), loadSIMD8(bj + p)); p += 8 }
                var r = s.sum()
                while p < k { r += xi[p] * bj[p]; p += 1 }
                put(c + i * ldc + j, r, alpha, beta)
            }
        }
    }

    /// No transB: C[i, j0..<j1] = beta·C + Σ_p (alpha·x)[i,p]·B[p, j0..<j1]. `x` must already
    /// be scaled by alpha. C itself accumulates, chunk by chunk (chunks of ≤ 4096 columns stay
    /// in L2); B is read row segment by row segment (contiguous, TLB-friendly), U rows at once.
    @inline(__always)
    static func nn(
        rows: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, b: UnsafePointer<Float>, ldb: Int,
        j0: Int, j1: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let x0 = x, x1 = x + (rows > 1 ? ldx : 0), x2 = x + (rows > 2 ? 2 * ldx : 0), x3 = x + (rows > 3 ? 3 * ldx : 0)
        let c0 = c, c1 = c + (rows > 1 ? ldc : 0), c2 = c + (rows > 2 ? 2 * ldc : 0), c3 = c + (rows > 3 ? 3 * ldc : 0)
        let chunk = 4096
        var jc = j0
        while jc < j1 {
            let je = min(j1, jc + chunk)
            let je8 = jc + (je - jc) / 8 * 8
            for i in 0..<rows {
                let ci = c + i * ldc
                if beta == 0 {
                    (ci + jc).update(repeating: 0, count: je - jc)
                } else if beta != 1 {
                    for j in jc..<je { ci[j] *= beta }
                }
            }
            var p = 0
            if rows <= 2 {
                while p + 4 <= k {
                    let b0 = b + p * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb
                    let u00 = SIMD8<Float>(repeating: x0[p]), u01 = SIMD8<Float>(repeating: x0[p + 1])
                    let u02 = SIMD8<Float>(repeating: x0[p + 2]), u03 = SIMD8<Float>(repeating: x0[p + 3])
                    let u10 = SIMD8<Float>(repeating: x1[p]), u11 = SIMD8<Float>(repeating: x1[p + 1])
                    let u12 = SIMD8<Float>(repeating: x1[p + 2]), u13 = SIMD8<Float>(repeating: x1[p + 3])
                    var j = jc
                    while j < je8 {
                        let v0 = loadSIMD8(b0 + j), v1 = loadSIMD8(b1 + j)
                        let v2 = loadSIMD8(b2 + j), v3 = loadSIMD8(b3 + j)
                        storeSIMD8(c0 + j, loadSIMD8(c0 + j).addingProduct(u00, v0).addingProduct(u01, v1)
                            .addingProduct(u02, v2).addingProduct(u03, v3))
                        if rows > 1 {
                            storeSIMD8(c1 + j, loadSIMD8(c1 + j).addingProduct(u10, v0).addingProduct(u11, v1)
                                .addingProduct(u12, v2).addingProduct(u13, v3))
                        }
                        j += 8
                    }
                    while j < je {
                        c0[j] += x0[p] * b0[j] + x0[p + 1] * b1[j] + x0[p + 2] * b2[j] + x0[p + 3] * b3[j]
                        if rows > 1 { c1[j] += x1[p] * b0[j] + x1[p + 1] * b1[j] + x1[p + 2] * b2[j] + x1[p + 3] * b3[j] }
                        j += 1
                    }
                    p += 4
                }
            } else {
                while p + 2 <= k {
                    let b0 = b + p * ldb, b1 = b0 + ldb
                    let u00 = SIMD8<Float>(repeating: x0[p]), u01 = SIMD8<Float>(repeating: x0[p + 1])
                    let u10 = SIMD8<Float>(repeating: x1[p]), u11 = SIMD8<Float>(repeating: x1[p + 1])
                    let u20 = SIMD8<Float>(repeating: x2[p]), u21 = SIMD8<Float>(repeating: x2[p + 1])
                    let u30 = SIMD8<Float>(repeating: x3[p]), u31 = SIMD8<Float>(repeating: x3[p + 1])
                    var j = jc
                    while j < je8 {
                        let v0 = loadSIMD8(b0 + j), v1 = loadSIMD8(b1 + j)
                        storeSIMD8(c0 + j, loadSIMD8(c0 + j).addingProduct(u00, v0).addingProduct(u01, v1))
                        storeSIMD8(c1 + j, loadSIMD8(c1 + j).addingProduct(u10, v0).addingProduct(u11, v1))
                        storeSIMD8(c2 + j, loadSIMD8(c2 + j).addingProduct(u20, v0).addingProduct(u21, v1))
                        if rows > 3 {
                            storeSIMD8(c3 + j, loadSIMD8(c3 + j).addingProduct(u30, v0).addingProduct(u31, v1))
                        }
                        j += 8
                    }
                    while j < je {
                        c0[j] += x0[p] * b0[j] + x0[p + 1] * b1[j]
                        c1[j] += x1[p] * b0[j] + x1[p + 1] * b1[j]
                        c2[j] += x2[p] * b0[j] + x2[p + 1] * b1[j]
                        if rows > 3 { c3[j] += x3[p] * b0[j] + x3[p + 1] * b1[j] }
                        j += 1
                    }
                    p += 2
                }
            }
            while p < k {
                let b0 = b + p * ldb
                for i in 0..<rows {
                    let ci = c + i * ldc
                    let xv = x[i * ldx + p]
                    let u = SIMD8<Float>(repeating: xv)
                    var j = jc
                    while j < je8 { storeSIMD8(ci + j, loadSIMD8(ci + j).addingProduct(u, loadSIMD8(b0 + j))); j += 8 }
                    while j < je { ci[j] += xv * b0[j]; j += 1 }
                }
                p += 1
            }
            jc = je
        }
    }
}

import Testing
@testable import SACTensor

/// GEMM against a Float64 naive reference on seeded random data. Tolerance per element:
/// |c − ref| ≤ 1e-5·(|alpha|·Σ_p |op(A)_ip|·|op(B)_pj| + |beta|·|C0_ij|) + 1e-6.
///
/// Serialized: some tests change process-wide settings (`GEMMDriver.packLimit`,
/// `Parallel.threads`).
@Suite(.serialized) struct GEMMTests {
    struct Case {
        var transA: Bool, transB: Bool, m: Int, n: Int, k: Int
        var alpha: Float = 1, beta: Float = 0
        var padA = 0, padB = 0, padC = 0
    }

    /// Runs one case through `run` (sgemm by default) and checks it against Float64.
    func check(_ tc: Case, seed: UInt64, sourceLocation: SourceLocation = #_sourceLocation,
               run: ((Case, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void)? = nil) {
        var rng = SplitMix64(seed: seed)
        let (m, n, k) = (tc.m, tc.n, tc.k)
        let aRows = tc.transA ? k : m, aCols = tc.transA ? m : k
        let bRows = tc.transB ? n : k, bCols = tc.transB ? k : n
        let lda = max(1, aCols + tc.padA), ldb = max(1, bCols + tc.padB), ldc = max(1, n + tc.padC)
        let a = (0..<(max(1, aRows * lda))).map { _ in Float(rng.nextGaussian()) }
        let b = (0..<(max(1, bRows * ldb))).map { _ in Float(rng.nextGaussian()) }
        var c = (0..<(max(1, m * ldc))).map { _ in Float(rng.nextGaussian()) }
        if tc.beta == 0 { for i in 0..<c.count { c[i] = .nan } }
        let c0 = c
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    if let run {
                        run(tc, pa.baseAddress!, lda, pb.baseAddress!, ldb, pc.baseAddress!, ldc)
                    } else {
                        GEMM.sgemm(transA: tc.transA, transB: tc.transB, m: m, n: n, k: k, alpha: tc.alpha,
                                   a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                   beta: tc.beta, c: pc.baseAddress!, ldc: ldc)
                    }
                }
            }
        }
        var bad = 0
        for i in 0..<m {
            for j in 0..<ldc {
                let got = Double(c[i * ldc + j])
                if j >= n {  // padding columns of C must be untouched
                    if !(got.bitPattern == Double(c0[i * ldc + j]).bitPattern) { bad += 1 }
                    continue
                }
                var ref = 0.0, mag = 0.0
                for p in 0..<k {
                    let av = Double(tc.transA ? a[p * lda + i] : a[i * lda + p])
                    let bv = Double(tc.transB ? b[j * ldb + p] : b[p * ldb + j])
                    ref += av * bv; mag += abs(av * bv)
                }
                ref *= Double(tc.alpha); mag *= abs(Double(tc.alpha))
                if tc.beta != 0 { ref += Double(tc.beta) * Double(c0[i * ldc + j]); mag += abs(Double(tc.beta) * Double(c0[i * ldc + j])) }
                if !(abs(got - ref) <= 1e-5 * mag + 1e-6) {
                    if bad < 3 { Issue.record("\(tc) at (\(i),\(j)): got \(got), want \(ref)", sourceLocation: sourceLocation) }
                    bad += 1
                }
            }
        }
        if bad > 0 { Issue.record("\(tc): \(bad) bad elements", sourceLocation: sourceLocation) }
    }

    static let transposes = [(false, false), (false, true), (true, false), (true, true)]

    @Test func testAwkwardSizesAllTransposes() {
        let sizes = [1, 2, 3, 5, 7, 13, 17, 31, 33, 63, 65]
        var seed: UInt64 = 1
        for (ta, tb) in Self.transposes {
            for m in sizes {
                for (n, k) in [(m, m), (17, 13), (33, 1), (7, 65), (129, 5), (1, 31)] {
                    seed += 1
                    check(Case(transA: ta, transB: tb, m: m, n: n, k: k), seed: seed)
                }
            }
        }
    }

    /// Includes k = 576 (the largest single depth block, `GEMMDriver.kcSingle`) and k = 577.
    @Test func testLargerSizesCrossBlockBoundaries() {
        var seed: UInt64 = 100
        for (ta, tb) in Self.transposes {
            for (m, n, k) in [(300, 520, 700), (127, 257, 129), (257, 127, 513), (5, 4100, 3), (151, 4111, 37),
                              (37, 45, 576), (41, 29, 577)] {
                seed += 1
                check(Case(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.75, beta: 0.5), seed: seed)
            }
        }
    }

    /// A small pack limit forces several row panels and column panels (repacking A and B).
    @Test func testSplitIntoSeveralPackedPanels() {
        let saved = GEMMDriver.packLimit
        GEMMDriver.packLimit = 20_000
        defer { GEMMDriver.packLimit = saved }
        var seed: UInt64 = 150
        for (ta, tb) in Self.transposes {
            for (m, n, k) in [(300, 520, 700), (97, 61, 301), (31, 400, 33)] {
                seed += 1
                check(Case(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1.25, beta: -0.5, padA: 1, padC: 3), seed: seed)
            }
        }
    }

    /// op(B) packed once (`PackedMatrix`) and reused: the same reference checks for both
    /// transposes of A and B, both kernel families, m from 1 (below the packed driver's usual
    /// range) up, several depth blocks, and several column panels — the matrix keeps the panels
    /// it was packed with even when the pack limit changes before the product runs.
    @Test(arguments: [false, true]) func testPrepackedB(avx512: Bool) {
        if avx512 && !CPUFeatures.hasAVX512F { return }
        let savedWide = GEMMKernel.useAVX512, savedLimit = GEMMDriver.packLimit
        GEMMKernel.useAVX512 = avx512
        defer { GEMMKernel.useAVX512 = savedWide; GEMMDriver.packLimit = savedLimit }
        var seed: UInt64 = avx512 ? 7000 : 8000
        for (ta, tb) in Self.transposes {
            for (m, n, k, limit) in [(1, 33, 17, 0), (3, 70, 576, 0), (5, 29, 577, 0), (35, 95, 300, 0),
                                     (62, 70, 1200, 0), (20, 64, 600, 0), (97, 61, 301, 20_000),
                                     (60, 400, 200, 20_000), (130, 1000, 40, 0)] {
                for (alpha, beta): (Float, Float) in [(1, 0), (0.75, 0.5)] {
                    seed += 1
                    check(Case(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, beta: beta,
                               padA: 1, padB: 2, padC: 3), seed: seed) { tc, a, lda, b, ldb, c, ldc in
                        if limit > 0 { GEMMDriver.packLimit = limit }
                        let packed = PackedMatrix(transB: tc.transB, k: tc.k, n: tc.n, b: b, ldb: ldb)
                        GEMMDriver.packLimit = limit > 0 ? savedLimit : 30_000  // differs from packing time
                        #expect(packed.k == tc.k && packed.n == tc.n)
                        GEMM.sgemm(transA: tc.transA, m: tc.m, n: tc.n, k: tc.k, alpha: tc.alpha, a: a, lda: lda,
                                   packedB: packed, beta: tc.beta, c: c, ldc: ldc)
                        GEMMDriver.packLimit = savedLimit
                    }
                }
            }
        }
    }

    /// The same checks through each kernel family the driver can choose: the AVX2 6×16
    /// kernel alone, and (on a CPU with AVX-512F) the 12×32 AVX-512 kernel with 6×16 edges.
    /// Sizes put full 12×32 tiles next to 6-row, partial-row and single-panel edges (m = 35 and
    /// m = 20 leave 11 and 8 rows: the 12×32 kernel through a stack tile), a pack
    /// limit that splits A and B into several panels, several depth blocks, and alpha/beta
    /// with padded leading dimensions. Also prints which families ran.
    @Test(arguments: [false, true]) func testKernelFamilies(avx512: Bool) {
        if avx512 && !CPUFeatures.hasAVX512F {
            print("GEMMTests: no AVX-512F on this CPU; the AVX-512 kernel is not exercised")
            return
        }
        let savedWide = GEMMKernel.useAVX512, savedLimit = GEMMDriver.packLimit
        GEMMKernel.useAVX512 = avx512
        defer { GEMMKernel.useAVX512 = savedWide; GEMMDriver.packLimit = savedLimit }
        var seed: UInt64 = avx512 ? 5000 : 6000
        for (ta, tb) in Self.transposes {
            for (m, n, k) in [(12, 32, 9), (24, 64, 40), (18, 48, 21), (13, 33, 7), (35, 95, 300),
                              (37, 45, 576), (41, 29, 577), (62, 70, 1200), (20, 64, 600)] {
                seed += 1
                check(Case(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.75, beta: 0.5,
                           padA: 1, padB: 2, padC: 3), seed: seed)
                seed += 1
                check(Case(transA: ta, transB: tb, m: m, n: n, k: k), seed: seed)
            }
            GEMMDriver.packLimit = 20_000
            for (m, n, k) in [(97, 61, 301), (60, 100, 200)] {
                seed += 1
                check(Case(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1.25, beta: -0.5, padA: 1, padC: 3), seed: seed)
            }
            GEMMDriver.packLimit = savedLimit
        }
    }

    @Test func testAlphaBetaAndLeadingDimensions() {
        var seed: UInt64 = 200
        for (ta, tb) in Self.transposes {
            for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (-0.5, 1), (2, -0.25), (1.5, 0)] {
                for (m, n, k) in [(3, 5, 7), (13, 31, 17), (65, 33, 257), (2, 63, 300)] {
                    seed += 1
                    check(Case(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, beta: beta,
                               padA: 3, padB: 5, padC: 2), seed: seed)
                }
            }
        }
    }

    @Test func testSmallMPath() {
        var seed: UInt64 = 300
        for (ta, tb) in Self.transposes {
            for m in 1...4 {
                for (n, k) in [(1, 1), (2, 7), (3, 9), (17, 16), (49, 576), (1031, 33), (127, 129)] {
                    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (1, -2)] {
                        seed += 1
                        check(Case(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, beta: beta,
                                   padA: 1, padB: 2, padC: 3), seed: seed)
                    }
                }
            }
        }
    }

    /// m ≤ 4 with n·k ≥ 2²¹, large enough for the threaded small-m path.
    @Test func testSmallMPathThreaded() {
        var seed: UInt64 = 350
        for (ta, tb) in Self.transposes {
            seed += 1
            check(Case(transA: ta, transB: tb, m: 3, n: 4099, k: 521, alpha: 0.5, beta: 1, padC: 1), seed: seed)
        }
    }

    @Test func testSingleThreadMatchesReference() {
        let saved = Parallel.threads
        Parallel.threads = 1
        defer { Parallel.threads = saved }
        var seed: UInt64 = 400
        for (ta, tb) in Self.transposes {
            for (m, n, k) in [(70, 90, 300), (3, 200, 50)] {
                seed += 1
                check(Case(transA: ta, transB: tb, m: m, n: n, k: k, beta: 1), seed: seed)
            }
        }
    }

    @Test func testZeroSizes() {
        // k == 0: C = beta·C; beta == 0 overwrites NaN with 0.
        var c: [Float] = [.nan, .nan, 3, 4]
        let a: [Float] = [1], b: [Float] = [1]
        GEMM.sgemm(transA: false, transB: false, m: 2, n: 2, k: 0, alpha: 1, a: a, lda: 1, b: b, ldb: 2,
                   beta: 0, c: &c, ldc: 2)
        #expect(c == [0, 0, 0, 0])
        c = [1, 2, 3, 4]
        GEMM.sgemm(transA: false, transB: false, m: 2, n: 2, k: 0, alpha: 1, a: a, lda: 1, b: b, ldb: 2,
                   beta: 2, c: &c, ldc: 2)
        #expect(c == [2, 4, 6, 8])
        // m == 0 or n == 0: C untouched.
        c = [1, 2, 3, 4]
        GEMM.sgemm(transA: false, transB: false, m: 0, n: 2, k: 3, alpha: 1, a: a, lda: 3, b: b, ldb: 2,
                   beta: 0, c: &c, ldc: 2)
        GEMM.sgemm(transA: false, transB: false, m: 2, n: 0, k: 3, alpha: 1, a: a, lda: 3, b: b, ldb: 1,
                   beta: 0, c: &c, ldc: 1)
        #expect(c == [1, 2, 3, 4])
    }
}

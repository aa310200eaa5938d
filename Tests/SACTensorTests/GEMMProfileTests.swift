import Testing
@testable import SACTensor

/// `GEMMProfile`: while recording, every product is tallied under its shape with its flops;
/// once stopped, products are not recorded. Shapes no other test uses, so that products of
/// tests running at the same time cannot land under the same keys.
@Suite(.serialized) struct GEMMProfileTests {
    @Test func tallyByShapeOnlyWhileRecording() {
        var rng = SplitMix64(seed: 5)
        let (m, k, n) = (7, 13, 29)
        let a = (0..<(k * m)).map { _ in Float(rng.nextGaussian()) }      // stored k×m (transA)
        let b = (0..<(k * n)).map { _ in Float(rng.nextGaussian()) }      // stored k×n
        let small = (0..<(3 * k)).map { _ in Float(rng.nextGaussian()) }  // 3×k, the m ≤ 4 path
        var c = [Float](repeating: 0, count: m * n)
        let packed = b.withUnsafeBufferPointer { PackedMatrix(transB: false, k: k, n: n, b: $0.baseAddress!, ldb: n) }
        func products(_ times: Int) {
            for _ in 0..<times {
                GEMM.sgemm(transA: true, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: m, b: b, ldb: n,
                           beta: 0, c: &c, ldc: n)
            }
            GEMM.sgemm(transA: false, m: 3, n: n, k: k, alpha: 1, a: small, lda: k, packedB: packed, beta: 0, c: &c, ldc: n)
            GEMM.sgemm(transA: false, transB: false, m: 3, n: n, k: k, alpha: 1, a: small, lda: k, b: b, ldb: n,
                       beta: 0, c: &c, ldc: n)
        }
        products(1)  // before recording: not counted
        GEMMProfile.start()
        products(2)
        let tally = GEMMProfile.stop()
        products(3)  // after: not counted
        #expect(GEMMProfile.stop() == tally)
        let byShape = Dictionary(uniqueKeysWithValues: tally.map { ($0.shape, $0) })
        let driver = byShape["TN 7x13x29 t1"], smallM = byShape["NN 3x13x29 t1"]
        #expect(driver?.calls == 2 && driver?.flops == Double(2 * 2 * m * n * k))
        // A pre-packed B goes through the packed driver even for 3 rows, tallied with " pp".
        #expect(byShape["NN 3x13x29 t1 pp"]?.calls == 1)
        #expect(smallM?.calls == 1 && smallM?.flops == Double(2 * 3 * n * k))
        #expect(tally.allSatisfy { $0.threadSeconds >= 0 && $0.calls >= 1 })
        #expect(zip(tally, tally.dropFirst()).allSatisfy { $0.threadSeconds >= $1.threadSeconds })
    }
}

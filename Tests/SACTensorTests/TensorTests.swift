import Testing
@testable import SACTensor

@Suite struct TensorTests {
    @Test func initChecksElementCount() throws {
        #expect(throws: TensorError.self) { try Tensor(shape: [2, 3], data: [1, 2, 3]) }
        let t = try Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        #expect(t.count == 6 && t.rank == 2)
        let r = try t.reshaped([3, 2])
        #expect(r.shape == [3, 2] && r.data == t.data)
        #expect(throws: TensorError.self) { try t.reshaped([4, 2]) }
        #expect(throws: TensorError.self) { try t.expectShape([3, 2], "x", op: "test") }
    }

    @Test func parallelForEachVisitsEveryIndexOnce() {
        let n = 1013
        let buf = UnsafeMutablePointer<Int>.allocate(capacity: n)
        defer { buf.deallocate() }
        buf.initialize(repeating: 0, count: n)
        Parallel.forEach(n) { i in buf[i] += i + 1 }
        for i in 0..<n { #expect(buf[i] == i + 1) }
        buf.initialize(repeating: 0, count: n)
        Parallel.forRanges(n, grain: 7) { r in for i in r { buf[i] += 1 } }
        #expect((0..<n).allSatisfy { buf[$0] == 1 })
    }

    @Test func splitMixIsReproducibleAndGaussianHasUnitVariance() {
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var g = SplitMix64(seed: 7)
        let xs = (0..<20000).map { _ in g.nextGaussian() }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
    }
}

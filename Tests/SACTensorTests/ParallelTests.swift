import Foundation
import Synchronization
import Testing

@testable import SACTensor

/// `Parallel.forEach` and the spinning worker pool behind it: every index runs exactly once,
/// through back-to-back jobs, nested loops, concurrent callers and a pool whose workers start
/// after its first job.
@Suite(.timeLimit(.minutes(1))) struct ParallelTests {
    /// Runs `forEach(count)` and returns how many times each index ran.
    private func counts(_ count: Int, _ loop: (Int, (Int) -> Void) -> Void) -> [Int] {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(1, count))
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: max(1, count))
        let box = UncheckedSendable(hits)
        loop(count) { i in box.value[i] += 1 }
        return Array(UnsafeBufferPointer(start: hits, count: count))
    }

    @Test func everyIndexOnceOverManyJobs() {
        // 3000 jobs back to back, of sizes below, at and above the thread count.
        for round in 0..<3000 {
            let n = [1, 2, 3, 7, 64, 513][round % 6]
            let hits = counts(n) { n, body in Parallel.forEach(n, body) }
            #expect(hits == Array(repeating: 1, count: n), "round \(round), count \(n)")
        }
    }

    @Test func nestedLoopsRunInline() {
        let total = Atomic<Int>(0)
        Parallel.forEach(8) { _ in
            let inner = counts(33) { n, body in Parallel.forEach(n, body) }
            if inner == Array(repeating: 1, count: 33) { total.add(1, ordering: .relaxed) }
        }
        #expect(total.load(ordering: .relaxed) == 8)
    }

    @Test func concurrentCallersEachGetEveryIndex() async {
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var ok = true
                    for _ in 0..<300 {
                        let hits = counts(97) { n, body in Parallel.forEach(n, body) }
                        ok = ok && hits == Array(repeating: 1, count: 97)
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
    }

    @available(macOS 15.0, *)
    @Test func freshPoolRunsItsFirstJobAndRefusesNesting() {
        // A new pool is used at once, before its workers have started: they must still take
        // (and finish) the first job, or `run` would wait for them forever.
        for workers in [1, 3] {
            let pool = WorkerPool(workers: workers)
            let hits = counts(50) { n, body in
                let ran = pool.run(n, threads: workers + 1, body)
                #expect(ran)
            }
            #expect(hits == Array(repeating: 1, count: 50))
            let refused = Atomic<Int>(0)
            _ = pool.run(4, threads: workers + 1) { _ in
                if !pool.run(2, threads: 2, { _ in }) { refused.add(1, ordering: .relaxed) }
            }
            #expect(refused.load(ordering: .relaxed) == 4)
            // Fewer threads than workers: only some workers take part.
            let few = counts(40) { n, body in
                let ran = pool.run(n, threads: 2, body)
                #expect(ran)
            }
            #expect(few == Array(repeating: 1, count: 40))
        }
    }
}

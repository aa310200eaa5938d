import Synchronization

/// One parallel region that runs two dependent task lists (packing, then computing) without
/// a second thread dispatch.
///
/// Every thread that joins claims packing tasks from a shared counter until none is left,
/// waits (spinning, then yielding) until the packing tasks claimed by the others are done,
/// then claims compute tasks the same way. A thread that wakes late simply finds less work;
/// nobody waits for it. With one thread the tasks run inline in order.
@available(macOS 15.0, *)
final class GEMMRegion: Sendable {
    private let nextPack = Atomic<Int>(0)
    private let donePack = Atomic<Int>(0)
    private let nextCompute = Atomic<Int>(0)

    /// Runs `pack(t)` for `t` in `0..<packTasks` (claimed `packStep` at a time), then, once all
    /// are complete (their writes visible to every thread), `compute(t)` for `t` in
    /// `0..<computeTasks`, over `threads` threads. Tasks of one list must write disjoint memory.
    static func run(
        threads: Int, packTasks: Int, packStep: Int, computeTasks: Int,
        pack: (Int) -> Void, compute: (Int) -> Void
    ) {
        precondition(packTasks >= 0 && computeTasks >= 0 && packStep >= 1)
        if threads <= 1 {
            for t in 0..<packTasks { pack(t) }
            for t in 0..<computeTasks { compute(t) }
            return
        }
        let region = GEMMRegion()
        Parallel.forEach(threads) { _ in
            while true {
                let t0 = region.nextPack.add(packStep, ordering: .relaxed).oldValue
                if t0 >= packTasks { break }
                let t1 = min(packTasks, t0 + packStep)
                for t in t0..<t1 { pack(t) }
                region.donePack.add(t1 - t0, ordering: .releasing)
            }
            spinWait(yieldingAfter: 2000) { region.donePack.load(ordering: .acquiring) >= packTasks }
            while true {
                let t = region.nextCompute.add(1, ordering: .relaxed).oldValue
                if t >= computeTasks { break }
                compute(t)
            }
        }
    }
}

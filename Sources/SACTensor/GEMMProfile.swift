import Dispatch
import Synchronization

/// An opt-in tally of the GEMM calls a piece of work makes, by shape: how many calls, how many
/// flops and how much thread time each shape took, so that a benchmark can say which products
/// a training step spends its time in and how fast each runs (`sac bench train --gemm-profile`).
///
/// Off unless `start()` was called: every product then pays one relaxed atomic load. While on,
/// each product taken by the packed driver (m > `GEMM.smallRowLimit`) or the small-m path is
/// timed and added under its key (transposes, m×k×n, threads, and "pp" for a pre-packed B) with
/// `2·m·n·k` flops and `wall time × threads` thread-nanoseconds. Products run inside a parallel
/// loop with one thread each (attention's blocks) are timed one by one, so the thread time is
/// what they cost their worker. Thread-safe.
public enum GEMMProfile {
    /// One shape's totals.
    public struct Entry: Sendable, Equatable {
        /// "NT 510x576x128 t2": transposes of A and B, m×k×n, threads (" pp": B pre-packed).
        public var shape: String
        public var calls: Int
        public var flops: Double
        /// Wall time of the calls times their threads, in seconds.
        public var threadSeconds: Double
        /// Flops per thread-second, in GFLOP/s.
        public var gflopsPerThread: Double { threadSeconds > 0 ? flops / threadSeconds / 1e9 : 0 }
    }

    private static let enabled = Atomic<Bool>(false)
    private static let table = Mutex<[String: Entry]>([:])

    /// Clears the tally and starts recording.
    public static func start() {
        table.withLock { $0 = [:] }
        enabled.store(true, ordering: .releasing)
    }

    /// Stops recording and returns the tally, the shapes that took the most thread time first.
    public static func stop() -> [Entry] {
        enabled.store(false, ordering: .releasing)
        return table.withLock { t in t.values.sorted { ($0.threadSeconds, $1.shape) > ($1.threadSeconds, $0.shape) } }
    }

    /// Runs `body` (one product) and, while recording, adds its time under its shape.
    @inline(__always)
    static func measure(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, threads: Int, prepacked: Bool, _ body: () -> Void
    ) {
        guard enabled.load(ordering: .relaxed) else { return body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        let ns = DispatchTime.now().uptimeNanoseconds - t0
        let key = "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)x\(k)x\(n) t\(threads)\(prepacked ? " pp" : "")"
        let flops = 2 * Double(m) * Double(n) * Double(k)
        table.withLock { t in
            var e = t[key] ?? Entry(shape: key, calls: 0, flops: 0, threadSeconds: 0)
            e.calls += 1
            e.flops += flops
            e.threadSeconds += Double(ns) * Double(max(1, threads)) / 1e9
            t[key] = e
        }
    }
}

import Dispatch
import Foundation

/// Work splitting over the machine's cores.
///
/// Kernels call `Parallel.forEach` with a closure that captures raw pointers. The closure
/// runs on several threads at once; the caller guarantees that iterations touch disjoint
/// memory (every kernel in this module splits its output into disjoint blocks).
public enum Parallel {
    /// Number of threads the kernels use. Defaults to `SAC_THREADS` when set, else the
    /// number of active cores. Set it before starting work (benchmarks use 1 and 2).
    nonisolated(unsafe) public static var threads: Int = {
        if let s = ProcessInfo.processInfo.environment["SAC_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body(i)` for every `i` in `0..<count`, spread over `threads` threads.
    /// With one thread, or one iteration, it runs inline on the caller's thread.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if count == 1 || threads <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        if #available(macOS 15.0, *) {
            if WorkerPool.shared.run(count, threads: threads, body) { return }
            // Busy with another job (a parallel loop inside a parallel loop, or another
            // thread's kernel): run this one on the caller alone.
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let box = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: count) { i in box.value(i) }
        }
    }

    /// Splits `0..<count` into at most `threads` contiguous ranges of at least `grain`
    /// items and runs `body` on each range in parallel.
    public static func forRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let parts = max(1, min(threads, count / max(1, grain)))
        if parts == 1 { body(0..<count); return }
        forEach(parts) { p in
            let lo = count * p / parts
            let hi = count * (p + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Wraps a value that is known to be safe to share across the threads of one parallel loop.
@usableFromInline
struct UncheckedSendable<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}

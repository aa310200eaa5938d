#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Persistent worker threads for `Parallel.forEach`, woken in microseconds.
///
/// A kernel call on this model often lasts a fraction of a millisecond, so the cost of waking
/// threads for it matters: a general-purpose pool (libdispatch) puts its threads to sleep as
/// soon as they run out of work, and waking one costs tens of microseconds. These workers
/// spin on a job counter for `spinNanoseconds` after their last job before they sleep on a
/// condition variable, as BLAS libraries do, so back-to-back kernels reach them at once.
///
/// The caller of `run` takes part in the work and returns only when every worker that took
/// part has finished with the job. One job runs at a time: a `run` from another thread, or
/// from inside a job, while a job runs returns `false` and the caller does the work itself.
@available(macOS 15.0, *)
final class WorkerPool: @unchecked Sendable {
    /// The pool for the process: one worker per active core but the caller's.
    static let shared = WorkerPool(workers: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

    /// How long an idle worker spins before it sleeps.
    static let spinNanoseconds: UInt64 = 300_000

    let workers: Int
    /// Job word: `sequence << 8 | participating workers`. Changing it publishes a job.
    private let job = Atomic<UInt64>(0)
    private let nextItem = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    // Written by `run` before the job word is published (release), read by workers after
    // they see it (acquire); never written while a worker of the job may read it.
    nonisolated(unsafe) private var body: UncheckedSendable<(Int) -> Void>?
    nonisolated(unsafe) private var count = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    nonisolated(unsafe) private var sleepers = 0  // guarded by `mutex`

    init(workers: Int) {
        self.workers = min(workers, 255)
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for w in 0..<self.workers {
            let thread = Thread { [self] in self.workerLoop(index: w) }
            thread.stackSize = 8 << 20
            thread.name = "sac-worker-\(w)"
            thread.start()
        }
    }

    /// Runs `body(i)` for `i` in `0..<count` on the caller and `threads - 1` workers. Returns
    /// `false`, having run nothing, when the pool is busy with another job.
    func run(_ count: Int, threads: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        defer { busy.store(false, ordering: .releasing) }
        let helpers = min(workers, threads - 1, count - 1)
        if helpers <= 0 {
            for i in 0..<count { body(i) }
            return true
        }
        withoutActuallyEscaping(body) { escapable in
            self.body = UncheckedSendable(escapable)
            self.count = count
            nextItem.store(0, ordering: .relaxed)
            finished.store(0, ordering: .relaxed)
            let sequence = (job.load(ordering: .relaxed) >> 8) &+ 1
            job.store(sequence << 8 | UInt64(helpers), ordering: .releasing)
            pthread_mutex_lock(mutex)
            if sleepers > 0 { pthread_cond_broadcast(wake) }
            pthread_mutex_unlock(mutex)
            while true {
                let i = nextItem.add(1, ordering: .relaxed).oldValue
                if i >= count { break }
                escapable(i)
            }
            spinWait(yieldingAfter: 4000) { finished.load(ordering: .acquiring) >= helpers }
            self.body = nil
        }
        return true
    }

    /// Claims and runs items of the current job until none is left. A function of its own so
    /// that its reference to the job's closure is released before the worker reports that it
    /// has finished (`run` checks, on return, that the closure did not escape).
    @inline(never)
    private func drain() {
        guard let work = body?.value else { return }
        let n = count
        while true {
            let i = nextItem.add(1, ordering: .relaxed).oldValue
            if i >= n { break }
            work(i)
        }
    }

    private func workerLoop(index: Int) {
        // The job word starts at 0; a worker that starts late still sees the first job.
        var seen: UInt64 = 0
        while true {
            var word = job.load(ordering: .acquiring)
            if word == seen {
                let start = DispatchTime.now().uptimeNanoseconds
                var spins = 0
                while word == seen {
                    spins += 1
                    if spins & 255 == 0
                        && DispatchTime.now().uptimeNanoseconds - start > WorkerPool.spinNanoseconds
                    {
                        pthread_mutex_lock(mutex)
                        sleepers += 1
                        while job.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
                        sleepers -= 1
                        pthread_mutex_unlock(mutex)
                    }
                    word = job.load(ordering: .acquiring)
                }
            }
            seen = word
            guard index < Int(word & 255) else { continue }
            drain()
            finished.add(1, ordering: .releasing)
        }
    }
}

/// Busy-waits until `done()` holds: spins `spins` checks, then yields the core between checks
/// (a thread that is waited for may be descheduled on a shared machine). For waits of
/// microseconds between parallel phases, where a sleep would cost more than the wait.
@inline(__always)
func spinWait(yieldingAfter spins: Int, until done: () -> Bool) {
    var n = 0
    while !done() {
        n += 1
        if n > spins { sched_yield() }
    }
}

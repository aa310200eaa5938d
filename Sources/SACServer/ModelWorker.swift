import Foundation

/// The queue was full: the caller should retry later (HTTP 503 with Retry-After).
public struct WorkerBusy: Error, CustomStringConvertible, Sendable {
    public let capacity: Int
    public var description: String { "the model queue is full (\(capacity) requests); retry later" }
}

/// One thread that runs all model work, first come first served, with a bounded queue.
///
/// The model, compressors and their working buffers are used only on this thread, so
/// concurrent requests never race on them, and greedy answers are the same under any load.
/// A job submitted while `capacity` jobs are queued or running fails at once with `WorkerBusy`.
public final class ModelWorker: @unchecked Sendable {
    /// Most jobs queued or running at once.
    public let capacity: Int
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> (@Sendable () -> Void)] = []
    private var running = 0
    private var stopped = false
    private var thread: Thread?

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        // The thread keeps the worker alive until `stop()` lets it exit.
        let t = Thread { [self] in self.loop() }
        t.name = "sac-model-worker"
        t.stackSize = 16 << 20
        thread = t
        t.start()
    }

    /// Jobs queued or running now.
    public var depth: Int {
        condition.lock(); defer { condition.unlock() }
        return jobs.count + running
    }

    /// Runs `work` on the model thread and returns its result.
    /// - Throws: `WorkerBusy` when the queue is full, else what `work` throws.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            do {
                try enqueue {
                    let result = Result { try work() }
                    return { c.resume(with: result) }
                }
            } catch {
                c.resume(throwing: error)
            }
        }
    }

    /// Queues `job`, which does the work and returns how to deliver its result: the worker
    /// frees the job's place in the queue first, so a client that has its answer can submit
    /// again at once. Throws `WorkerBusy` when full.
    public func enqueue(_ job: @escaping @Sendable () -> (@Sendable () -> Void)) throws {
        condition.lock(); defer { condition.unlock() }
        guard !stopped else { throw ServerSetupError("the server is shutting down") }
        guard jobs.count + running < capacity else { throw WorkerBusy(capacity: capacity) }
        jobs.append(job)
        condition.signal()
    }

    /// Lets the thread finish the queued jobs and exit.
    public func stop() {
        condition.lock(); stopped = true; condition.signal(); condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped { condition.unlock(); return }
            let job = jobs.removeFirst()
            running = 1
            condition.unlock()
            let deliver = job()
            condition.lock(); running = 0; condition.unlock()
            deliver()
        }
    }
}

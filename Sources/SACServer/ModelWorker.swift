import Foundation
import SACModel

/// The queue was full: the caller should retry later (HTTP 503 with Retry-After).
public struct WorkerBusy: Error, CustomStringConvertible, Sendable {
    public let capacity: Int
    public var description: String { "the model queue is full (\(capacity) requests); retry later" }
}

/// A generation read up to its first token, to be decoded by the worker together with the
/// others in flight: `onToken` sees each token on the model thread (false stops it),
/// `finish` turns the result into the job's value there.
public struct GenerationJob<T: Sendable> {
    public var model: LlamaModel
    public var state: DecodeState
    public var onToken: (Int32) -> Bool
    public var finish: (Decoded) throws -> T

    public init(model: LlamaModel, state: DecodeState, onToken: @escaping (Int32) -> Bool = { _ in true },
                finish: @escaping (Decoded) throws -> T) {
        self.model = model
        self.state = state
        self.onToken = onToken
        self.finish = finish
    }
}

/// One thread that runs all model work, with a bounded queue, and decodes every generation in
/// flight together (continuous batching).
///
/// The model, compressors and their working buffers are used only on this thread, so
/// concurrent requests never race on them. Between decoding steps the thread runs the next
/// queued job (a compression, which steps the decoding between its chunks, or the start of a
/// new generation, which then joins the batch); each step then advances every generation in
/// flight by one token and reads the next chunk of the prompts still being read, in one pass
/// over the weights (`LlamaModel.decodeStep`), finished ones leaving. A request's tokens are
/// exactly those it gets alone, so greedy answers are the same under any load. A job
/// submitted while `capacity` jobs are queued, running or decoding fails at once with
/// `WorkerBusy`.
public final class ModelWorker: @unchecked Sendable {
    /// Most jobs queued, running or decoding at once.
    public let capacity: Int
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Outcome] = []
    private var running = 0
    private var decodingCount = 0
    private var stopped = false
    private var thread: Thread?
    /// Generations in flight (model thread only).
    private var active: [Active] = []

    /// What a job left: a result to deliver, or a generation to decode.
    enum Outcome {
        case done(@Sendable () -> Void)
        case decode(Active)
    }

    /// A generation in flight, type-erased.
    final class Active {
        let model: LlamaModel
        var state: DecodeState
        let onToken: (Int32) -> Bool
        /// Delivers the result (or the error) and returns how to resume the caller.
        let complete: (Result<Decoded, Error>) -> (@Sendable () -> Void)

        init(model: LlamaModel, state: DecodeState, onToken: @escaping (Int32) -> Bool,
             complete: @escaping (Result<Decoded, Error>) -> (@Sendable () -> Void)) {
            self.model = model
            self.state = state
            self.onToken = onToken
            self.complete = complete
        }
    }

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        // The thread keeps the worker alive until `stop()` lets it exit.
        let t = Thread { [self] in self.loop() }
        t.name = "sac-model-worker"
        t.stackSize = 16 << 20
        thread = t
        t.start()
    }

    /// Jobs queued, running or decoding now.
    public var depth: Int {
        condition.lock(); defer { condition.unlock() }
        return jobs.count + running + decodingCount
    }

    /// Generations being decoded together now.
    public var decoding: Int {
        condition.lock(); defer { condition.unlock() }
        return decodingCount
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

    /// Runs `start` (which checks the request and reads its prompt) on the model thread, then
    /// decodes the generation it returns together with the others in flight, and returns what
    /// its `finish` makes of the result.
    /// - Throws: `WorkerBusy` when the queue is full, else what `start`, the model or `finish` throws.
    public func generate<T: Sendable>(_ start: @escaping @Sendable () throws -> GenerationJob<T>) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            do {
                try enqueueGeneration(start) { result in { c.resume(with: result) } }
            } catch {
                c.resume(throwing: error)
            }
        }
    }

    /// `generate` with the delivery in the caller's hands: `deliver` gets the result on the
    /// model thread and returns what to run once the job's place in the queue is free.
    /// Throws `WorkerBusy` when full.
    public func enqueueGeneration<T: Sendable>(
        _ start: @escaping @Sendable () throws -> GenerationJob<T>,
        deliver: @escaping @Sendable (Result<T, Error>) -> (@Sendable () -> Void)
    ) throws {
        try enqueueOutcome {
            let job: GenerationJob<T>
            do { job = try start() } catch { return .done(deliver(.failure(error))) }
            let finish = job.finish
            return .decode(Active(model: job.model, state: job.state, onToken: job.onToken) { result in
                deliver(result.flatMap { d in Result { try finish(d) } })
            })
        }
    }

    /// Queues `job`, which does the work and returns how to deliver its result: the worker
    /// frees the job's place in the queue first, so a client that has its answer can submit
    /// again at once. Throws `WorkerBusy` when full.
    public func enqueue(_ job: @escaping @Sendable () -> (@Sendable () -> Void)) throws {
        try enqueueOutcome { .done(job()) }
    }

    private func enqueueOutcome(_ job: @escaping @Sendable () -> Outcome) throws {
        condition.lock(); defer { condition.unlock() }
        guard !stopped else { throw ServerSetupError("the server is shutting down") }
        guard jobs.count + running + decodingCount < capacity else { throw WorkerBusy(capacity: capacity) }
        jobs.append(job)
        condition.signal()
    }

    /// One decoding step of the generations in flight, from inside a job on the model thread
    /// (a long compression calls it between chunks, so that it does not hold the streams).
    public func stepDecoding() {
        precondition(Thread.current === thread, "ModelWorker.stepDecoding: only from a job on the model thread")
        if !active.isEmpty { step() }
    }

    /// Lets the thread finish the queued jobs and the generations in flight, and exit.
    public func stop() {
        condition.lock(); stopped = true; condition.signal(); condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && active.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && active.isEmpty && stopped { condition.unlock(); return }
            let job = jobs.isEmpty ? nil : jobs.removeFirst()
            if job != nil { running = 1 }
            condition.unlock()
            if let job {
                switch job() {
                case .done(let deliver):
                    condition.lock(); running = 0; condition.unlock()
                    deliver()
                case .decode(let a):
                    active.append(a)
                    condition.lock(); running = 0; decodingCount = active.count; condition.unlock()
                }
            }
            if !active.isEmpty { step() }
        }
    }

    /// One decoding step for every generation in flight (grouped by model: one pass over the
    /// weights per model); finished ones leave and are delivered.
    private func step() {
        let groups = Dictionary(grouping: active.indices) { ObjectIdentifier(active[$0].model) }
        var failed: [Int: Error] = [:]
        for (_, indices) in groups {
            var states = indices.map { active[$0].state }
            do {
                try active[indices[0]].model.decodeStep(&states) { j, t in active[indices[j]].onToken(t) }
                for (j, i) in indices.enumerated() { active[i].state = states[j] }
            } catch {
                for i in indices { failed[i] = error }
            }
        }
        var finished: [(Active, Result<Decoded, Error>)] = []
        var still: [Active] = []
        for (i, a) in active.enumerated() {
            if let e = failed[i] {
                finished.append((a, .failure(e)))
            } else if a.state.finish != nil {
                finished.append((a, .success(a.state.decoded)))
            } else {
                still.append(a)
            }
        }
        guard !finished.isEmpty else { return }
        active = still
        let deliveries = finished.map { a, r in a.complete(r) }
        condition.lock(); decodingCount = active.count; condition.unlock()
        for d in deliveries { d() }
    }
}

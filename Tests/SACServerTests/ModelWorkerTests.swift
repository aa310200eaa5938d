import Foundation
import Testing
@testable import SACServer

@Suite struct ModelWorkerTests {
    /// Jobs run one at a time, in order, on one thread; a full queue fails at once with
    /// `WorkerBusy`; a finished job's place is free before its caller resumes.
    @Test func oneThreadInOrderBounded() async throws {
        let worker = ModelWorker(capacity: 3)
        defer { worker.stop() }
        let gate = DispatchSemaphore(value: 0)
        let log = Log()
        let first = Task { try await worker.run { gate.wait(); log.add(0); return UInt(pthread_self()) } }
        while worker.depth < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let second = Task { try await worker.run { log.add(1); return UInt(pthread_self()) } }
        let third = Task { try await worker.run { log.add(2); return UInt(pthread_self()) } }
        while worker.depth < 3 { try await Task.sleep(for: .milliseconds(5)) }
        await #expect(throws: WorkerBusy.self) { try await worker.run { 0 } }
        gate.signal()
        let threads = [try await first.value, try await second.value, try await third.value]
        #expect(Set(threads).count == 1, "one thread")
        #expect(log.items == [0, 1, 2])
        #expect(worker.depth == 0)
        // Errors come back to their caller.
        await #expect(throws: CancellationError.self) { try await worker.run { () throws -> Int in throw CancellationError() } }
        #expect(try await worker.run { 42 } == 42)
    }

    @Test func stoppedWorkerRefusesJobs() async throws {
        let worker = ModelWorker(capacity: 2)
        #expect(try await worker.run { 1 } == 1)
        worker.stop()
        await #expect(throws: ServerSetupError.self) { try await worker.run { 2 } }
    }
}

final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func add(_ v: Int) { lock.lock(); values.append(v); lock.unlock() }
    var items: [Int] { lock.lock(); defer { lock.unlock() }; return values }
}

import Foundation
import SACModel
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

    /// Generations in flight are decoded together (continuous batching): new ones join between
    /// steps, each gets exactly the tokens it gets alone, finished ones leave and free their
    /// place, and a job's error reaches its caller.
    @Test func generationsAreBatchedAndUnchanged() async throws {
        let config = try LlamaConfig(
            vocabSize: 50, hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 4, numKVHeads: 2,
            rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 512, tieWordEmbeddings: true)
        let model = try LlamaModel(weights: InMemoryWeightSource(randomWith: config, seed: 4, std: 0.2, embeddingStd: 0.5), file: "tiny")
        let prompts: [[Int32]] = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]]
        @Sendable func start(_ i: Int, onToken: @escaping (Int32) -> Bool = { _ in true }) throws -> GenerationJob<[Int32]> {
            let cache = model.makeCache()
            let logits = try model.forward(prompts[i], cache: cache, logits: .last)
            let state = DecodeState(logits: logits, cache: cache, maxTokens: 6 + 2 * i, sampler: .greedy, stopTokens: [])
            return GenerationJob(model: model, state: state, onToken: onToken) { $0.tokens }
        }
        let alone = try (0..<4).map { i -> [Int32] in
            var s = [try start(i).state]
            while s[0].finish == nil { try model.decodeStep(&s) }
            return s[0].tokens
        }
        let worker = ModelWorker(capacity: 8)
        defer { worker.stop() }
        let gate = DispatchSemaphore(value: 0)
        let blocker = Task { try await worker.run { gate.wait(); return 0 } }
        while worker.depth < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let most = Log()
        let tasks = (0..<4).map { i in
            Task { try await worker.generate { try start(i) { _ in most.add(worker.decoding); return true } } }
        }
        while worker.depth < 5 { try await Task.sleep(for: .milliseconds(5)) }
        gate.signal()
        _ = try await blocker.value
        for i in 0..<4 { #expect(try await tasks[i].value == alone[i], "\(i)") }
        #expect(most.items.max() == 4, "at most \(most.items.max() ?? 0) generations decoded together")
        #expect(worker.depth == 0 && worker.decoding == 0)
        await #expect(throws: CancellationError.self) {
            try await worker.generate { () throws -> GenerationJob<[Int32]> in throw CancellationError() }
        }
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

import Foundation
import Hummingbird
import NIOCore

/// Resumes a continuation once: model jobs report "started" (the request was valid, the
/// stream begins) or the error that ended them before any output.
final class StartGate: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Void, Error>?

    init(_ c: CheckedContinuation<Void, Error>) { continuation = c }

    /// Resumes with success; false when already resumed.
    @discardableResult func open() -> Bool { take()?.resume() != nil }

    /// Resumes with `error`; false when already resumed (the stream had started).
    @discardableResult func fail(_ error: Error) -> Bool { take()?.resume(throwing: error) != nil }

    private func take() -> CheckedContinuation<Void, Error>? {
        lock.lock(); defer { lock.unlock() }
        let c = continuation
        continuation = nil
        return c
    }
}

/// Server-sent events: `data: <payload>\n\n` as a byte buffer.
func sseEvent(_ payload: String) -> ByteBuffer {
    ByteBuffer(string: "data: \(payload)\n\n")
}

/// `data: <json>\n\n`.
func sseEvent<T: Encodable>(json value: T) -> ByteBuffer {
    let data = (try? JSONEncoder.api.encode(value)) ?? Data("{}".utf8)
    return sseEvent(String(decoding: data, as: UTF8.self))
}

/// Runs a streaming generation: waits until `job` has checked the request and read its prompt
/// (so that bad requests still get their own status code; it calls `start` once the stream may
/// begin, and sends events as tokens come; `send` is false once the client has gone), then answers 200 with an event stream while the
/// worker decodes the generation together with the others in flight; `end` sends the closing
/// events from its result, on the model thread.
func streamingGeneration(
    worker: ModelWorker,
    job: @escaping @Sendable (_ start: @escaping @Sendable () -> Void, _ send: @escaping @Sendable (ByteBuffer) -> Bool) throws
        -> GenerationJob<Generation>,
    end: @escaping @Sendable (_ result: Generation, _ send: (ByteBuffer) -> Void) -> Void
) async throws -> Response {
    let (stream, sink) = AsyncStream<ByteBuffer>.makeStream()
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
        let gate = StartGate(c)
        do {
            // `send` is false once the client has gone: the generation then stops and frees its place.
            let send: @Sendable (ByteBuffer) -> Bool = { if case .terminated = sink.yield($0) { return false }; return true }
            try worker.enqueueGeneration({ try job({ gate.open() }, send) }) { result in
                switch result {
                case .success(let g):
                    end(g) { sink.yield($0) }
                    return { gate.open(); sink.finish() }
                case .failure(let error):
                    return {
                        if !gate.fail(error) {  // already streaming: report in-band
                            let e = APIError.from(error)
                            sink.yield(sseEvent(json: ["error": ["message": e.message, "type": e.type]]))
                        }
                        sink.finish()
                    }
                }
            }
        } catch {
            gate.fail(error)
            sink.finish()
        }
    }
    return Response(
        status: .ok,
        headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
        body: ResponseBody(asyncSequence: stream))
}

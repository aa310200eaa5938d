import Foundation
import Hummingbird
import Logging
import NIOCore
import SACModel
import SACStore

/// The request handlers. Model work (compressing, answering, chat) goes through the
/// `ModelWorker`; index reads and deletes run directly against the store.
struct Handlers: Sendable {
    let engine: Engine
    let worker: ModelWorker
    let store: Store
    let metrics: ServerMetrics
    let configuration: ServerConfiguration
    let started = Int(Date().timeIntervalSince1970)

    func register(on router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in try self.health() }
        router.get("/metrics") { _, _ in try self.prometheus() }
        router.get("/v1/models") { _, _ in try self.models() }
        router.post("/v1/contexts") { req, ctx in try await self.createContext(req, ctx) }
        router.get("/v1/contexts") { req, _ in try self.listContexts(req) }
        router.get("/v1/contexts/:id") { _, ctx in try self.getContext(ctx) }
        router.delete("/v1/contexts/:id") { _, ctx in try self.deleteContext(ctx) }
        router.post("/v1/contexts/:id/answers") { req, ctx in try await self.answer(req, ctx) }
        router.post("/v1/chat/completions") { req, ctx in try await self.chat(req, ctx) }
    }

    // MARK: Helpers

    /// The request body, at most `maxBodyBytes` (413 beyond).
    func body(_ request: Request) async throws -> Data {
        let limit = configuration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, "request body of \(length) bytes is over the limit of \(limit) bytes")
        }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "request body is over the limit of \(limit) bytes")
        }
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONEncoder.api.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The `:id` parameter, validated (400 before any file is touched).
    func id(_ context: BasicRequestContext) throws -> MemoryID {
        let raw = context.parameters.get("id") ?? ""
        let decoded = raw.removingPercentEncoding ?? raw
        return try wrap { try MemoryID(decoded) }
    }

    func maxTokens(_ requested: Int?) throws -> Int {
        let n = requested ?? configuration.defaultMaxTokens
        guard n >= 1, n <= configuration.maxTokensLimit else {
            throw APIError(.badRequest, "field max_tokens: \(n) is outside 1...\(configuration.maxTokensLimit)", field: "max_tokens")
        }
        return n
    }

    /// Runs `body`, mapping errors to `APIError`.
    func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw APIError.from(error) }
    }

    func wrap<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch { throw APIError.from(error) }
    }

    // MARK: Endpoints

    func health() throws -> Response {
        let stats = try wrap { try store.stats() }
        struct Health: Encodable {
            var status = "ok", model: String, ratios: [Int], memories: Int, queue: Int, queueCapacity: Int
            enum CodingKeys: String, CodingKey { case status, model, ratios, memories, queue; case queueCapacity = "queue_capacity" }
        }
        return try json(Health(model: engine.modelName, ratios: engine.ratios, memories: stats.count, queue: worker.depth,
                               queueCapacity: worker.capacity))
    }

    func prometheus() throws -> Response {
        if let stats = try? store.stats() {
            metrics.storeMemories.set(Double(stats.count))
            metrics.storeBytes.set(Double(stats.bytes))
        }
        metrics.queueDepth.set(Double(worker.depth))
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
    }

    func models() throws -> Response {
        try json(ModelList(data: [.init(id: engine.modelName, created: started, ratios: engine.ratios)]))
    }

    func createContext(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let req = try decodeBody(ContextRequest.self, from: try await body(request))
        if let r = req.ratio, r < 1 { throw APIError(.badRequest, "field ratio: expected a positive integer", field: "ratio") }
        let (engine, worker) = (self.engine, self.worker)
        // Between chunks the streams in flight decode a step: a long text does not hold them.
        let result = try await wrap {
            try await worker.run { try engine.compress(text: req.text, ratio: req.ratio) { worker.stepDecoding() } }
        }
        if result.created { metrics.compressSeconds.record(result.compressMilliseconds / 1000) }
        context.logger.info("context", metadata: [
            "id": "\(result.record.id)", "tokens": "\(result.record.contextTokens)", "created": "\(result.created)",
            "compress_ms": "\(Int(result.compressMilliseconds))",
        ])
        return try json(ContextInfo(result.record, compressMs: result.compressMilliseconds, created: result.created),
                        status: result.created ? .created : .ok)
    }

    func listContexts(_ request: Request) throws -> Response {
        func param(_ name: String, _ fallback: Int, _ range: ClosedRange<Int>) throws -> Int {
            guard let raw = request.uri.queryParameters.get(name) else { return fallback }
            guard let v = Int(raw), range.contains(v) else {
                throw APIError(.badRequest, "query parameter \(name): expected an integer in \(range)", field: name)
            }
            return v
        }
        let limit = try param("limit", 20, 1...1000), offset = try param("offset", 0, 0...Int(Int32.max))
        let (rows, total) = try wrap { (try store.list(limit: limit, offset: offset), try store.stats().count) }
        return try json(ContextPage(data: rows.map { ContextInfo($0) }, total: total, limit: limit, offset: offset))
    }

    func getContext(_ context: BasicRequestContext) throws -> Response {
        let id = try id(context)
        return try json(ContextInfo(try wrap { try store.record(id) }))
    }

    func deleteContext(_ context: BasicRequestContext) throws -> Response {
        let id = try id(context)
        guard try wrap({ try store.delete(id) }) else { throw APIError(.notFound, "no memory with id \(id)", field: "id") }
        context.logger.info("deleted", metadata: ["id": "\(id)"])
        struct Deleted: Encodable { var id: String; var deleted = true }
        return try json(Deleted(id: id.value))
    }

    func answer(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try id(context)
        let req = try decodeBody(AnswerRequest.self, from: try await body(request))
        let n = try maxTokens(req.maxTokens)
        let (engine, metrics) = (self.engine, self.metrics)
        if req.stream == true {
            return try await wrap {
                try await streamingGeneration(worker: worker, job: { start, send in
                    var index = 0
                    return try engine.startAnswer(id: id, question: req.question, maxTokens: n, onStart: start) { piece in
                        defer { index += 1 }
                        return send(sseEvent(json: TokenEvent(token: piece, index: index)))
                    }
                }, end: { g, send in
                    metrics.generation(g)
                    send(sseEvent(json: AnswerResponse(
                        id: id.value, answer: g.text, answerMs: ms(g.totalSeconds), prefillMs: ms(g.prefillSeconds), tokens: g.tokens,
                        done: true)))
                })
            }
        }
        let g = try await wrap { try await worker.generate { try engine.startAnswer(id: id, question: req.question, maxTokens: n) } }
        metrics.generation(g)
        return try json(AnswerResponse(
            id: id.value, answer: g.text, answerMs: ms(g.totalSeconds), prefillMs: ms(g.prefillSeconds), tokens: g.tokens))
    }

    func chat(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let req = try decodeBody(ChatRequest.self, from: try await body(request))
        guard !req.messages.isEmpty else { throw APIError(.badRequest, "field messages: expected at least one message", field: "messages") }
        let roles: Set<String> = ["system", "user", "assistant"]
        if let i = req.messages.firstIndex(where: { !roles.contains($0.role) }) {
            throw APIError(.badRequest, "field messages[\(i)].role: expected system, user or assistant", field: "messages[\(i)].role")
        }
        let contextID = try req.contextID.map { raw in
            do { return try MemoryID(raw) } catch { throw APIError(.badRequest, "field context_id: \(error)", field: "context_id") }
        }
        let n = try maxTokens(req.maxTokens)
        let messages = req.messages.map { ChatMessage(role: $0.role, content: $0.content) }
        let (engine, metrics) = (self.engine, self.metrics)
        let completionID = "chatcmpl-" + MemoryID.random().value
        let created = Int(Date().timeIntervalSince1970)
        let model = engine.modelName
        let startJob: @Sendable (@escaping () -> Void, ((String) -> Bool)?) throws -> GenerationJob<Generation> = { start, onToken in
            try engine.startChat(messages: messages, contextID: contextID, maxTokens: n, temperature: req.temperature,
                                 topP: req.topP ?? 1, seed: req.seed ?? 0, onStart: start, onToken: onToken)
        }
        if req.stream == true {
            let chunk: @Sendable (ChatChunk.Delta, String?) -> ByteBuffer = { delta, finish in
                sseEvent(json: ChatChunk(id: completionID, created: created, model: model,
                                         choices: [.init(index: 0, delta: delta, finishReason: finish)]))
            }
            return try await wrap {
                try await streamingGeneration(worker: worker, job: { start, send in
                    try startJob({ start(); _ = send(chunk(.init(role: "assistant"), nil)) }) { piece in
                        send(chunk(.init(content: piece), nil))
                    }
                }, end: { g, send in
                    metrics.generation(g)
                    send(chunk(.init(), g.finishReason))
                    send(sseEvent("[DONE]"))
                })
            }
        }
        let g = try await wrap { try await worker.generate { try startJob({}, nil) } }
        metrics.generation(g)
        return try json(ChatResponse(
            id: completionID, created: created, model: model,
            choices: [.init(index: 0, message: .init(role: "assistant", content: g.text), finishReason: g.finishReason)],
            usage: .init(promptTokens: g.promptTokens, completionTokens: g.tokens, totalTokens: g.promptTokens + g.tokens),
            contextID: contextID?.value))
    }
}

/// Milliseconds, one decimal.
func ms(_ seconds: Double) -> Double { (seconds * 10_000).rounded() / 10 }

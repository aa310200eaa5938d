import Foundation
import Logging
import SACCompression
import SACModel
import SACStore

/// What generation produced, for the handlers and the metrics.
struct Generation: Sendable {
    var text: String
    var tokens: Int
    var promptTokens: Int
    var prefillSeconds: Double
    var totalSeconds: Double
    /// "stop" (end of sequence) or "length" (hit max_tokens).
    var finishReason: String
}

/// The model side of the server: the base model, one compressor per served ratio, the QA
/// prompt and the store. Every method runs on the `ModelWorker` thread only.
final class Engine: @unchecked Sendable {
    let model: LlamaModel
    let tokenizer: Tokenizer
    let prompt: QAPrompt
    let decoder: MemoryDecoder
    let store: Store
    /// Compressors by ratio; `defaultRatio` is the first adapter's.
    let ingestors: [Int: Ingestor]
    let defaultRatio: Int
    /// The model's display name (`GET /v1/models`).
    let modelName: String
    /// `QAPrompt.stopTokens`: answers and chat stop on the same ids.
    var stopTokens: Set<Int32> { prompt.stopTokens }
    let logger: Logger
    let cache: MemoryCache

    /// - Throws: `ServerSetupError` when two adapters share a ratio, or an adapter fails to load.
    init(loaded: LoadedModel, adapters: [String], store: Store, maxContextTokens: Int?, cacheBytes: Int, logger: Logger) throws {
        cache = MemoryCache(budget: cacheBytes)
        model = loaded.model
        tokenizer = loaded.tokenizer
        prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: loaded.model.config)
        decoder = MemoryDecoder(model: loaded.model)
        self.store = store
        modelName = loaded.name
        self.logger = logger
        guard !adapters.isEmpty else { throw ServerSetupError("no adapter given: the server needs at least one compressor directory") }
        var byRatio: [Int: Ingestor] = [:]
        var first: Int?
        for dir in adapters {
            let c = try Compressor.load(adapter: dir, model: loaded.model)
            let r = c.settings.ratio
            if byRatio[r] != nil { throw ServerSetupError("two adapters for ratio \(r) (\(dir)); give one adapter per ratio") }
            byRatio[r] = Ingestor(compressor: c, prompt: prompt, store: store, maxContextTokens: maxContextTokens)
            first = first ?? r
            logger.info("adapter loaded", metadata: [
                "dir": "\(dir)", "method": "\(c.settings.method.rawValue)", "ratio": "\(r)", "identity": "\(c.adapterIdentity)",
            ])
        }
        ingestors = byRatio
        defaultRatio = first!
    }

    var ratios: [Int] { ingestors.keys.sorted() }

    /// Compresses and stores `text` at `ratio` (default: the first adapter's), running
    /// `betweenChunks` after each chunk but the last.
    func compress(text: String, ratio: Int?, betweenChunks: (() -> Void)? = nil) throws -> IngestResult {
        let r = ratio ?? defaultRatio
        guard let ingestor = ingestors[r] else {
            throw APIError(.unprocessableContent,
                           "ratio \(r) is not served: this server's adapters compress at \(ratios.map { "\($0)x" }.joined(separator: ", "))",
                           field: "ratio")
        }
        return try ingestor.add(text: text, betweenChunks: betweenChunks)
    }

    /// Greedy answer to `question` from memory `id`, checked and set up with its memory in a
    /// cache: the worker reads the question and decodes the answer together with the other
    /// generations in flight (`ModelWorker.generate`, `MemoryDecoder.startReading`). `onStart`
    /// runs once the request is checked, `onToken` with each piece of text (false: stop, the
    /// client has gone).
    func startAnswer(id: MemoryID, question: String, maxTokens: Int, onStart: () -> Void = {},
                     onToken: ((String) -> Bool)? = nil) throws -> GenerationJob<Generation> {
        guard !question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError(.badRequest, "field question is empty", field: "question")
        }
        let (record, memory) = try load(id)
        let q = prompt.question(question)
        try checkLength(memory.carriers + q.count + maxTokens + 2, field: "question")
        let t0 = Date()
        // The template's start was read once for this memory: the question reads its own rows.
        let prefix = try questionPrefix(record, memory)
        let started = try decoder.startReading(memory: memory, prefix: prefix, tokens: Array(q.dropFirst(prefix?.tokens.count ?? 0)),
                                               maxTokens: maxTokens, stopTokens: stopTokens,
                                               file: "memory \(record.id)", tokensName: "question")
        onStart()
        let prompt = self.prompt
        return job(started, since: t0, onToken: onToken) { prompt.text($0) }
    }

    /// Chat completion over `messages` (the model's chat template), optionally reading stored
    /// memory `contextID` first, as `MemoryDecoder` does: its KV (or embeddings), `[LM]`, then
    /// the conversation; set up for the worker to read and decode with the others in flight. Greedy when
    /// `temperature` is nil or 0, else seeded sampling.
    func startChat(messages: [ChatMessage], contextID: MemoryID?, maxTokens: Int, temperature: Float?, topP: Float, seed: UInt64,
                   onStart: () -> Void = {}, onToken: ((String) -> Bool)? = nil) throws -> GenerationJob<Generation> {
        let sampler: Sampler
        do { sampler = try Sampler(temperature: temperature, topP: topP, seed: seed) } catch {
            throw APIError(.badRequest, "\(error)", field: temperature.map { !($0 >= 0 && $0.isFinite) } == true ? "temperature" : "top_p")
        }
        let templated: String
        do { templated = try tokenizer.applyChatTemplate(messages, addGenerationPrompt: true) } catch {
            throw APIError(.badRequest, "messages cannot be formatted with the chat template: \(error)", field: "messages")
        }
        let ids = tokenizer.encode(templated, addSpecialTokens: false)
        guard !ids.isEmpty else { throw APIError(.badRequest, "messages have no tokens", field: "messages") }
        let loadedMemory = try contextID.map { try load($0) }
        if let m = loadedMemory { try decoder.check(m.memory, file: "memory \(m.record.id)") }
        try checkLength((loadedMemory?.memory.carriers ?? 0) + ids.count + maxTokens + 2, field: "messages")
        let t0 = Date()
        let started = try decoder.startReading(
            memory: loadedMemory?.memory, tokens: ids, maxTokens: maxTokens, stopTokens: stopTokens, sampler: sampler,
            file: "memory \(loadedMemory?.record.id ?? "")", tokensName: "messages")
        onStart()
        let tokenizer = self.tokenizer
        return job(started, since: t0, onToken: onToken) { tokenizer.decode($0, skipSpecialTokens: true) }
    }

    /// `startAnswer` decoded alone, to the end.
    func answer(id: MemoryID, question: String, maxTokens: Int) throws -> Generation {
        try runAlone(startAnswer(id: id, question: question, maxTokens: maxTokens))
    }

    /// A generation job decoded alone on this thread (what the worker does with company).
    func runAlone<T>(_ j: GenerationJob<T>) throws -> T {
        var states = [j.state]
        while states[0].finish == nil { try model.decodeStep(&states) { _, t in j.onToken(t) } }
        return try j.finish(states[0].decoded)
    }

    /// The job for `started`: text pieces to `onToken` as tokens come (UTF-8 split across
    /// tokens joined; false from it, as when the client has gone, ends the generation), the
    /// `Generation` at the end.
    private func job(_ started: MemoryDecoder.Started, since t0: Date, onToken: ((String) -> Bool)?,
                     text: @escaping ([Int32]) -> String) -> GenerationJob<Generation> {
        let stream = StreamBox(StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: true))
        return GenerationJob(model: model, state: started.state, onToken: { id in
            let piece = stream.decoder.append(id)
            return piece.isEmpty || onToken?(piece) ?? true
        }, finish: { decoded in
            let tail = stream.decoder.finish()
            if !tail.isEmpty { _ = onToken?(tail) }
            let r = started.result(decoded)
            return Generation(
                text: text(r.ids), tokens: r.ids.count, promptTokens: r.promptTokens, prefillSeconds: r.prefillSeconds,
                totalSeconds: Date().timeIntervalSince(t0), finishReason: r.finish == .stop ? "stop" : "length")
        })
    }

    /// The index row of `id` (so a deleted memory is never served) and its memory, from the
    /// cache when the same file was read before, else read and checked from the store.
    func load(_ id: MemoryID) throws -> (record: StoredMemory, memory: CompressedMemory) {
        let record = try store.record(id)
        if let m = cache.get(record) { return (record, m) }
        let m = try store.memory(for: record)
        cache.put(record, m)
        return (record, m)
    }

    /// The rows of `[LM]` and `QAPrompt.questionPrefix` after memory `record`, read once and
    /// kept beside the memory in the cache (`MemoryDecoder.readPrefix`); nil when the cache
    /// cannot keep them (a question then reads them itself).
    func questionPrefix(_ record: StoredMemory, _ memory: CompressedMemory) throws -> MemoryPrefix? {
        if let p = cache.prefix(record) { return p }
        let tokens = prompt.questionPrefix, c = model.config
        let rows = (memory.method.usesKV ? 0 : memory.carriers) + 1 + tokens.count
        guard memory.byteCount + MemoryPrefix.byteCount(rows: rows, layers: c.numLayers, kvDim: c.kvDim) <= cache.budget else {
            return nil
        }
        let p = try decoder.readPrefix(memory: memory, tokens: tokens, file: "memory \(record.id)")
        cache.put(record, memory, prefix: p)
        return p
    }

    /// 422 when a sequence of `tokens` would not fit the model's context window.
    private func checkLength(_ tokens: Int, field: String) throws {
        let limit = model.config.maxPositionEmbeddings
        if tokens > limit {
            throw APIError(.unprocessableContent, "the request needs \(tokens) positions, more than the model's \(limit)", field: field)
        }
    }
}

/// A streaming decoder kept across a generation's token callbacks.
final class StreamBox {
    var decoder: StreamingDecoder
    init(_ d: StreamingDecoder) { decoder = d }
}

/// A server that cannot start (bad adapters or options).
public struct ServerSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Memories recently read from the store, by id and file checksum, each with its question
/// prefix once read (`Engine.questionPrefix`), least recently used evicted beyond `budget`
/// bytes. Used on the model thread only.
final class MemoryCache {
    let budget: Int
    private var entries: [String: (sha: String, memory: CompressedMemory, prefix: MemoryPrefix?, bytes: Int, used: UInt64)] = [:]
    private var bytes = 0
    private var clock: UInt64 = 0

    init(budget: Int) { self.budget = max(0, budget) }

    func get(_ r: StoredMemory) -> CompressedMemory? {
        guard let e = entries[r.id], e.sha == r.fileSha256 else { return nil }
        clock += 1
        entries[r.id]!.used = clock
        return e.memory
    }

    /// The question prefix kept with memory `r`, if read.
    func prefix(_ r: StoredMemory) -> MemoryPrefix? {
        guard let e = entries[r.id], e.sha == r.fileSha256 else { return nil }
        return e.prefix
    }

    /// Keeps `m` (and its question prefix `prefix`) for `r`, evicting the least recently used
    /// beyond the budget; nothing is kept when they alone exceed it.
    func put(_ r: StoredMemory, _ m: CompressedMemory, prefix: MemoryPrefix? = nil) {
        let size = m.byteCount + (prefix?.byteCount ?? 0)
        guard size <= budget else { return }
        if let old = entries.removeValue(forKey: r.id) { bytes -= old.bytes }
        while bytes + size > budget, let oldest = entries.min(by: { $0.value.used < $1.value.used }) {
            bytes -= oldest.value.bytes
            entries.removeValue(forKey: oldest.key)
        }
        clock += 1
        entries[r.id] = (r.fileSha256, m, prefix, size, clock)
        bytes += size
    }
}

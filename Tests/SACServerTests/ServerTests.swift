import Foundation
import Testing
@testable import SACServer
@testable import SACStore

/// The HTTP service against the real model, over loopback, with untrained adapters.
@Suite(.serialized) struct ServerTests {
    /// Posts `text`; returns the memory id.
    func addContext(_ c: Client, _ text: String, ratio: Int? = nil) async throws -> String {
        var body: [String: Any] = ["text": text]
        if let ratio { body["ratio"] = ratio }
        let r = try await c.post("/v1/contexts", body)
        #expect(r.status == 201 || r.status == 200, "\(r.text)")
        return try #require(r.json["id"] as? String)
    }

    func ask(_ c: Client, _ id: String, _ question: String, maxTokens: Int = 8) async throws -> Reply {
        try await c.post("/v1/contexts/\(id)/answers", ["question": question, "max_tokens": maxTokens])
    }

    @Test func wholeFlow() async throws {
        guard let loaded = try RealModel.get(), let adapters = try TestAdapters.get() else { return }
        let storeDir = try temporaryDirectory("flow")
        defer { try? FileManager.default.removeItem(atPath: storeDir) }
        let server = try await TestServer.start(loaded: loaded, adapters: [adapters[5]!, adapters[15]!], store: storeDir)
        let c = Client(base: server.base)

        var r = try await c.get("/health")
        #expect(r.status == 200 && r.json["status"] as? String == "ok" && r.json["ratios"] as? [Int] == [5, 15])
        r = try await c.get("/v1/models")
        #expect(r.status == 200 && ((r.json["data"] as? [[String: Any]])?.first?["id"] as? String) == loaded.name)

        // Compress once: 201 with the fields; the same text again is the same memory (200).
        r = try await c.post("/v1/contexts", ["text": Documents.lighthouse])
        #expect(r.status == 201, "\(r.text)")
        let id = try #require(r.json["id"] as? String)
        let tokens = try #require(r.json["tokens"] as? Int), carriers = try #require(r.json["carriers"] as? Int)
        #expect(tokens > 50 && carriers == (tokens + 2) / 5 && r.json["ratio"] as? Int == 5)
        #expect((r.json["compress_ms"] as? Double ?? 0) > 0)
        r = try await c.post("/v1/contexts", ["text": Documents.lighthouse])
        #expect(r.status == 200 && r.json["id"] as? String == id && r.json["created"] as? Bool == false)
        r = try await c.post("/v1/contexts", ["text": Documents.lighthouse, "ratio": 15])
        #expect(r.status == 201 && r.json["ratio"] as? Int == 15)
        let id15 = try #require(r.json["id"] as? String)
        #expect(id15 != id && (r.json["carriers"] as? Int ?? 0) < carriers)

        r = try await c.get("/v1/contexts/\(id)")
        #expect(r.status == 200 && r.json["tokens"] as? Int == tokens && r.json["content_hash"] as? String == SHA256.hex(Documents.lighthouse))
        r = try await c.get("/v1/contexts?limit=1&offset=1")
        #expect(r.status == 200 && r.json["total"] as? Int == 2)
        #expect(((r.json["data"] as? [[String: Any]])?.map { $0["id"] as? String }) == [id15])

        // Ask many: plain, streamed (the same tokens), and through chat completions.
        r = try await ask(c, id, "When was the light first lit?")
        #expect(r.status == 200, "\(r.text)")
        let answer = try #require(r.json["answer"] as? String)
        #expect((r.json["tokens"] as? Int ?? 0) >= 1 && (r.json["answer_ms"] as? Double ?? 0) > 0)
        r = try await c.post("/v1/contexts/\(id)/answers", ["question": "When was the light first lit?", "max_tokens": 8, "stream": true])
        #expect(r.status == 200 && r.headers["content-type"] == "text/event-stream")
        let events = r.events.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let streamed = events.compactMap { $0["token"] as? String }.joined()
        #expect(!streamed.isEmpty && events.last?["done"] as? Bool == true && events.last?["answer"] as? String == answer)
        #expect(streamed.trimmingCharacters(in: .whitespacesAndNewlines) == answer)

        let chat: [String: Any] = ["messages": [["role": "user", "content": "Who built it?"]], "max_tokens": 6, "context_id": id]
        r = try await c.post("/v1/chat/completions", chat)
        #expect(r.status == 200, "\(r.text)")
        let choice = try #require((r.json["choices"] as? [[String: Any]])?.first)
        let content = try #require((choice["message"] as? [String: Any])?["content"] as? String)
        #expect(r.json["object"] as? String == "chat.completion" && ["stop", "length"].contains(choice["finish_reason"] as? String))
        #expect(((r.json["usage"] as? [String: Any])?["completion_tokens"] as? Int ?? 0) >= 1)
        var streamChat = chat
        streamChat["stream"] = true
        r = try await c.post("/v1/chat/completions", streamChat)
        #expect(r.status == 200 && r.events.last == "[DONE]")
        let deltas = r.events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }
        #expect(deltas.joined() == content)
        // Without a context: a plain chat with the model; with sampling it still answers.
        r = try await c.post("/v1/chat/completions", ["messages": [["role": "user", "content": "Say hi."]], "max_tokens": 4,
                                                      "temperature": 0.7, "seed": 3])
        #expect(r.status == 200 && r.json["context_id"] == nil)

        r = try await c.get("/metrics")
        #expect(r.status == 200)
        for name in ["sac_http_requests_total", "sac_http_request_duration_seconds", "sac_generation_speed_tokens_per_second",
                     "sac_store_memories_count 2", "sac_generated_tokens_total", "sac_compress_duration_seconds"] {
            #expect(r.text.contains(name), "metric \(name)")
        }

        r = try await ask(c, id15, "Who?")  // now cached in the server
        #expect(r.status == 200)
        r = try await c.delete("/v1/contexts/\(id15)")
        #expect(r.status == 200 && r.json["deleted"] as? Bool == true && r.json["id"] as? String == id15)
        r = try await c.get("/v1/contexts/\(id15)")
        #expect(r.status == 404)
        r = try await ask(c, id15, "Who?")
        #expect(r.status == 404)
        await server.stop()
    }

    /// 16 concurrent clients against the same and different memories get exactly the answers
    /// they get one at a time.
    @Test func concurrentClientsGetTheSequentialAnswers() async throws {
        guard let loaded = try RealModel.get(), let adapters = try TestAdapters.get() else { return }
        let storeDir = try temporaryDirectory("concurrent")
        defer { try? FileManager.default.removeItem(atPath: storeDir) }
        let server = try await TestServer.start(loaded: loaded, adapters: [adapters[5]!, adapters[15]!], store: storeDir)
        let c = Client(base: server.base)
        let ids = [
            try await addContext(c, Documents.lighthouse), try await addContext(c, Documents.bees),
            try await addContext(c, Documents.volcano, ratio: 15),
        ]
        let questions = ["Who is named in the text?", "What year is mentioned?", "Where is it?", "What happened?"]
        let jobs = (0..<16).map { (ids[$0 % 3], questions[($0 / 3) % 4]) }
        var sequential: [String: String] = [:]
        for key in Set(jobs.map { $0.0 + "|" + $0.1 }).sorted() {
            let parts = key.split(separator: "|").map(String.init)
            let r = try await ask(c, parts[0], parts[1])
            #expect(r.status == 200, "\(r.text)")
            sequential[key] = r.json["answer"] as? String
        }
        let concurrent = try await withThrowingTaskGroup(of: (Int, Int, String?).self) { group in
            for (i, job) in jobs.enumerated() {
                group.addTask {
                    let r = try await ask(c, job.0, job.1)
                    return (i, r.status, r.json["answer"] as? String)
                }
            }
            var out: [(Int, Int, String?)] = []
            for try await x in group { out.append(x) }
            return out
        }
        #expect(concurrent.count == 16)
        for (i, status, answer) in concurrent {
            #expect(status == 200)
            #expect(answer != nil && answer == sequential[jobs[i].0 + "|" + jobs[i].1], "client \(i)")
        }
        await server.stop()
    }

    /// A server restarted on the same store serves the same memories and answers.
    @Test func restartWithTheSameStore() async throws {
        guard let loaded = try RealModel.get(), let adapters = try TestAdapters.get() else { return }
        let storeDir = try temporaryDirectory("restart")
        defer { try? FileManager.default.removeItem(atPath: storeDir) }
        var server = try await TestServer.start(loaded: loaded, adapters: [adapters[5]!], store: storeDir)
        var c = Client(base: server.base)
        let a = try await addContext(c, Documents.bees), b = try await addContext(c, Documents.volcano)
        let before = [try await ask(c, a, "Who decoded the dance?").json["answer"] as? String,
                      try await ask(c, b, "When did it erupt?").json["answer"] as? String]
        await server.stop()

        server = try await TestServer.start(loaded: loaded, adapters: [adapters[5]!], store: storeDir)
        c = Client(base: server.base)
        let list = try await c.get("/v1/contexts")
        #expect((list.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [a, b])
        let after = [try await ask(c, a, "Who decoded the dance?").json["answer"] as? String,
                     try await ask(c, b, "When did it erupt?").json["answer"] as? String]
        #expect(after == before && after.allSatisfy { $0 != nil })
        let again = try await c.post("/v1/contexts", ["text": Documents.bees])
        #expect(again.status == 200 && again.json["id"] as? String == a)
        await server.stop()
    }

    /// Every kind of bad input gets its status and a JSON error naming the field, and the
    /// server keeps answering normal requests afterwards.
    @Test func badInputNeverBreaksTheServer() async throws {
        guard let loaded = try RealModel.get(), let adapters = try TestAdapters.get() else { return }
        let storeDir = try temporaryDirectory("bad")
        defer { try? FileManager.default.removeItem(atPath: storeDir) }
        let server = try await TestServer.start(loaded: loaded, adapters: [adapters[5]!], store: storeDir) {
            $0.maxBodyBytes = 16 << 10
            $0.maxContextTokens = 400
        }
        let c = Client(base: server.base)
        let good = try await addContext(c, Documents.lighthouse)
        let victim = try await addContext(c, Documents.bees)
        let reference = try await ask(c, good, "Who built it?").json["answer"] as? String
        #expect(reference != nil)

        func check(_ r: Reply, _ status: Int, field: String? = nil, _ what: String) {
            #expect(r.status == status, "\(what): \(r.status) \(r.text)")
            #expect(r.errorMessage?.isEmpty == false, "\(what): JSON error body")
            if let field { #expect(r.errorField == field, "\(what): field in \(r.text)") }
        }
        check(try await c.post("/v1/contexts", raw: "{\"text\": "), 400, "truncated JSON")
        check(try await c.post("/v1/contexts", raw: "not json"), 400, "not JSON")
        check(try await c.post("/v1/contexts", raw: "[1, 2]"), 400, "array body")
        check(try await c.post("/v1/contexts", ["text": 5]), 400, field: "text", "text as a number")
        check(try await c.post("/v1/contexts", ["ratio": 5]), 400, field: "text", "missing text")
        check(try await c.post("/v1/contexts", ["text": "hello", "ratio": "five"]), 400, field: "ratio", "ratio as a string")
        check(try await c.post("/v1/contexts", ["text": "   "]), 400, field: "text", "blank text")
        check(try await c.post("/v1/contexts", ["text": "hello", "ratio": 7]), 422, field: "ratio", "ratio not served")
        check(try await c.post("/v1/contexts/\(good)/answers", ["question": ["a"]]), 400, field: "question", "question as an array")
        check(try await c.post("/v1/contexts/\(good)/answers", ["max_tokens": 3]), 400, field: "question", "missing question")
        check(try await c.post("/v1/contexts/\(good)/answers", ["question": "Who?", "max_tokens": 0]), 400, field: "max_tokens", "max_tokens 0")
        check(try await c.post("/v1/contexts/\(good)/answers", ["question": "Who?", "stream": "yes"]), 400, field: "stream", "stream as a string")
        check(try await c.post("/v1/chat/completions", ["messages": [["role": "user"]]]), 400, field: "messages[0].content", "message without content")
        check(try await c.post("/v1/chat/completions", ["messages": [["role": "robot", "content": "x"]]]), 400, field: "messages[0].role", "unknown role")
        check(try await c.post("/v1/chat/completions", ["messages": [["role": "user", "content": "x"]], "temperature": -1]), 400,
              field: "temperature", "negative temperature")
        check(try await c.post("/v1/chat/completions", ["messages": [["role": "user", "content": "x"]], "context_id": "nope"]), 400,
              field: "context_id", "bad context_id")
        let unknown = MemoryID.random().value
        check(try await c.get("/v1/contexts/\(unknown)"), 404, "unknown id")
        check(try await c.delete("/v1/contexts/\(unknown)"), 404, "delete unknown id")
        check(try await ask(c, unknown, "Who?"), 404, "answer from unknown id")
        check(try await c.post("/v1/chat/completions", ["messages": [["role": "user", "content": "x"]], "context_id": unknown]), 404,
              "chat with unknown context")
        for bad in ["..%2F..%2Fetc%2Fpasswd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "ABCDEF0123456789ABCDEF0123456789", "x"] {
            check(try await c.get("/v1/contexts/\(bad)"), 400, field: "id", "invalid id \(bad)")
            check(try await c.delete("/v1/contexts/\(bad)"), 400, field: "id", "delete invalid id \(bad)")
            check(try await ask(c, bad, "Who?"), 400, field: "id", "answer invalid id \(bad)")
        }
        check(try await c.get("/v1/contexts?limit=abc"), 400, field: "limit", "bad limit")
        check(try await c.get("/v1/no-such-endpoint"), 404, "unknown endpoint")
        check(try await c.send(.PUT, "/v1/contexts/\(good)"), 404, "unknown method")
        check(try await c.post("/v1/contexts", ["text": String(repeating: "lighthouse keeper ", count: 2000)]), 413, "body over the limit")
        check(try await c.post("/v1/contexts", ["text": String(repeating: "The lamp burns. ", count: 200)]), 422, field: "text",
              "context over the token limit")

        // A corrupted memory file: 500 naming that id, every other id unaffected.
        let path = storeDir + "/memories/\(victim).safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: path))
        let broken = try await ask(c, victim, "Who?")
        check(broken, 500, "corrupted memory")
        #expect(broken.errorMessage?.contains(victim) == true)
        var s = try await c.post("/v1/contexts/\(victim)/answers", ["question": "Who?", "stream": true])
        check(s, 500, "corrupted memory, streamed")

        // Still healthy, and the same answer as before.
        #expect(try await c.get("/health").status == 200)
        #expect(try await ask(c, good, "Who built it?").json["answer"] as? String == reference)
        s = try await c.post("/v1/contexts/\(good)/answers", ["question": "Who built it?", "stream": true])
        #expect(s.status == 200 && s.events.contains { $0.contains("\"done\":true") })
        #expect(try await c.get("/v1/contexts").json["total"] as? Int == 2)
        await server.stop()
    }

    /// With a full model queue the server answers 503 with Retry-After, then recovers.
    @Test func fullQueueAnswers503() async throws {
        guard let loaded = try RealModel.get(), let adapters = try TestAdapters.get() else { return }
        let storeDir = try temporaryDirectory("busy")
        defer { try? FileManager.default.removeItem(atPath: storeDir) }
        let server = try await TestServer.start(loaded: loaded, adapters: [adapters[5]!], store: storeDir) { $0.queueCapacity = 1 }
        let c = Client(base: server.base)
        let id = try await addContext(c, Documents.volcano)
        let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
            for _ in 0..<6 { group.addTask { try await ask(c, id, "What happened in 79 AD?", maxTokens: 24) } }
            var out: [Reply] = []
            for try await r in group { out.append(r) }
            return out
        }
        #expect(replies.contains { $0.status == 200 })
        let busy = replies.filter { $0.status == 503 }
        #expect(!busy.isEmpty, "statuses \(replies.map(\.status))")
        #expect(busy.allSatisfy { $0.headers["retry-after"] == "1" && $0.errorMessage != nil })
        #expect(replies.allSatisfy { $0.status == 200 || $0.status == 503 })
        #expect(try await ask(c, id, "What happened in 79 AD?").status == 200)
        await server.stop()
    }
}

import Foundation
import SACStore

/// `POST /v1/contexts`.
struct ContextRequest: Decodable, Sendable {
    var text: String
    var ratio: Int?
}

/// A stored context as the API shows it.
struct ContextInfo: Codable, Sendable {
    var id: String
    var tokens: Int
    var carriers: Int
    var ratio: Int
    var achievedRatio: Double
    var method: String
    var model: String
    var adapter: String
    var contentHash: String
    var bytes: Int
    var createdAt: Double
    /// Milliseconds spent compressing (POST only; 0 when the text was already stored).
    var compressMs: Double?
    /// Whether the POST stored a new memory (false: the same text was already stored).
    var created: Bool?

    enum CodingKeys: String, CodingKey {
        case id, tokens, carriers, ratio, method, model, adapter, bytes, created
        case achievedRatio = "achieved_ratio", contentHash = "content_hash", createdAt = "created_at"
        case compressMs = "compress_ms"
    }

    init(_ r: StoredMemory, compressMs: Double? = nil, created: Bool? = nil) {
        id = r.id; tokens = r.contextTokens; carriers = r.carriers; ratio = r.ratio
        achievedRatio = (r.achievedRatio * 100).rounded() / 100
        method = r.method; model = r.model; adapter = r.adapter; contentHash = r.contentHash
        bytes = r.fileBytes; createdAt = r.createdAt
        self.compressMs = compressMs.map { ($0 * 10).rounded() / 10 }
        self.created = created
    }
}

/// `GET /v1/contexts` page.
struct ContextPage: Codable, Sendable {
    var data: [ContextInfo]
    var total: Int
    var limit: Int
    var offset: Int
}

/// `POST /v1/contexts/{id}/answers`.
struct AnswerRequest: Decodable, Sendable {
    var question: String
    var maxTokens: Int?
    var stream: Bool?

    enum CodingKeys: String, CodingKey {
        case question, stream
        case maxTokens = "max_tokens"
    }
}

/// The answer to `AnswerRequest` (and the last streamed event, with `done`).
struct AnswerResponse: Codable, Sendable {
    var id: String
    var answer: String
    var answerMs: Double
    /// Milliseconds to the first token (reading `[LM]` and the question against the memory).
    var prefillMs: Double
    /// Generated tokens.
    var tokens: Int
    var done: Bool?

    enum CodingKeys: String, CodingKey {
        case id, answer, tokens, done
        case answerMs = "answer_ms", prefillMs = "prefill_ms"
    }
}

/// One streamed token: `data: {"token": "...", "index": n}`.
struct TokenEvent: Codable, Sendable {
    var token: String
    var index: Int
}

/// `POST /v1/chat/completions` (OpenAI-compatible, plus `context_id`).
struct ChatRequest: Decodable, Sendable {
    struct Message: Codable, Sendable {
        var role: String
        var content: String
    }
    var model: String?
    var messages: [Message]
    var maxTokens: Int?
    var temperature: Float?
    var topP: Float?
    var seed: UInt64?
    var stream: Bool?
    /// A stored memory put in front of the conversation.
    var contextID: String?

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, seed, stream
        case maxTokens = "max_tokens", topP = "top_p", contextID = "context_id"
    }
}

struct ChatResponse: Codable, Sendable {
    struct Choice: Codable, Sendable {
        var index: Int
        var message: ChatRequest.Message
        var finishReason: String
        enum CodingKeys: String, CodingKey { case index, message; case finishReason = "finish_reason" }
    }
    struct Usage: Codable, Sendable {
        var promptTokens: Int
        var completionTokens: Int
        var totalTokens: Int
        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        }
    }
    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage
    var contextID: String?
    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage; case contextID = "context_id" }
}

struct ChatChunk: Codable, Sendable {
    struct Delta: Codable, Sendable {
        var role: String?
        var content: String?
    }
    struct Choice: Codable, Sendable {
        var index: Int
        var delta: Delta
        var finishReason: String?
        enum CodingKeys: String, CodingKey { case index, delta; case finishReason = "finish_reason" }
    }
    var id: String
    var object = "chat.completion.chunk"
    var created: Int
    var model: String
    var choices: [Choice]
}

/// `GET /v1/models`.
struct ModelList: Codable, Sendable {
    struct Model: Codable, Sendable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "sac"
        /// Ratios of the loaded adapters (`POST /v1/contexts` `ratio`).
        var ratios: [Int]
        enum CodingKeys: String, CodingKey { case id, object, created, ratios; case ownedBy = "owned_by" }
    }
    var object = "list"
    var data: [Model]
}

/// Decodes a JSON body, turning every failure into a 400 that names the field.
func decodeBody<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let e as DecodingError {
        func path(_ p: [CodingKey]) -> String {
            var s = ""
            for k in p {
                if let i = k.intValue { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + k.stringValue }
            }
            return s
        }
        switch e {
        case .typeMismatch(let t, let c):
            let f = path(c.codingPath)
            throw APIError(.badRequest, "field \(f.isEmpty ? "(body)" : f): expected \(jsonType(t))", field: f.isEmpty ? nil : f)
        case .valueNotFound(let t, let c):
            let f = path(c.codingPath)
            throw APIError(.badRequest, "field \(f): expected \(jsonType(t)), found null", field: f)
        case .keyNotFound(let k, let c):
            let f = path(c.codingPath + [k])
            throw APIError(.badRequest, "field \(f) is required", field: f)
        case .dataCorrupted(let c):
            let f = path(c.codingPath)
            if f.isEmpty { throw APIError(.badRequest, "malformed JSON body") }
            throw APIError(.badRequest, "field \(f): \(c.debugDescription)", field: f)
        @unknown default:
            throw APIError(.badRequest, "invalid JSON body")
        }
    } catch {
        throw APIError(.badRequest, "malformed JSON body")
    }
}

/// A JSON name for a Swift type in error messages.
private func jsonType(_ t: Any.Type) -> String {
    switch t {
    case is String.Type: return "a string"
    case is Int.Type, is UInt64.Type: return "an integer"
    case is Float.Type, is Double.Type: return "a number"
    case is Bool.Type: return "a boolean"
    default:
        let n = "\(t)"
        if n.hasPrefix("Array") { return "an array" }
        return "an object"
    }
}

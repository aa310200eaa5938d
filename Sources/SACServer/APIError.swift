import Foundation
import HTTPTypes
import Hummingbird
import SACCompression
import SACStore

/// An error answered as JSON: `{"error": {"message", "type", "field"?}}` with its status.
public struct APIError: HTTPResponseError, CustomStringConvertible, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    /// The request field at fault, when there is one.
    public var field: String?
    /// Seconds for Retry-After (503).
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, field: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.field = field
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(message)" }

    /// The OpenAI-style error type for the status.
    var type: String {
        switch status.code {
        case 400, 413, 422: return "invalid_request_error"
        case 404: return "not_found_error"
        case 503: return "overloaded_error"
        default: return "server_error"
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var error: [String: String] = ["message": message, "type": type]
        if let field { error["field"] = field }
        let body = try JSONEncoder.api.encode(["error": error])
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The API error for anything a handler or the engine threw.
    public static func from(_ error: Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as HTTPError:
            return APIError(e.status, e.body ?? (e.status == .notFound ? "no such endpoint" : e.status.reasonPhrase))
        case let e as WorkerBusy: return APIError(.serviceUnavailable, e.description, retryAfter: 1)
        case let e as ServerSetupError: return APIError(.serviceUnavailable, e.description)
        case let e as StoreError:
            switch e {
            case .invalidID: return APIError(.badRequest, e.description, field: "id")
            case .notFound: return APIError(.notFound, e.description, field: "id")
            case .corrupt, .unusable: return APIError(.internalServerError, e.description)
            }
        case let e as CompressionError:
            switch e {
            case .contextTooLong: return APIError(.unprocessableContent, e.description, field: "text")
            case .emptyInput(let what): return APIError(.badRequest, e.description, field: what)
            case .invalidOption(let o, _): return APIError(.badRequest, e.description, field: o)
            case .identityMismatch: return APIError(.unprocessableContent, e.description)
            case .invalidFile: return APIError(.internalServerError, e.description)
            }
        default: return APIError(.internalServerError, "internal error: \(error)")
        }
    }
}

extension JSONEncoder {
    /// Encoder for API bodies: sorted keys, no escaped slashes.
    static var api: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

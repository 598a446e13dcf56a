import HTTPTypes
import HuddleProtocol
import Hummingbird
import NIOCore

/// An HTTP error answer (SPEC §5): a status and `{"error": {"code": WORD, "message": TEXT}}`,
/// plus `param` when one param is at fault.
struct HTTPFailure: Error, Equatable {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var param: String?
    var headers: HTTPFields = [:]

    static func badRequest(_ message: String, param: String? = nil) -> HTTPFailure {
        HTTPFailure(status: .badRequest, code: "bad_request", message: message, param: param)
    }

    static func unauthorized(_ message: String) -> HTTPFailure {
        HTTPFailure(status: .unauthorized, code: "unauthorized", message: message, headers: [.wwwAuthenticate: "Bearer"])
    }

    static func notFound(_ message: String) -> HTTPFailure {
        HTTPFailure(status: .notFound, code: "not_found", message: message)
    }

    static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> HTTPFailure {
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        return HTTPFailure(
            status: .methodNotAllowed, code: "method_not_allowed", message: "\(method.rawValue) is not allowed here; use \(allow)",
            headers: [.allow: allow])
    }

    static func tooLarge(limit: Int) -> HTTPFailure {
        HTTPFailure(status: .contentTooLarge, code: "too_large", message: "the body is longer than \(limit) bytes")
    }

    /// `Retry-After` is in whole seconds, rounded up.
    static func rateLimited(retryAfterMillis: Int64) -> HTTPFailure {
        let seconds = max(1, (retryAfterMillis + 999) / 1000)
        return HTTPFailure(
            status: .tooManyRequests, code: "rate_limited", message: "rate limited; retry in \(seconds) s",
            headers: [.retryAfter: "\(seconds)"])
    }

    static let unavailable = HTTPFailure(
        status: .serviceUnavailable, code: "unavailable", message: "the server is shutting down; retry later")

    var body: JSONValue {
        var error: [String: JSONValue] = ["code": .string(code), "message": .string(message)]
        if let param { error["param"] = .string(param) }
        return ["error": .object(error)]
    }

    var response: Response {
        var response = HTTPRoutes.json(status, body)
        response.headers.append(contentsOf: headers)
        return response
    }
}

extension HTTPFailure {
    /// The protocol's error codes as HTTP statuses: -32001 → 401, -32002 → 403, -32003 → 404,
    /// bad params, text or JSON → 400 (the message names the param), -32011 → 429.
    init(_ error: RPCError) {
        let param = error.data?["param"]?.stringValue
        var message = error.message
        if let param, !message.contains(param) { message = "\(param): \(message)" }
        switch error.code {
        case .notAuthenticated: self = .unauthorized(message)
        case .forbidden: self.init(status: .forbidden, code: "forbidden", message: message)
        case .unknownEntity: self = .notFound(message)
        case .rateLimited: self = .rateLimited(retryAfterMillis: error.data?["retry_after_ms"]?.intValue ?? 1000)
        case .internalError: self.init(status: .internalServerError, code: "internal", message: message)
        case .parseError, .invalidRequest, .invalidParams, .invalidText, .methodNotFound, .deniedByCoverage:
            self = .badRequest(message, param: param)
        }
    }
}

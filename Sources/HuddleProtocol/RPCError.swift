/// The error codes of SPEC §5: the JSON-RPC standard ones and Huddle's application ones.
public enum ErrorCode: Int, Sendable, CaseIterable {
    case parseError = -32700
    case invalidRequest = -32600
    case methodNotFound = -32601
    case invalidParams = -32602
    case internalError = -32603
    case notAuthenticated = -32001
    case forbidden = -32002
    case unknownEntity = -32003
    case deniedByCoverage = -32010
    case rateLimited = -32011
    case invalidText = -32012
}

/// An error answer. `data` carries the machine-readable detail (`param`, `retry_after_ms`, …).
public struct RPCError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    public var data: JSONValue?

    public init(_ code: ErrorCode, _ message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public static func invalidParam(_ param: String, _ message: String) -> RPCError {
        RPCError(.invalidParams, message, data: ["param": .string(param)])
    }

    public static func invalidText(_ param: String, _ message: String) -> RPCError {
        RPCError(.invalidText, message, data: ["param": .string(param)])
    }

    public static func forbidden(_ message: String) -> RPCError {
        RPCError(.forbidden, message)
    }

    public static func unknown(_ what: String, _ name: String) -> RPCError {
        RPCError(.unknownEntity, "unknown \(what) '\(name)'", data: [what: .string(name)])
    }

    public static let internalError = RPCError(.internalError, "internal error; the change was not applied")
    public static let notAuthenticated = RPCError(.notAuthenticated, "not authenticated: send session.hello first")

    public var json: JSONValue {
        var object: [String: JSONValue] = ["code": .int(Int64(code.rawValue)), "message": .string(message)]
        if let data { object["data"] = data }
        return .object(object)
    }

    public init?(json: JSONValue) {
        guard let codeValue = json["code"]?.intValue, let code = ErrorCode(rawValue: Int(codeValue)) else {
            return nil
        }
        self.init(code, json["message"]?.stringValue ?? "", data: json["data"])
    }
}

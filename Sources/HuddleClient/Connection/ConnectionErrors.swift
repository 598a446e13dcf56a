import HuddleProtocol

/// The connection ended while something still needed it (a request without an answer, a write).
public struct ConnectionClosed: Error, Sendable, Equatable, CustomStringConvertible {
    /// The reason of the `session.closing` notification, when the server sent one.
    public var reason: String?
    /// What the transport reported, when the end was not a clean close (a reset, a TLS alert…).
    public var detail: String?

    public init(reason: String? = nil, detail: String? = nil) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        var text = "the connection to the server closed"
        if let reason { text += " (\(reason))" }
        if let detail { text += ": \(detail)" }
        return text
    }
}

/// The server could not be reached or the TLS handshake failed for a reason other than a pinned
/// fingerprint (that one is `CertificateMismatch`).
public enum ConnectError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreachable(host: String, port: Int, detail: String)
    case tlsFailed(host: String, port: Int, detail: String)

    public var description: String {
        switch self {
        case let .unreachable(host, port, detail):
            "cannot reach \(Endpoint.display(host: host, port: port)): \(detail)"
        case let .tlsFailed(host, port, detail):
            "TLS handshake with \(Endpoint.display(host: host, port: port)) failed: \(detail)"
        }
    }
}

/// A result that does not have the shape protocol v1 promises.
public struct UnexpectedAnswer: Error, Sendable, Equatable, CustomStringConvertible {
    public var method: String
    public var detail: String

    public var description: String { "unexpected answer to \(method): \(detail)" }

    /// The array under `key` of a result, or this error naming what is missing.
    static func list(_ key: String, of result: JSONValue, answering method: Method) throws(UnexpectedAnswer) -> [JSONValue] {
        guard let list = result[key]?.arrayValue else {
            throw UnexpectedAnswer(method: method.rawValue, detail: "\(key) is missing")
        }
        return list
    }
}

/// The server sent nothing, not even a heartbeat, for three heartbeat intervals.
struct ServerSilent: Error, CustomStringConvertible {
    var seconds: Int64
    var description: String { "no data from the server for \(seconds) s" }
}

struct HandshakeTimedOut: Error, CustomStringConvertible {
    var description: String { "the TLS handshake did not finish in time" }
}

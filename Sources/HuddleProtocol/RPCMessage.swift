/// A JSON-RPC id: a number or a string (SPEC §5). A missing or null id is represented by `nil`.
public enum RPCID: Sendable, Hashable {
    case int(Int64)
    case string(String)

    public var json: JSONValue {
        switch self {
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        }
    }
}

/// A client request after envelope checks; `params` is always an object (absent means empty).
public struct RPCRequest: Sendable {
    public var id: RPCID
    public var method: String
    public var params: Params

    public init(id: RPCID, method: String, params: [String: JSONValue] = [:]) {
        self.id = id
        self.method = method
        self.params = Params(params)
    }

    /// A failure to read a line as a request, with the id when it could be read.
    public struct Failure: Error, Sendable {
        public var id: RPCID?
        public var error: RPCError
    }

    /// Reads one line (without its newline). Invalid UTF-8 and invalid JSON are -32700; a
    /// well-formed document that is not a request is -32600.
    public static func decode(_ line: [UInt8]) -> Result<RPCRequest, Failure> {
        let document: JSONValue
        do {
            document = try JSONParser.parse(line)
        } catch {
            return .failure(Failure(id: nil, error: RPCError(.parseError, "parse error: \(error.message)")))
        }
        return decode(document)
    }

    public static func decode(_ document: JSONValue) -> Result<RPCRequest, Failure> {
        guard case .object(let object) = document else {
            return .failure(Failure(id: nil, error: RPCError(.invalidRequest, "a request must be a JSON object")))
        }
        var id: RPCID?
        switch object["id"] {
        case .int(let i)?: id = .int(i)
        case .string(let s)?: id = .string(s)
        case nil, .null?: id = nil
        default:
            return .failure(Failure(id: nil, error: RPCError(.invalidRequest, "id must be a number or a string")))
        }
        guard object["jsonrpc"] == .string("2.0") else {
            return .failure(Failure(id: id, error: RPCError(.invalidRequest, "jsonrpc must be \"2.0\"")))
        }
        guard case .string(let method)? = object["method"] else {
            return .failure(Failure(id: id, error: RPCError(.invalidRequest, "method must be a string")))
        }
        guard let requestID = id else {
            return .failure(Failure(id: nil, error: RPCError(.invalidRequest, "a request needs an id")))
        }
        switch object["params"] {
        case nil, .null?:
            return .success(RPCRequest(id: requestID, method: method))
        case .object(let params)?:
            return .success(RPCRequest(id: requestID, method: method, params: params))
        default:
            return .failure(
                Failure(id: requestID, error: .invalidParam("params", "params must be an object")))
        }
    }

    public func encoded() -> [UInt8] {
        JSONWriter.encode([
            "jsonrpc": "2.0", "id": id.json, "method": .string(method), "params": .object(params.object),
        ])
    }
}

/// Encoders for what the server sends. Each returns one line including its trailing newline.
public enum RPCFrame {
    public static func result(id: RPCID, _ result: JSONValue) -> [UInt8] {
        line(["jsonrpc": "2.0", "id": id.json, "result": result])
    }

    /// A result whose JSON is already encoded (`raw` must be one valid JSON text): large
    /// answers made of stored lines are spliced rather than parsed and written again.
    public static func result(id: RPCID, raw: [UInt8]) -> [UInt8] {
        var out = line(["jsonrpc": "2.0", "id": id.json, "result": .null])
        // `…,"result":null}\n`: the placeholder goes, the encoded result takes its place.
        let tail = Array(#"null}"#.utf8) + [0x0A]
        guard out.count >= tail.count, Array(out.suffix(tail.count)) == tail else { return out }
        out.removeLast(tail.count)
        out.append(contentsOf: raw)
        out.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        return out
    }

    public static func error(id: RPCID?, _ error: RPCError) -> [UInt8] {
        line(["jsonrpc": "2.0", "id": id?.json ?? .null, "error": error.json])
    }

    public static func notification(_ method: String, _ params: JSONValue) -> [UInt8] {
        line(["jsonrpc": "2.0", "method": .string(method), "params": params])
    }

    public static func line(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        JSONWriter.write(value, into: &out)
        out.append(0x0A)
        return out
    }
}

/// What a client reads: a response to one of its requests, or a notification.
public enum ServerMessage: Sendable {
    case result(id: RPCID, JSONValue)
    case error(id: RPCID?, RPCError)
    case notification(method: String, params: JSONValue)

    public static func decode(_ line: [UInt8]) throws(JSONParseError) -> ServerMessage {
        let document = try JSONParser.parse(line)
        let id: RPCID?
        switch document["id"] {
        case .int(let i)?: id = .int(i)
        case .string(let s)?: id = .string(s)
        default: id = nil
        }
        if let method = document["method"]?.stringValue {
            return .notification(method: method, params: document["params"] ?? .object([:]))
        }
        if let errorValue = document["error"] {
            return .error(id: id, RPCError(json: errorValue) ?? RPCError(.internalError, "malformed error"))
        }
        guard let id else { throw JSONParseError(message: "response without id", offset: 0) }
        return .result(id: id, document["result"] ?? .null)
    }
}

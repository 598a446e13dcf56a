/// Typed reads of a request's params; every failure is -32602 naming the offending param.
public struct Params: Sendable, Equatable {
    public var object: [String: JSONValue]

    public init(_ object: [String: JSONValue] = [:]) {
        self.object = object
    }

    public subscript(key: String) -> JSONValue? {
        object[key]
    }

    func present(_ key: String) -> JSONValue? {
        switch object[key] {
        case nil, .null?: return nil
        case let value?: return value
        }
    }

    public func string(_ key: String) throws(RPCError) -> String {
        guard let value = present(key) else { throw .invalidParam(key, "\(key) is required") }
        guard case .string(let s) = value else { throw .invalidParam(key, "\(key) must be a string") }
        return s
    }

    public func optionalString(_ key: String) throws(RPCError) -> String? {
        guard present(key) != nil else { return nil }
        return try string(key)
    }

    public func int(_ key: String, in range: ClosedRange<Int64>) throws(RPCError) -> Int64 {
        guard let value = present(key) else { throw .invalidParam(key, "\(key) is required") }
        guard let i = value.intValue else { throw .invalidParam(key, "\(key) must be an integer") }
        guard range.contains(i) else {
            throw .invalidParam(key, "\(key) must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return i
    }

    public func optionalInt(_ key: String, in range: ClosedRange<Int64>) throws(RPCError) -> Int64? {
        guard present(key) != nil else { return nil }
        return try int(key, in: range)
    }

    public func optionalBool(_ key: String) throws(RPCError) -> Bool? {
        guard let value = present(key) else { return nil }
        guard case .bool(let b) = value else { throw .invalidParam(key, "\(key) must be true or false") }
        return b
    }

    public func optionalObject(_ key: String) throws(RPCError) -> [String: JSONValue]? {
        guard let value = present(key) else { return nil }
        guard case .object(let o) = value else { throw .invalidParam(key, "\(key) must be an object") }
        return o
    }

    public func object(_ key: String) throws(RPCError) -> [String: JSONValue] {
        guard let o = try optionalObject(key) else { throw .invalidParam(key, "\(key) is required") }
        return o
    }
}

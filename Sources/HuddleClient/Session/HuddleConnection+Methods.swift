import HuddleProtocol

/// Typed forms of the common methods. Each keeps the raw answer (`raw`) for callers that print
/// JSON; anything else goes through `request(_:_:)`.
extension HuddleConnection {
    public static let clientName = "huddle-client/0.1.0"

    public func hello(token: String, client: String = HuddleConnection.clientName) async throws -> HelloResult {
        try HelloResult(json: try await request(Method.hello.rawValue, ["token": .string(token), "client": .string(client)]))
    }

    public func ping() async throws {
        _ = try await request(Method.ping.rawValue)
    }

    /// With `since`, the replayed events are on `notifications` before this returns.
    public func join(team: String, since: ReplayPosition? = nil) async throws -> JoinResult {
        var params: [String: JSONValue] = ["team": .string(team)]
        if let since { params["since"] = since.json }
        return try JoinResult(team: team, json: try await request(Method.teamJoin.rawValue, params))
    }

    public func leave(team: String) async throws {
        _ = try await request(Method.teamLeave.rawValue, ["team": .string(team)])
    }

    /// A denial throws the `RPCError` (-32010); `CoverageDenial(error)` reads its data.
    public func setStatus(
        _ status: Status, note: String? = nil, expectedSeconds: Int64? = nil, reason: StatusReason? = nil,
        queue: Bool = false
    ) async throws -> StatusSetResult {
        try StatusSetResult(json: try await request(Method.statusSet.rawValue, Self.statusParams(
            status, note: note, expectedSeconds: expectedSeconds, reason: reason, queue: queue)))
    }

    public static func statusParams(
        _ status: Status, note: String?, expectedSeconds: Int64?, reason: StatusReason?, queue: Bool
    ) -> [String: JSONValue] {
        var params: [String: JSONValue] = ["status": .string(status.rawValue)]
        if let note { params["note"] = .string(note) }
        if let expectedSeconds { params["expected_s"] = .int(expectedSeconds) }
        if let reason { params["reason"] = .string(reason.rawValue) }
        if queue { params["queue"] = .bool(true) }
        return params
    }

    /// Returns the message's seq in the team stream.
    public func sendMessage(team: String, text: String) async throws -> Int64 {
        let result = try await request(Method.messageSend.rawValue, ["team": .string(team), "text": .string(text)])
        guard let seq = result["seq"]?.intValue else {
            throw UnexpectedAnswer(method: Method.messageSend.rawValue, detail: "seq is missing")
        }
        return seq
    }

    /// Oldest first.
    public func history(team: String, since: Int64? = nil, limit: Int? = nil) async throws -> [EventNotification] {
        var params: [String: JSONValue] = ["team": .string(team)]
        if let since { params["since"] = .int(since) }
        if let limit { params["limit"] = JSONValue(limit) }
        let result = try await request(Method.historyFetch.rawValue, params)
        return try UnexpectedAnswer.list("events", of: result, answering: .historyFetch).map { value in
            guard let event = EventNotification(params: value) else {
                throw UnexpectedAnswer(method: Method.historyFetch.rawValue, detail: "an event lacks a common field")
            }
            return event
        }
    }

    public func policy(team: String) async throws -> Policy {
        let result = try await request(Method.policyGet.rawValue, ["team": .string(team)])
        do {
            return try Policy.decode(result)
        } catch {
            throw UnexpectedAnswer(method: Method.policyGet.rawValue, detail: error.message)
        }
    }
}

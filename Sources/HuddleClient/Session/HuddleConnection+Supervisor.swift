import HuddleProtocol

/// The methods of break coverage: the waitlist, alerts, forced changes, policy and reports.
extension HuddleConnection {
    /// Leaves the team's waitlist (nothing happens if the caller was not on it).
    public func cancelWaitlist(team: String) async throws {
        _ = try await request(Method.waitlistCancel.rawValue, ["team": .string(team)])
    }

    /// Returns the raw answer, `{supervisors_seq}`.
    @discardableResult
    public func acknowledgeAlert(_ alert: Int64, note: String? = nil) async throws -> JSONValue {
        var params: [String: JSONValue] = ["alert": .int(alert)]
        if let note { params["note"] = .string(note) }
        return try await request(Method.alertAck.rawValue, params)
    }

    /// A supervisor sets a member's status; returns the raw answer, `{seq, seqs}`.
    @discardableResult
    public func forceStatus(user: String, status: Status, note: String? = nil) async throws -> JSONValue {
        var params: [String: JSONValue] = ["user": .string(user), "status": .string(status.rawValue)]
        if let note { params["note"] = .string(note) }
        return try await request(Method.statusForce.rawValue, params)
    }

    /// The team's policy as the wire shows it (every key, `version` included).
    public func policyObject(team: String) async throws -> JSONValue {
        let result = try await request(Method.policyGet.rawValue, ["team": .string(team)])
        guard result.objectValue != nil else {
            throw UnexpectedAnswer(method: Method.policyGet.rawValue, detail: "the policy is not an object")
        }
        return result
    }

    /// Changes the keys of `patch` (nested objects merge key by key); returns the new policy.
    public func setPolicy(team: String, patch: [String: JSONValue], comment: String) async throws -> JSONValue {
        try await request(
            Method.policySet.rawValue,
            ["team": .string(team), "policy": .object(patch), "comment": .string(comment)])
    }

    public func policyHistory(team: String) async throws -> PolicyHistory {
        try PolicyHistory(json: try await request(Method.policyHistory.rawValue, ["team": .string(team)]))
    }

    /// Seconds per user and status within `from..<to` (supervisors).
    public func timeInStatus(team: String, from: Timestamp, to: Timestamp) async throws -> StatusTimeReport {
        try StatusTimeReport(
            json: try await request(
                Method.reportTimeInStatus.rawValue, ["team": .string(team), "from": from.json, "to": to.json]))
    }
}

import HuddleProtocol

/// Coverage figures of a team: who is on the phones against what the policy requires.
public struct Coverage: Sendable, Equatable {
    public enum State: String, Sendable {
        case ok
        case atRisk = "at_risk"
        case breach
    }

    public var available: Int
    public var required: Int
    public var onBreak: Int
    public var maxOnBreak: Int

    public var state: State {
        if available < required { return .breach }
        if available == required { return .atRisk }
        return .ok
    }

    public var json: JSONValue {
        [
            "available": .int(Int64(available)), "required": .int(Int64(required)), "on_break": .int(Int64(onBreak)),
            "max_on_break": .int(Int64(maxOnBreak)), "state": .string(state.rawValue),
        ]
    }
}

extension Floor {
    /// Coverage counts agents who are `available` AND have a live session (`live`).
    public func coverage(of teamName: String, live: Set<String>) -> Coverage? {
        guard let team = teams[teamName] else { return nil }
        var available = 0
        var onBreak = 0
        for name in team.members {
            guard let user = users[name], user.role == .agent else { continue }
            if user.status.status == .available && live.contains(name) { available += 1 }
            if user.status.status == .onBreak || user.status.status == .lunch { onBreak += 1 }
        }
        let required: Int =
            switch team.policy.minAvailable {
            case .fixed(let n): Int(n)
            case .auto: Int(team.policy.shrinkageFloor)
            }
        return Coverage(available: available, required: required, onBreak: onBreak, maxOnBreak: Int(team.policy.maxOnBreak))
    }

    /// The floor's members as a snapshot shows them: agents and supervisors, sorted by name.
    public func members(of teamName: String) -> [JSONValue] {
        guard let team = teams[teamName] else { return [] }
        return team.members.sorted().compactMap { name -> JSONValue? in
            guard let user = users[name], user.role.hasStatus else { return nil }
            var member: [String: JSONValue] = [
                "user": .string(name), "role": .string(user.role.rawValue), "status": .string(user.status.status.rawValue),
                "note": .string(user.status.note), "since": user.status.since.json,
                "connected": .bool(team.announcedConnected.contains(name)),
            ]
            if let until = user.status.expectedUntil { member["expected_until"] = until.json }
            return .object(member)
        }
    }

    /// The `snapshot` of `team.join`, as seen by `viewer`.
    public func snapshot(of teamName: String, viewer: Role, live: Set<String>) -> JSONValue {
        guard let team = teams[teamName] else { return .null }
        var snapshot: [String: JSONValue] = [
            "members": .array(members(of: teamName)),
            "policy": team.policy.json,
            "queue": .null,
            "coverage": coverage(of: teamName, live: live)?.json ?? .null,
            "waitlist": .array([]),
        ]
        if viewer.seesSupervisorStream { snapshot["alerts"] = .array([]) }
        return .object(snapshot)
    }
}

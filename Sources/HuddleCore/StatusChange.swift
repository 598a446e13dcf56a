import HuddleProtocol

/// An agent's or supervisor's request to change their own status (`status.set`).
public struct StatusRequest: Sendable, Equatable {
    public var status: Status
    public var note: String
    public var expectedSeconds: Int64?
    public var reason: StatusReason?
    public var queue: Bool

    public init(
        status: Status, note: String = "", expectedSeconds: Int64? = nil, reason: StatusReason? = nil,
        queue: Bool = false
    ) {
        self.status = status
        self.note = note
        self.expectedSeconds = expectedSeconds
        self.reason = reason
        self.queue = queue
    }

    public init(params: Params) throws(RPCError) {
        let name = try params.string("status")
        guard let status = Status(rawValue: name) else {
            throw .invalidParam("status", "unknown status '\(name)'")
        }
        self.status = status
        self.note = try TextRules.check(
            params.optionalString("note") ?? "", param: "note", maxScalars: TextRules.maxNoteScalars,
            allowEmpty: true)
        self.expectedSeconds = try params.optionalInt("expected_s", in: 1...(7 * 24 * 3600))
        if let reasonName = try params.optionalString("reason") {
            guard let reason = StatusReason(rawValue: reasonName) else {
                throw .invalidParam("reason", "unknown reason '\(reasonName)'")
            }
            guard status == .onBreak else {
                throw .invalidParam("reason", "reason abusive_call goes with status break")
            }
            self.reason = reason
        } else {
            self.reason = nil
        }
        self.queue = try params.optionalBool("queue") ?? false
    }
}

/// What became of a status request.
public enum StatusDecision: Sendable, Equatable {
    case granted
    case waitlisted(position: Int)
}

extension Floor {
    public func user(_ name: String) throws(RPCError) -> UserState {
        guard let user = users[name] else { throw .unknown("user", name) }
        return user
    }

    public func team(_ name: String) throws(RPCError) -> TeamState {
        guard let team = teams[name] else { throw .unknown("team", name) }
        return team
    }

    /// The team exists and `user` belongs to it; admins see every team.
    public func requireMember(_ userName: String, of teamName: String) throws(RPCError) -> TeamState {
        let team = try team(teamName)
        let user = try user(userName)
        guard team.members.contains(userName) || user.role == .admin else {
            throw .forbidden("\(userName) is not a member of \(teamName)")
        }
        return team
    }

    /// The shortest limit for `status` among the user's teams: one person, one state, so the
    /// strictest team's rule is the one that holds.
    func limit(of status: Status, for user: UserState) -> Int64? {
        user.teams.compactMap { teams[$0]?.policy.limit(for: status) }.min() ?? status.defaultLimitSeconds
    }

    /// An agent or supervisor changes their own status. Coverage rules slot in here; for now
    /// every request is granted.
    public mutating func setOwnStatus(user name: String, _ request: StatusRequest, now: Timestamp) throws(RPCError)
        -> (StatusDecision, [Event])
    {
        let user = try user(name)
        guard user.role.hasStatus else { throw .forbidden("a \(user.role.rawValue) has no status of its own") }
        guard !user.teams.isEmpty else { throw .forbidden("\(name) is not a member of any team") }
        let events = try applyStatus(
            to: user, status: request.status, note: request.note, expectedSeconds: request.expectedSeconds,
            by: name, now: now)
        return (.granted, events)
    }

    /// A supervisor sets a member's status; always applied, recorded with `by`.
    public mutating func forceStatus(
        by supervisorName: String, target targetName: String, status: Status, note: String, now: Timestamp
    ) throws(RPCError) -> [Event] {
        let supervisor = try user(supervisorName)
        let target = try user(targetName)
        guard supervisor.role == .supervisor || supervisor.role == .admin else {
            throw .forbidden("only supervisors may force a status")
        }
        guard target.role.hasStatus else { throw .forbidden("a \(target.role.rawValue) has no status") }
        guard supervisor.role == .admin || !Set(supervisor.teams).isDisjoint(with: target.teams) else {
            throw .forbidden("\(targetName) is not in any of \(supervisorName)'s teams")
        }
        return try applyStatus(to: target, status: status, note: note, expectedSeconds: nil, by: supervisorName, now: now)
    }

    mutating func applyStatus(
        to user: UserState, status: Status, note: String, expectedSeconds: Int64?, by: String, now: Timestamp
    ) throws(RPCError) -> [Event] {
        if let expectedSeconds {
            guard let limit = limit(of: status, for: user) else {
                throw .invalidParam("expected_s", "\(status.rawValue) has no time limit, so no planned return")
            }
            guard expectedSeconds <= limit else {
                throw .invalidParam("expected_s", "expected_s must be at most the \(status.rawValue) limit (\(limit) s)")
            }
        }
        let previous = user.status
        let since = previous.status == status ? previous.since : now
        let expectedUntil: Timestamp? =
            if let expectedSeconds { now.adding(seconds: expectedSeconds) } else if previous.status == status {
                previous.expectedUntil
            } else { nil }
        let payload = EventPayload.status(
            user: user.name, status: status, note: note, since: since, expectedUntil: expectedUntil, by: by)
        return user.teams.sorted().map { emit(team: $0, payload, at: now) }
    }

    /// Announces a user's combined presence to each of their teams where it changed.
    public mutating func setPresence(user name: String, connected: Bool, now: Timestamp) -> [Event] {
        guard let user = users[name], user.role.hasStatus || user.role == .bot else { return [] }
        var events: [Event] = []
        for teamName in user.teams.sorted() {
            guard let team = teams[teamName], team.announcedConnected.contains(name) != connected else { continue }
            events.append(emit(team: teamName, .presence(user: name, connected: connected), at: now))
        }
        return events
    }

    public mutating func sendMessage(user name: String, team teamName: String, text: String, now: Timestamp)
        throws(RPCError) -> Event
    {
        let user = try user(name)
        guard user.role != .admin else { throw .forbidden("admins do not post to teams") }
        _ = try requireMember(name, of: teamName)
        let text = try TextRules.check(text, param: "text", maxScalars: TextRules.maxMessageScalars, allowEmpty: false)
        return emit(team: teamName, .message(user: name, text: text), at: now)
    }
}

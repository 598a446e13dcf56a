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

    /// The shortest value of a per-team setting among the user's teams: one person, one state,
    /// so the strictest team's rule is the one that holds.
    func strictest(_ user: UserState, _ value: (Policy) -> Int64?) -> Int64? {
        user.teams.compactMap { teams[$0].flatMap { value($0.policy) } }.min()
    }

    func limit(of status: Status, for user: UserState) -> Int64? {
        strictest(user) { $0.limit(for: status) } ?? status.defaultLimitSeconds
    }

    /// When the current status is due back: the planned return, else the status's limit.
    public func due(_ user: UserState) -> Timestamp? {
        let status = user.status.status
        return status.due(
            since: user.status.since, expectedUntil: user.status.expectedUntil,
            limits: user.teams.compactMap { teams[$0]?.policy.limit(for: status) })
    }

    /// An agent or supervisor changes their own status (SPEC §3). A wellbeing break is always
    /// granted and alerts the supervisors; an agent's other moves away from the phones pass the
    /// coverage rules, or wait in the team's queue when `queue` is set, or are denied.
    public mutating func setOwnStatus(user name: String, _ request: StatusRequest, now: Timestamp)
        throws(RPCError) -> (StatusDecision, [Event])
    {
        let user = try user(name)
        guard user.role.hasStatus else { throw .forbidden("\(user.role.rawValue) users have no status of their own") }
        guard !user.teams.isEmpty else { throw .forbidden("\(name) is not a member of any team") }
        try checkPlannedReturn(request.expectedSeconds, of: request.reason == .abusiveCall ? .onBreak : request.status, for: user)
        if request.reason == .abusiveCall {
            let already = user.status.status == .onBreak && user.status.reason == .abusiveCall
            var events = try applyStatus(
                to: user, status: .onBreak, note: request.note, expectedSeconds: request.expectedSeconds, by: name,
                reason: .abusiveCall, now: now)
            events += leaveWaitlists(name, now: now)
            // One alert per wellbeing break, not one per update of its note.
            for team in user.teams.sorted() where !already {
                events.append(
                    raiseAlert(
                        team: team, kind: .wellbeingBreak, severity: .critical, user: name, reason: .abusiveCall,
                        text: "\(name) ended an abusive call and is taking a recovery break", now: now))
            }
            return (.granted, events)
        }
        var request = request
        // Updating the note or planned return of the current status changes no figure: no rule applies.
        let unchanged = request.status == user.status.status
        if !unchanged, let denial = check(name, to: request.status, now: now) {
            guard request.queue else { throw denial.rpcError }
            return try enqueue(name, request, in: denial.team, now: now)
        }
        // Taking a held slot with a bare request applies what the agent queued for.
        if let held = heldRequest(for: name, now: now), held.status == request.status, request.note.isEmpty,
            request.expectedSeconds == nil
        {
            request.note = held.note
            request.expectedSeconds = held.expectedSeconds
        }
        var events = try applyStatus(
            to: user, status: request.status, note: request.note, expectedSeconds: request.expectedSeconds, by: name,
            reason: nil, now: now)
        if request.status != .available && request.status != .afterCallWork {
            events += leaveWaitlists(name, now: now)
        }
        return (.granted, events)
    }

    /// `expected_s` needs a status with a limit, and stays within it (checked before any rule, so
    /// a bad value is a bad param, not a denial).
    func checkPlannedReturn(_ expectedSeconds: Int64?, of status: Status, for user: UserState) throws(RPCError) {
        guard let expectedSeconds else { return }
        guard let limit = limit(of: status, for: user) else {
            throw .invalidParam("expected_s", "\(status.rawValue) has no time limit, so no planned return")
        }
        guard expectedSeconds <= limit else {
            throw .invalidParam("expected_s", "expected_s must be at most the \(status.rawValue) limit (\(limit) s)")
        }
    }

    /// A supervisor sets a member's status; always applied, recorded with `by`.
    public mutating func forceStatus(
        by supervisorName: String, target targetName: String, status: Status, note: String, now: Timestamp
    ) throws(RPCError) -> [Event] {
        let supervisor = try user(supervisorName)
        // The role first: an agent must not learn from the error which user names exist.
        guard supervisor.role == .supervisor || supervisor.role == .admin else {
            throw .forbidden("only supervisors may force a status")
        }
        let target = try user(targetName)
        guard target.role.hasStatus else { throw .forbidden("\(target.role.rawValue) users have no status") }
        guard supervisor.role == .admin || !Set(supervisor.teams).isDisjoint(with: target.teams) else {
            throw .forbidden("\(targetName) is not in any of \(supervisorName)'s teams")
        }
        var events = try applyStatus(
            to: target, status: status, note: note, expectedSeconds: nil, by: supervisorName, reason: nil, now: now)
        if status != .available && status != .afterCallWork { events += leaveWaitlists(targetName, now: now) }
        return events
    }

    /// The system's own changes (timers): after-call work running out, a ghost session.
    mutating func systemStatus(_ user: UserState, _ status: Status, now: Timestamp) -> [Event] {
        (try? applyStatus(to: user, status: status, note: "", expectedSeconds: nil, by: "system", reason: nil, now: now))
            ?? []
    }

    mutating func applyStatus(
        to user: UserState, status: Status, note: String, expectedSeconds: Int64?, by: String, reason: StatusReason?,
        now: Timestamp
    ) throws(RPCError) -> [Event] {
        try checkPlannedReturn(expectedSeconds, of: status, for: user)
        let previous = user.status
        let same = previous.status == status
        let since = same ? previous.since : now
        let expectedUntil: Timestamp? =
            if let expectedSeconds { now.adding(seconds: expectedSeconds) } else if same { previous.expectedUntil } else {
                nil
            }
        let change = StatusEvent(
            user: user.name, status: status, note: note, since: since, expectedUntil: expectedUntil, by: by,
            reason: reason ?? (same ? previous.reason : nil))
        return user.teams.sorted().map { emit(team: $0, .status(change), at: now) }
    }

    /// Announces a user's combined presence to each of their teams where it changed.
    public mutating func setPresence(user name: String, connected: Bool, now: Timestamp) -> [Event] {
        // Bots are not members of the floor: their connections are not announced.
        guard let user = users[name], user.role.hasStatus else { return [] }
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

import HuddleProtocol

extension Status {
    /// Break and lunch share `max_on_break`.
    public var isBreak: Bool { self == .onBreak || self == .lunch }
}

/// One team's coverage counts: agents `available` with a live session, agents on break or lunch.
struct CoverageCounts: Sendable, Equatable {
    var available = 0
    var onBreak = 0
    /// Of the available ones, those on a call (ringing, talking or on hold).
    var onCall = 0
}

extension [String: CoverageCounts] {
    /// `user`'s status moves from `old` to `new`: their teams' counts follow.
    mutating func move(_ user: UserState, from old: Status, to new: Status, live: Bool) {
        guard user.role == .agent, old != new else { return }
        let available = (new == .available ? 1 : 0) - (old == .available ? 1 : 0)
        let onBreak = (new.isBreak ? 1 : 0) - (old.isBreak ? 1 : 0)
        for team in user.teams {
            if live { self[team]?.available += available }
            if live && user.phone.call != nil { self[team]?.onCall += available }
            self[team]?.onBreak += onBreak
        }
    }

    /// `user`'s call began (`onCall`) or ended.
    mutating func call(_ user: UserState, onCall: Bool, live: Bool) {
        guard user.role == .agent, live, user.status.status == .available, (user.phone.call != nil) != onCall else { return }
        for team in user.teams { self[team]?.onCall += onCall ? 1 : -1 }
    }

    /// `user` gained their first live session or lost their last.
    mutating func setLive(_ user: UserState, _ isLive: Bool) {
        guard user.role == .agent, user.status.status == .available else { return }
        for team in user.teams {
            self[team]?.available += isLive ? 1 : -1
            if user.phone.call != nil { self[team]?.onCall += isLive ? 1 : -1 }
        }
    }
}

extension Floor {
    /// Whether `name` counts on the phones: an agent, `available`, with a live session.
    func counts(_ name: String) -> Bool {
        guard let user = users[name] else { return false }
        return user.role == .agent && user.status.status == .available && live.contains(name)
    }

    /// A team's counts from its members, one by one: what the index holds, when it is current.
    func countMembers(of team: TeamState) -> CoverageCounts {
        var counts = CoverageCounts()
        for name in team.members {
            guard let user = users[name], user.role == .agent else { continue }
            if user.status.status == .available && live.contains(name) {
                counts.available += 1
                if user.phone.call != nil { counts.onCall += 1 }
            }
            if user.status.status.isBreak { counts.onBreak += 1 }
        }
        return counts
    }

    /// The coverage index, counted anew when stale, taken out of the floor so that the caller
    /// holds the only copy while it edits `users` or `teams` (which drops the floor's own), and
    /// puts it back when done.
    mutating func takeCoverageIndex() -> [String: CoverageCounts] {
        let index = coverageIndex ?? teams.mapValues(countMembers)
        coverageIndex = nil
        return index
    }

    /// The figures last announced for a team, recorded without an event (a folded announcement).
    mutating func setAnnouncedCoverage(_ figures: CoverageFigures, of teamName: String, at: Timestamp) {
        let index = takeCoverageIndex()
        teams[teamName]?.announce(figures, at: at)
        coverageIndex = index
    }

    /// The agents the policy requires available right now.
    public func required(for team: TeamState) -> (Int, CoverageFigures.RequiredFrom?) {
        switch team.policy.minAvailable {
        case .fixed(let n):
            return (Int(n), nil)
        case .auto:
            let floor = Int(team.policy.shrinkageFloor)
            guard let (needed, from) = team.erlang else { return (floor, nil) }
            return (max(floor, needed), from)
        }
    }

    /// Coverage counts agents who are `available` AND have a live session (`live`).
    public func coverage(of teamName: String) -> CoverageFigures? {
        guard let team = teams[teamName] else { return nil }
        let counts = coverageIndex?[teamName] ?? countMembers(of: team)
        let (required, from) = required(for: team)
        return CoverageFigures(
            available: counts.available, required: required, onBreak: counts.onBreak,
            maxOnBreak: Int(team.policy.maxOnBreak), onCall: counts.onCall, requiredFrom: from)
    }

    /// Announces the team's coverage when a figure or the state changed since the last announcement.
    public mutating func refreshCoverage(of teamName: String, now: Timestamp) -> Event? {
        guard let figures = coverage(of: teamName), teams[teamName]?.coverage != figures else { return nil }
        return emit(team: teamName, .coverage(figures), at: now)
    }
}

/// Why a request to leave `available` is not granted, with the figures before the change.
public struct CoverageDenial: Sendable, Equatable, Error {
    public enum Rule: String, Sendable {
        case nodeOutage = "node_outage"
        case queuePressure = "queue_pressure"
        case minAvailable = "min_available"
        case maxOnBreak = "max_on_break"

        /// SPEC §3: when several rules fail, the one reported is the first of these.
        var precedence: Int {
            switch self {
            case .nodeOutage: 0
            case .queuePressure: 1
            case .minAvailable: 2
            case .maxOnBreak: 3
            }
        }
    }

    public var team: String
    public var rule: Rule
    public var figures: CoverageFigures
    public var queue: JSONValue?
    /// Slots held for others on the waitlist, which count as taken.
    public var held: Int = 0

    public var rpcError: RPCError {
        var data: [String: JSONValue] = [
            "rule": .string(rule.rawValue), "team": .string(team), "available": .int(Int64(figures.available)),
            "required": .int(Int64(figures.required)), "on_break": .int(Int64(figures.onBreak)),
            "max_on_break": .int(Int64(figures.maxOnBreak)),
        ]
        if let queue { data["queue"] = queue }
        if held > 0 { data["held"] = .int(Int64(held)) }
        let heldNote = held > 0 ? " (\(held) held for the waitlist)" : ""
        let message: String =
            switch rule {
            case .nodeOutage: "not granted: a network node is out"
            case .queuePressure: "not granted: the queue is under pressure"
            case .minAvailable:
                "not granted: \(Self.agents(figures.required)) must stay available and \(Self.are(figures.available))"
            case .maxOnBreak:
                "not granted: \(Self.agents(figures.maxOnBreak)) may be on break at once and \(Self.are(figures.onBreak))"
            }
        return RPCError(.deniedByCoverage, message + heldNote, data: .object(data))
    }

    static func agents(_ n: Int) -> String { n == 1 ? "1 agent" : "\(n) agents" }
    static func are(_ n: Int) -> String { n == 1 ? "1 is" : "\(n) are" }
}

extension Floor {
    /// The coverage rules of SPEC §3 for `name` moving to `target` in one team. Slots held for
    /// others on the waitlist count as taken; the user's own hold does not stand in their way.
    /// Returns nil when the move is allowed.
    public func check(_ name: String, to target: Status, in teamName: String, now: Timestamp) -> CoverageDenial?
    {
        guard let team = teams[teamName], let user = users[name], user.role == .agent else { return nil }
        let gated: Bool
        switch target {
        case .onBreak, .lunch, .meeting, .training, .admin: gated = true
        case .available, .afterCallWork, .offline: gated = false
        }
        guard gated, let figures = coverage(of: teamName) else { return nil }
        let holds = team.waitlist.filter { entry in
            entry.user != name && (entry.holdUntil.map { $0 > now } ?? false)
        }
        let deny = { (rule: CoverageDenial.Rule) in
            CoverageDenial(team: teamName, rule: rule, figures: figures, queue: team.queue?.denialJSON, held: holds.count)
        }
        if team.nodeOutage { return deny(.nodeOutage) }
        // SPEC §3: while the queue is under pressure no new break or lunch is granted, held or not
        // (the hold runs on; the agent keeps their place at the head of the list).
        if target.isBreak && team.queuePressure { return deny(.queuePressure) }
        // A slot held for this agent was reserved for them against the staffing figures.
        if team.waitlist.contains(where: { $0.user == name && $0.status == target && ($0.holdUntil.map { $0 > now } ?? false) }) {
            return nil
        }

        var availableAfter = figures.available - (counts(name) ? 1 : 0)
        availableAfter -= holds.filter { counts($0.user) }.count
        if availableAfter < figures.required { return deny(.minAvailable) }
        if target.isBreak {
            var onBreakAfter = figures.onBreak + (user.status.status.isBreak ? 0 : 1)
            onBreakAfter += holds.filter { $0.status.isBreak && !(users[$0.user]?.status.status.isBreak ?? false) }.count
            if onBreakAfter > figures.maxOnBreak { return deny(.maxOnBreak) }
        }
        return nil
    }

    /// The refusal to report when the user's teams refuse the move: SPEC §3's order of rules
    /// holds across teams too (an outage in one team is named before a full break room in
    /// another); between teams refusing by the same rule, the first by name.
    public func check(_ name: String, to target: Status, now: Timestamp) -> CoverageDenial? {
        var worst: CoverageDenial?
        for team in (users[name]?.teams ?? []).sorted() {
            guard let denial = check(name, to: target, in: team, now: now) else { continue }
            if worst.map({ denial.rule.precedence < $0.rule.precedence }) ?? true { worst = denial }
        }
        return worst
    }
}

import HuddleProtocol

public struct UserState: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var teams: [String]
    public var status: StatusRecord
    /// The `since` of the status period that already raised `overdue_status`, so it alerts once.
    public var overdueAlertedSince: Timestamp?
    /// What a phone-system bridge says of the agent's phone (SPEC §10).
    public var phone: PhoneState
    /// The name the phone system knows them by (`huddled user set NAME --phone-id ID`); an
    /// admin fact like the role, not the event log's.
    public var phoneID: String?

    public init(
        name: String, role: Role, teams: [String], status: StatusRecord, overdueAlertedSince: Timestamp? = nil,
        phone: PhoneState = .unknown, phoneID: String? = nil
    ) {
        self.name = name
        self.role = role
        self.teams = teams
        self.status = status
        self.overdueAlertedSince = overdueAlertedSince
        self.phone = phone
        self.phoneID = phoneID
    }
}

public struct TeamState: Sendable {
    public var name: String
    /// Changes whenever the history could not be kept (a recreated or restored database).
    public var epoch: String
    /// Last seq of each stream.
    public var seq: Int64
    public var supervisorsSeq: Int64
    public var policy: Policy
    /// Members by name (all roles); bots are members but not shown on the floor.
    public var members: Set<String>
    /// The presence last announced to the team (what `presence` events said).
    public var announcedConnected: Set<String>
    /// The break queue, first come first served.
    public var waitlist: [WaitlistEntry]
    /// The coverage figures last announced (`coverage` events).
    public var coverage: CoverageFigures?
    /// Since when the announced coverage has been `breach` (the clock of `coverage_breach`).
    public var breachSince: Timestamp?
    /// Alerts not yet acknowledged, by id.
    public var openAlerts: [Int64: Alert]
    /// Wellbeing alerts that already escalated (so each escalates once).
    public var escalatedAlerts: Set<Int64> = []
    /// The latest queue report's pressure and node outage (set by queue reports).
    public var queuePressure: Bool
    public var nodeOutage: Bool
    /// The latest queue report.
    public var queue: QueueReport?
    /// When the policy in force was set (the clock of `queue_report_missing` before any report).
    public var policySince: Timestamp?
    /// When `queue_report_missing` was last raised (once per silence, even if acknowledged).
    public var missingReportRaisedAt: Timestamp?
    /// Who reports the queue next when agents do (SPEC §14): the open request and the rota.
    public var rota = QueueReportRota()
    /// The Erlang C figure for the latest report and the policy's service level, computed when
    /// either changes rather than at every coverage count.
    public var erlang: (Int, CoverageFigures.RequiredFrom)?

    /// Recomputes the cached Erlang figure; only an `auto` minimum uses it. Public for the store,
    /// which rebuilds teams from their stored report and policy at start.
    public mutating func updateErlang() {
        guard case .auto = policy.minAvailable, let report = queue, let calls = report.callsPerHour, let aht = report.ahtSeconds,
            let needed = ErlangC.agentsRequired(
                callsPerHour: calls, ahtSeconds: aht, target: policy.serviceLevelTarget,
                withinSeconds: Double(policy.serviceLevelWithinS))
        else {
            erlang = nil
            return
        }
        erlang = (needed, .init(callsPerHour: calls, ahtSeconds: aht, target: policy.serviceLevelTarget, withinSeconds: policy.serviceLevelWithinS))
    }

    public init(
        name: String, epoch: String, seq: Int64 = 0, supervisorsSeq: Int64 = 0, policy: Policy = Policy(),
        members: Set<String> = [], announcedConnected: Set<String> = [], waitlist: [WaitlistEntry] = [],
        coverage: CoverageFigures? = nil, openAlerts: [Int64: Alert] = [:], queuePressure: Bool = false,
        nodeOutage: Bool = false
    ) {
        self.name = name
        self.epoch = epoch
        self.seq = seq
        self.supervisorsSeq = supervisorsSeq
        self.policy = policy
        self.members = members
        self.announcedConnected = announcedConnected
        self.waitlist = waitlist
        self.coverage = coverage
        self.openAlerts = openAlerts
        self.queuePressure = queuePressure
        self.nodeOutage = nodeOutage
    }

    /// Takes announced figures made at `at`: the breach clock starts when the team enters
    /// breach and stops when it leaves it, whatever moved the figures.
    mutating func announce(_ figures: CoverageFigures, at: Timestamp) {
        if figures.state != .breach {
            breachSince = nil
        } else if coverage?.state != .breach || breachSince == nil {
            breachSince = at
        }
        coverage = figures
    }

    public func lastSeq(_ stream: EventStream) -> Int64 {
        stream == .team ? seq : supervisorsSeq
    }
}

/// The whole floor: every user and team. A value: the server keeps one copy that follows what
/// is committed and one that runs ahead with changes waiting for their commit.
public struct Floor: Sendable {
    /// Direct edits (building or reloading a floor) drop the coverage index; the floor's own
    /// changes keep it up to date.
    public var users: [String: UserState] { didSet { coverageIndex = nil } }
    public var teams: [String: TeamState] { didSet { coverageIndex = nil } }
    /// Alert ids are unique across teams.
    public var lastAlertID: Int64
    /// Users with at least one live session: what coverage counts. Not an event-log fact: the
    /// server sets it as sessions come and go (`setLive`), in both of its floors.
    public var live: Set<String> { didSet { coverageIndex = nil } }
    /// Each team's coverage counts, so that a decision does not walk every member (it is asked
    /// several times per status change). Nil when stale: counted again on first use.
    var coverageIndex: [String: CoverageCounts]?

    public init(
        users: [String: UserState] = [:], teams: [String: TeamState] = [:], lastAlertID: Int64 = 0, live: Set<String> = []
    ) {
        self.users = users
        self.teams = teams
        self.lastAlertID = lastAlertID
        self.live = live
    }

    /// Applies a committed (or about to be committed) event: the single way state changes.
    public mutating func apply(_ event: Event) {
        guard let slot = teams.index(forKey: event.team) else { return }
        var index = takeCoverageIndex()
        defer { coverageIndex = index }
        switch event.stream {
        case .team: teams.values[slot].seq = max(teams.values[slot].seq, event.seq)
        case .supervisors: teams.values[slot].supervisorsSeq = max(teams.values[slot].supervisorsSeq, event.seq)
        }
        switch event.payload {
        case .status(let change):
            guard let user = users[change.user] else { break }
            index.move(user, from: user.status.status, to: change.status, live: live.contains(user.name))
            users[change.user]?.status = change.record
        case .call(let change):
            guard let user = users[change.user] else { break }
            index.call(user, onCall: change.call != nil, live: live.contains(user.name))
            users[change.user]?.phone.call = change.call
            if let ended = change.ended { users[change.user]?.phone.endedCall = ended }
        case let .phone(user, loggedIn):
            if users[user]?.phone.loggedIn != loggedIn {
                users[user]?.phone.loggedIn = loggedIn
                users[user]?.phone.loggedInSince = event.at
            }
        case let .presence(user, connected):
            if connected {
                teams.values[slot].announcedConnected.insert(user)
            } else {
                teams.values[slot].announcedConnected.remove(user)
            }
        case .message:
            break
        case let .policy(version, _, _, policy):
            teams.values[slot].policy = policy
            teams.values[slot].policy.version = version
            teams.values[slot].policySince = event.at
            teams.values[slot].updateErlang()
            // Back to bots (or no interval): the open request is withdrawn; the rota is kept.
            if policy.queueReportBy != .agents || policy.queueReportEveryS == nil { teams.values[slot].rota.request = nil }
        case .queue(let report):
            // Any accepted report answers the open request, whoever gave it.
            teams.values[slot].rota.request = nil
            teams.values[slot].queue = report
            teams.values[slot].queuePressure = report.pressure
            teams.values[slot].nodeOutage = report.nodeOutage
            teams.values[slot].updateErlang()
        case .coverage(let figures):
            teams.values[slot].announce(figures, at: event.at)
        case .waitlist(let entries):
            teams.values[slot].waitlist = entries
        case let .waitlistReady(user, _, holdUntil):
            if let entry = teams.values[slot].waitlist.firstIndex(where: { $0.user == user }) {
                teams.values[slot].waitlist[entry].holdUntil = holdUntil
            }
        case .alert(let alert):
            teams.values[slot].openAlerts[alert.id] = alert
            lastAlertID = max(lastAlertID, alert.id)
            if let user = alert.user {
                switch alert.kind {
                case .overdueStatus: users[user]?.overdueAlertedSince = alert.statusSince
                case .longHold: users[user]?.phone.holdAlertedSince = alert.statusSince
                case .phoneStillLoggedIn: users[user]?.phone.logoutAlertedSince = alert.statusSince
                default: break
                }
            }
            if let escalated = alert.escalates { teams.values[slot].escalatedAlerts.insert(escalated) }
            if alert.kind == .queueReportMissing { teams.values[slot].missingReportRaisedAt = alert.createdAt }
        case .notice(let status):
            teams.values[slot].openAlerts[status.alert]?.note(status)
        case .queueReportAsked(let ask):
            teams.values[slot].rota.asked(ask, at: event.at)
        case let .alertAck(id, _, _, _):
            teams.values[slot].openAlerts[id] = nil
            teams.values[slot].escalatedAlerts.remove(id)
        }
    }

    /// Numbers a new event in its stream, applies it, and returns it.
    public mutating func emit(team: String, _ payload: EventPayload, at time: Timestamp) -> Event {
        let seq = (teams[team]?.lastSeq(payload.stream) ?? 0) + 1
        let event = Event(team: team, seq: seq, at: time, payload: payload)
        apply(event)
        return event
    }

    /// How long after `name`'s last session ends their presence turns false: the shortest grace
    /// among their teams (the policy's default for a user in none).
    public func presenceGrace(of name: String) -> Int64 {
        users[name]?.teams.compactMap { teams[$0]?.policy.presenceGraceS }.min() ?? Policy().presenceGraceS
    }

    /// A user's first live session began, or their last one ended.
    public mutating func setLive(_ name: String, _ isLive: Bool) {
        guard live.contains(name) != isLive else { return }
        var index = takeCoverageIndex()
        defer { coverageIndex = index }
        if isLive { live.insert(name) } else { live.remove(name) }
        if let user = users[name] { index.setLive(user, isLive) }
    }
}

extension Floor: Equatable {
    /// The coverage index follows from the other fields, so it takes no part in equality.
    public static func == (a: Floor, b: Floor) -> Bool {
        a.users == b.users && a.teams == b.teams && a.lastAlertID == b.lastAlertID && a.live == b.live
    }
}

extension Floor {
    /// Takes users, roles, teams and memberships from `loaded` (an admin change made in the
    /// database, possibly by another process) while keeping what the event log owns here:
    /// statuses, seqs, policies, waitlists, alerts and announced presence of what already existed.
    public mutating func reconcileStructure(with loaded: Floor) {
        var users: [String: UserState] = [:]
        for (name, fresh) in loaded.users {
            var user = self.users[name] ?? fresh
            user.role = fresh.role
            user.teams = fresh.teams
            user.phoneID = fresh.phoneID
            users[name] = user
        }
        var teams: [String: TeamState] = [:]
        for (name, fresh) in loaded.teams {
            var team = self.teams[name] ?? fresh
            team.members = fresh.members
            team.announcedConnected.formIntersection(fresh.members)
            teams[name] = team
        }
        self.users = users
        self.teams = teams
    }
}

extension TeamState: Equatable {
    /// The cached Erlang figure follows from the other fields, so it takes no part in equality.
    public static func == (a: TeamState, b: TeamState) -> Bool {
        a.name == b.name && a.epoch == b.epoch && a.seq == b.seq && a.supervisorsSeq == b.supervisorsSeq
            && a.policy == b.policy && a.members == b.members && a.announcedConnected == b.announcedConnected
            && a.waitlist == b.waitlist && a.coverage == b.coverage && a.breachSince == b.breachSince
            && a.openAlerts == b.openAlerts
            && a.escalatedAlerts == b.escalatedAlerts && a.queuePressure == b.queuePressure
            && a.nodeOutage == b.nodeOutage && a.queue == b.queue && a.policySince == b.policySince
            && a.missingReportRaisedAt == b.missingReportRaisedAt && a.rota == b.rota
    }
}

import HuddleProtocol

/// One person's current status. Status is per user: one person is in one state at a time,
/// whatever team they are seen in.
public struct StatusRecord: Sendable, Equatable {
    public var status: Status
    public var note: String
    public var since: Timestamp
    public var expectedUntil: Timestamp?
    public var by: String
    /// Only for supervisors' eyes (a wellbeing break).
    public var reason: StatusReason?

    public init(
        status: Status, note: String, since: Timestamp, expectedUntil: Timestamp?, by: String,
        reason: StatusReason? = nil
    ) {
        self.status = status
        self.note = note
        self.since = since
        self.expectedUntil = expectedUntil
        self.by = by
        self.reason = reason
    }

    public static func initial(at time: Timestamp) -> StatusRecord {
        StatusRecord(status: .offline, note: "", since: time, expectedUntil: nil, by: "system")
    }
}

public struct UserState: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var teams: [String]
    public var status: StatusRecord
    /// The `since` of the status period that already raised `overdue_status`, so it alerts once.
    public var overdueAlertedSince: Timestamp?

    public init(name: String, role: Role, teams: [String], status: StatusRecord, overdueAlertedSince: Timestamp? = nil) {
        self.name = name
        self.role = role
        self.teams = teams
        self.status = status
        self.overdueAlertedSince = overdueAlertedSince
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

    public func lastSeq(_ stream: EventStream) -> Int64 {
        stream == .team ? seq : supervisorsSeq
    }
}

/// The whole floor: every user and team. A value: the server keeps one copy that follows what
/// is committed and one that runs ahead with changes waiting for their commit.
public struct Floor: Sendable, Equatable {
    public var users: [String: UserState]
    public var teams: [String: TeamState]
    /// Alert ids are unique across teams.
    public var lastAlertID: Int64

    public init(users: [String: UserState] = [:], teams: [String: TeamState] = [:], lastAlertID: Int64 = 0) {
        self.users = users
        self.teams = teams
        self.lastAlertID = lastAlertID
    }

    /// Applies a committed (or about to be committed) event: the single way state changes.
    public mutating func apply(_ event: Event) {
        guard var team = teams[event.team] else { return }
        switch event.stream {
        case .team: team.seq = max(team.seq, event.seq)
        case .supervisors: team.supervisorsSeq = max(team.supervisorsSeq, event.seq)
        }
        switch event.payload {
        case .status(let change):
            users[change.user]?.status = StatusRecord(
                status: change.status, note: change.note, since: change.since, expectedUntil: change.expectedUntil,
                by: change.by, reason: change.reason)
        case let .presence(user, connected):
            if connected {
                team.announcedConnected.insert(user)
            } else {
                team.announcedConnected.remove(user)
            }
        case .message:
            break
        case let .policy(version, _, _, policy):
            team.policy = policy
            team.policy.version = version
            team.policySince = event.at
            team.updateErlang()
        case .queue(let report):
            team.queue = report
            team.queuePressure = report.pressure
            team.nodeOutage = report.nodeOutage
            team.updateErlang()
        case .coverage(let figures):
            team.coverage = figures
        case .waitlist(let entries):
            team.waitlist = entries
        case let .waitlistReady(user, _, holdUntil):
            if let index = team.waitlist.firstIndex(where: { $0.user == user }) {
                team.waitlist[index].holdUntil = holdUntil
            }
        case .alert(let alert):
            team.openAlerts[alert.id] = alert
            lastAlertID = max(lastAlertID, alert.id)
            if alert.kind == .overdueStatus, let user = alert.user {
                users[user]?.overdueAlertedSince = alert.statusSince
            }
            if let escalated = alert.escalates { team.escalatedAlerts.insert(escalated) }
            if alert.kind == .queueReportMissing { team.missingReportRaisedAt = alert.createdAt }
        case let .alertAck(id, _, _, _):
            team.openAlerts[id] = nil
            team.escalatedAlerts.remove(id)
        }
        teams[event.team] = team
    }

    /// Numbers a new event in its stream, applies it, and returns it.
    public mutating func emit(team: String, _ payload: EventPayload, at time: Timestamp) -> Event {
        let seq = (teams[team]?.lastSeq(payload.stream) ?? 0) + 1
        let event = Event(team: team, seq: seq, at: time, payload: payload)
        apply(event)
        return event
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
            && a.waitlist == b.waitlist && a.coverage == b.coverage && a.openAlerts == b.openAlerts
            && a.escalatedAlerts == b.escalatedAlerts && a.queuePressure == b.queuePressure
            && a.nodeOutage == b.nodeOutage && a.queue == b.queue && a.policySince == b.policySince
            && a.missingReportRaisedAt == b.missingReportRaisedAt
    }
}

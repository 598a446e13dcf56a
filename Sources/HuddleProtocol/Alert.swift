/// Alerts (SPEC §4): for supervisors and admins only.
public struct Alert: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case wellbeingBreak = "wellbeing_break"
        case coverageBreach = "coverage_breach"
        case overdueStatus = "overdue_status"
        case ghostSession = "ghost_session"
        case queuePressure = "queue_pressure"
        case nodeOutage = "node_outage"
        case queueReportMissing = "queue_report_missing"
        case escalation
        /// A customer on hold past `calls.hold_alert_after_s` (SPEC §10); closes when the hold ends.
        case longHold = "long_hold"
        /// An agent Offline whose phone is still logged in; closes at the logout or a new status.
        case phoneStillLoggedIn = "phone_still_logged_in"

        /// Kinds about the team as a whole (its coverage, its queue). The others concern one
        /// person (a wellbeing break, an overdue status, a ghost session, a long hold, a phone
        /// left logged in, or an escalation of one of these), and what they say stays between that person and the supervisors
        /// (SPEC §3): the unauthenticated `/metrics` counts only the team-wide kinds.
        public static let teamWide: [Kind] = [.coverageBreach, .queuePressure, .nodeOutage, .queueReportMissing]
    }

    public enum Severity: String, Sendable {
        case info
        case warning
        case critical
    }

    public struct Acknowledgment: Sendable, Equatable {
        public var by: String
        public var at: Timestamp
        public var note: String

        public init(by: String, at: Timestamp, note: String) {
            self.by = by
            self.at = at
            self.note = note
        }
    }

    public var id: Int64
    public var kind: Kind
    public var severity: Severity
    public var team: String
    public var user: String?
    public var reason: StatusReason?
    public var text: String
    public var createdAt: Timestamp
    /// For status alerts: the `since` of the status it is about, so each period alerts once.
    public var statusSince: Timestamp?
    /// For an escalation: the alert it escalates.
    public var escalates: Int64?
    public var acknowledgment: Acknowledgment?
    /// What became of its notices (SPEC §12), one per target, by target id.
    public var notices: [NoticeStatus] = []

    public init(
        id: Int64, kind: Kind, severity: Severity, team: String, user: String? = nil, reason: StatusReason? = nil,
        text: String, createdAt: Timestamp, statusSince: Timestamp? = nil, escalates: Int64? = nil,
        acknowledgment: Acknowledgment? = nil
    ) {
        self.id = id
        self.kind = kind
        self.severity = severity
        self.team = team
        self.user = user
        self.reason = reason
        self.text = text
        self.createdAt = createdAt
        self.statusSince = statusSince
        self.escalates = escalates
        self.acknowledgment = acknowledgment
    }

    var eventFields: [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "alert": .int(id), "kind": .string(kind.rawValue), "severity": .string(severity.rawValue),
            "text": .string(text), "created_at": createdAt.json,
        ]
        if let user { fields["user"] = .string(user) }
        if let reason { fields["reason"] = .string(reason.rawValue) }
        if let escalates { fields["escalates"] = .int(escalates) }
        return fields
    }

    /// An open alert as a supervisor's snapshot lists it (`notices` once there are any).
    public var snapshotJSON: JSONValue {
        var object = eventFields
        object["team"] = .string(team)
        if !notices.isEmpty { object["notices"] = .array(notices.map(\.json)) }
        return .object(object)
    }

    /// Takes a notice's new outcome (one entry per target).
    public mutating func note(_ status: NoticeStatus) { notices.note(status) }
}

/// What became of an alert's notice to one target (SPEC §12): the `notice` event, and the
/// `notices` of an alert in a snapshot. Only the alert's own notice (raised or escalated) is
/// followed; its acknowledgment's is not shown.
public struct NoticeStatus: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        /// A try failed; more follow.
        case retrying
        case delivered
        /// 24 h of tries, or the receiver answered 410 Gone.
        case givenUp = "given_up"
    }

    public var alert: Int64
    public var target: Int64
    /// `slack`, `teams` or `json`.
    public var format: String
    public var outcome: Outcome

    public init(alert: Int64, target: Int64, format: String, outcome: Outcome) {
        self.alert = alert
        self.target = target
        self.format = format
        self.outcome = outcome
    }

    /// As a snapshot's alert lists it.
    public var json: JSONValue {
        ["target": .int(target), "format": .string(format), "outcome": .string(outcome.rawValue)]
    }

    public init?(json: JSONValue, alert: Int64) {
        guard let target = json["target"]?.intValue, let format = json["format"]?.stringValue,
            let outcome = json["outcome"]?.stringValue.flatMap(Outcome.init(rawValue:))
        else { return nil }
        self.init(alert: alert, target: target, format: format, outcome: outcome)
    }
}

extension [NoticeStatus] {
    /// One entry per target, in target order: a new outcome replaces the target's last one
    /// (the floor's alerts and the client's board keep them the same way).
    public mutating func note(_ status: NoticeStatus) {
        removeAll { $0.target == status.target }
        append(status)
        sort { $0.target < $1.target }
    }
}

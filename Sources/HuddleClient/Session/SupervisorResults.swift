import HuddleProtocol

/// One place on a team's break queue, as a snapshot lists it: `{user, status, since, hold_until?}`.
public struct WaitlistPlace: Sendable, Equatable {
    public var user: String
    /// Nil for a status this client does not know; `statusName` has it as sent.
    public var status: Status?
    public var statusName: String
    public var since: Timestamp?
    /// Set while the slot is held for this agent.
    public var holdUntil: Timestamp?

    public init(user: String, status: Status, since: Timestamp?, holdUntil: Timestamp? = nil) {
        self.user = user
        self.status = status
        self.statusName = status.rawValue
        self.since = since
        self.holdUntil = holdUntil
    }

    public init?(json: JSONValue) {
        guard let user = json["user"]?.stringValue, let statusName = json["status"]?.stringValue else { return nil }
        self.user = user
        self.statusName = statusName
        self.status = Status(rawValue: statusName)
        self.since = json["since"]?.stringValue.flatMap { Timestamp(rfc3339: $0) }
        self.holdUntil = json["hold_until"]?.stringValue.flatMap { Timestamp(rfc3339: $0) }
    }

    public var statusLabel: String { status?.label ?? statusName }
}

/// An open alert of a supervisor's snapshot:
/// `{alert, kind, severity, team, user?, reason?, text, created_at, escalates?}`.
public struct OpenAlert: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var severity: String
    public var team: String
    public var user: String?
    public var reason: String?
    public var text: String
    public var createdAt: Timestamp?
    /// For an escalation: the alert it escalates.
    public var escalates: Int64?
    /// What became of its notices to chat and webhooks (SPEC §12).
    public var notices: [NoticeStatus]

    public init(
        id: Int64, kind: String, severity: String, team: String, user: String? = nil, reason: String? = nil,
        text: String, createdAt: Timestamp?, escalates: Int64? = nil, notices: [NoticeStatus] = []
    ) {
        self.id = id
        self.kind = kind
        self.severity = severity
        self.team = team
        self.user = user
        self.reason = reason
        self.text = text
        self.createdAt = createdAt
        self.escalates = escalates
        self.notices = notices
    }

    public init(_ alert: Alert) {
        self.init(
            id: alert.id, kind: alert.kind.rawValue, severity: alert.severity.rawValue, team: alert.team,
            user: alert.user, reason: alert.reason?.rawValue, text: alert.text, createdAt: alert.createdAt,
            escalates: alert.escalates, notices: alert.notices)
    }

    /// `slack delivered, json retrying`; empty without notices.
    public var noticeSummary: String {
        notices.map { "\($0.format) \($0.outcome == .givenUp ? "given up" : $0.outcome.rawValue)" }.joined(separator: ", ")
    }

    /// `team` fills in for an entry that does not name its team.
    public init?(json: JSONValue, team: String? = nil) {
        guard let id = json["alert"]?.intValue, let kind = json["kind"]?.stringValue else { return nil }
        self.init(
            id: id, kind: kind, severity: json["severity"]?.stringValue ?? "", team: json["team"]?.stringValue ?? team ?? "",
            user: json["user"]?.stringValue, reason: json["reason"]?.stringValue, text: json["text"]?.stringValue ?? "",
            createdAt: json["created_at"]?.stringValue.flatMap { Timestamp(rfc3339: $0) },
            escalates: json["escalates"]?.intValue,
            notices: (json["notices"]?.arrayValue ?? []).compactMap { NoticeStatus(json: $0, alert: id) })
    }
}

/// One version of a team's policy: `{version, at, by, comment, policy}`.
public struct PolicyVersion: Sendable, Equatable {
    public var version: Int64
    public var at: Timestamp?
    public var by: String
    public var comment: String
    /// The whole policy in force from this version on, as the wire shows it.
    public var policy: JSONValue

    public init(version: Int64, at: Timestamp?, by: String, comment: String, policy: JSONValue) {
        self.version = version
        self.at = at
        self.by = by
        self.comment = comment
        self.policy = policy
    }

    public init?(json: JSONValue) {
        guard let version = json["version"]?.intValue, let policy = json["policy"], policy.objectValue != nil else {
            return nil
        }
        self.init(
            version: version, at: json["at"]?.stringValue.flatMap { Timestamp(rfc3339: $0) },
            by: json["by"]?.stringValue ?? "", comment: json["comment"]?.stringValue ?? "", policy: policy)
    }
}

/// The answer to `policy.history`, oldest version first.
public struct PolicyHistory: Sendable, Equatable {
    public var versions: [PolicyVersion]
    public var raw: JSONValue

    public init(json: JSONValue) throws(UnexpectedAnswer) {
        versions = try UnexpectedAnswer.list("versions", of: json, answering: .policyHistory)
            .compactMap(PolicyVersion.init(json:)).sorted { $0.version < $1.version }
        raw = json
    }
}

/// One row of `report.time_in_status`: `{user, status, seconds, count, overruns}`.
public struct ReportRow: Sendable, Equatable {
    public var user: String
    public var status: Status?
    public var statusName: String
    public var seconds: Int64
    public var count: Int64
    public var overruns: Int64

    public var statusLabel: String { status?.label ?? statusName }
}

// The initializers live here so that the memberwise one (`status` and `statusName` apart) stays.
extension ReportRow {
    public init(user: String, status: Status, seconds: Int64, count: Int64, overruns: Int64) {
        self.init(
            user: user, status: status, statusName: status.rawValue, seconds: seconds, count: count, overruns: overruns)
    }

    public init?(json: JSONValue) {
        guard let user = json["user"]?.stringValue, let statusName = json["status"]?.stringValue,
            let seconds = json["seconds"]?.intValue
        else { return nil }
        self.init(
            user: user, status: Status(rawValue: statusName), statusName: statusName, seconds: seconds,
            count: json["count"]?.intValue ?? 0, overruns: json["overruns"]?.intValue ?? 0)
    }
}

/// The answer to `report.time_in_status`.
public struct StatusTimeReport: Sendable, Equatable {
    public var rows: [ReportRow]
    public var raw: JSONValue

    public init(json: JSONValue) throws(UnexpectedAnswer) {
        rows = try UnexpectedAnswer.list("rows", of: json, answering: .reportTimeInStatus).compactMap(ReportRow.init(json:))
        raw = json
    }
}

extension JoinResult {
    /// The team's break queue, head first.
    public var waitlist: [WaitlistPlace] {
        (snapshot["waitlist"]?.arrayValue ?? []).compactMap(WaitlistPlace.init(json:))
    }

    /// The open alerts, oldest first; nil when the snapshot has none to show (not a supervisor).
    public var alerts: [OpenAlert]? {
        snapshot["alerts"]?.arrayValue.map { list in
            list.compactMap { OpenAlert(json: $0, team: team) }.sorted { $0.id < $1.id }
        }
    }

    public var coverage: CoverageFigures? {
        snapshot["coverage"].flatMap(CoverageFigures.init(json:))
    }
}

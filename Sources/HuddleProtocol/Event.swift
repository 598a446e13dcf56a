/// The two ordered streams of a team (SPEC §5).
public enum EventStream: String, Sendable, Hashable, CaseIterable {
    case team
    case supervisors
}

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

/// A status change as the team sees it: whose, and the status they are in from now on. `reason`
/// is kept for supervisors and never encoded on the team stream. The record's fields read
/// directly (`change.status`, `change.note`) through dynamic member lookup.
@dynamicMemberLookup
public struct StatusEvent: Sendable, Equatable {
    public var user: String
    public var record: StatusRecord

    public subscript<Value>(dynamicMember field: KeyPath<StatusRecord, Value>) -> Value { record[keyPath: field] }
}

extension StatusEvent {
    public init(
        user: String, status: Status, note: String, since: Timestamp, expectedUntil: Timestamp?, by: String,
        reason: StatusReason? = nil
    ) {
        let record = StatusRecord(
            status: status, note: note, since: since, expectedUntil: expectedUntil, by: by, reason: reason)
        self.init(user: user, record: record)
    }
}

/// What happened, in the shape the wire shows. Each case names its stream.
public enum EventPayload: Sendable, Equatable {
    case status(StatusEvent)
    case presence(user: String, connected: Bool)
    case message(user: String, text: String)
    case policy(version: Int64, by: String, comment: String, policy: Policy)
    case coverage(CoverageFigures)
    case waitlist([WaitlistEntry])
    case waitlistReady(user: String, status: Status, holdUntil: Timestamp)
    case alert(Alert)
    case alertAck(alert: Int64, by: String, note: String, at: Timestamp)
    case queue(QueueReport)
    /// An agent's call began, changed or ended (from a phone-system bridge, SPEC §10).
    case call(CallEvent)
    /// An agent's phone logged in or out; for supervisors, who are told of a forgotten logout.
    case phone(user: String, loggedIn: Bool)
    /// An alert's notice was delivered, is being retried, or was given up (SPEC §12).
    case notice(NoticeStatus)
    /// The daemon asked an agent for the queue report (SPEC §14), or could ask nobody.
    case queueReportAsked(QueueReportAsk)

    public var stream: EventStream {
        switch self {
        case .status, .presence, .message, .policy, .coverage, .waitlist, .waitlistReady, .queue, .call: .team
        case .alert, .alertAck, .phone, .notice, .queueReportAsked: .supervisors
        }
    }

    public var type: String {
        switch self {
        case .status: "status"
        case .presence: "presence"
        case .message: "message"
        case .policy: "policy"
        case .coverage: "coverage"
        case .waitlist: "waitlist"
        case .waitlistReady: "waitlist_ready"
        case .alert: "alert"
        case .alertAck: "alert_ack"
        case .queue: "queue"
        case .call: "call"
        case .phone: "phone"
        case .notice: "notice"
        case .queueReportAsked: "queue_report_asked"
        }
    }

    /// The user the event concerns, for indexing and reports.
    public var user: String? {
        switch self {
        case .status(let change): change.user
        case .presence(let user, _), .message(let user, _), .waitlistReady(let user, _, _), .phone(let user, _): user
        case .call(let call): call.user
        case .alert(let alert): alert.user
        case .queueReportAsked(let ask): ask.user
        case .policy, .coverage, .waitlist, .alertAck, .queue, .notice: nil
        }
    }

    func fields(at time: Timestamp) -> [String: JSONValue] {
        switch self {
        case .status(let change):
            var f: [String: JSONValue] = [
                "user": .string(change.user), "status": .string(change.status.rawValue), "note": .string(change.note),
                "since": change.since.json, "by": .string(change.by),
            ]
            if let until = change.expectedUntil { f["expected_until"] = until.json }
            return f
        case let .presence(user, connected):
            return ["user": .string(user), "connected": .bool(connected)]
        case let .message(user, text):
            return ["user": .string(user), "text": .string(text)]
        case let .policy(version, by, comment, policy):
            return ["version": .int(version), "by": .string(by), "comment": .string(comment), "policy": policy.json]
        case .coverage(let figures):
            return figures.json.objectValue ?? [:]
        case .waitlist(let entries):
            return ["users": .array(entries.map(\.eventJSON))]
        case let .waitlistReady(user, status, holdUntil):
            return ["user": .string(user), "status": .string(status.rawValue), "hold_until": holdUntil.json]
        case .alert(let alert):
            return alert.eventFields
        case let .alertAck(alert, by, note, _):
            return ["alert": .int(alert), "by": .string(by), "note": .string(note)]
        case .queue(let report):
            return report.eventFields
        case .call(let call):
            return call.fields(at: time)
        case let .phone(user, loggedIn):
            return ["user": .string(user), "logged_in": .bool(loggedIn)]
        case .notice(let status):
            guard case .object(var fields) = status.json else { return [:] }
            fields["alert"] = .int(status.alert)
            return fields
        case .queueReportAsked(let ask):
            return ask.fields
        }
    }
}

/// A stored, numbered event of one team's stream.
public struct Event: Sendable, Equatable {
    public var team: String
    public var seq: Int64
    public var at: Timestamp
    public var payload: EventPayload

    public init(team: String, seq: Int64, at: Timestamp, payload: EventPayload) {
        self.team = team
        self.seq = seq
        self.at = at
        self.payload = payload
    }

    public var stream: EventStream { payload.stream }

    /// The notification's params: `{team, stream, seq, at, type, ...}`.
    public var params: JSONValue {
        var object = payload.fields(at: at)
        object["team"] = .string(team)
        object["stream"] = .string(stream.rawValue)
        object["seq"] = .int(seq)
        object["at"] = at.json
        object["type"] = .string(payload.type)
        return .object(object)
    }

    /// The whole notification line, newline included: what is stored and sent. The events of
    /// every status change are written field by field (`EventLine`); the rarer kinds go through
    /// `params`. Both write the same bytes.
    public func encodedLine() -> [UInt8] {
        EventLine.encode(self) ?? RPCFrame.notification("event", params)
    }

    /// The encoded `params` object of a stored event line (the line as `encodedLine` wrote it,
    /// without its newline), or nil when the line is not of that shape.
    public static func params(ofStoredLine line: [UInt8]) -> ArraySlice<UInt8>? {
        guard line.count > storedLinePrefix.count + 1, line.starts(with: storedLinePrefix), line.last == UInt8(ascii: "}")
        else { return nil }
        return line[storedLinePrefix.count..<(line.count - 1)]
    }

    private static let storedLinePrefix = Array(#"{"jsonrpc":"2.0","method":"event","params":"#.utf8)
}

/// Method names of protocol v1.
public enum Method: String, Sendable, CaseIterable {
    case hello = "session.hello"
    case ping = "session.ping"
    case bye = "session.bye"
    case teamJoin = "team.join"
    case teamLeave = "team.leave"
    case statusSet = "status.set"
    case statusForce = "status.force"
    case waitlistCancel = "waitlist.cancel"
    case messageSend = "message.send"
    case queueReport = "queue.report"
    case alertAck = "alert.ack"
    case policyGet = "policy.get"
    case policySet = "policy.set"
    case policyHistory = "policy.history"
    case historyFetch = "history.fetch"
    case reportTimeInStatus = "report.time_in_status"
    case phoneUpdate = "phone.update"
    case reportCalls = "report.calls"
}

/// Reasons of `session.closing`.
public enum ClosingReason: String, Sendable {
    case lineTooLong = "line_too_long"
    case slowReader = "slow_reader"
    case heartbeatTimeout = "heartbeat_timeout"
    case authTimeout = "auth_timeout"
    case shutdown
    case tokenRevoked = "token_revoked"
}

public enum ProtocolVersion {
    public static let current: Int64 = 1
    public static let server = "huddled/0.1.0"
}

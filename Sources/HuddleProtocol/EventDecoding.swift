/// One meaning per event: the wire form of an event (`Event.params`, the notification's params
/// and every stored line) read back into the typed `Event`, so that the store's reports, the
/// client's board and the CLI agree with the server on what an event says instead of each
/// matching on type strings and field names of its own.
///
/// The wire shows some things only in part, and those stay at their defaults when read back:
/// an alert's `statusSince`, a waitlist entry's note and planned minutes, and a call's id and
/// the start of its mute. Everything the wire
/// does carry survives: `Event(params: e.params).params == e.params` for every event (tested).
public struct EventDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var type: String
    public var field: String

    public var description: String { "a \(type) event without a valid \(field)" }
}

extension Event {
    /// Reads `{team, stream, seq, at, type, ...}` as `params` writes it.
    public init(params p: JSONValue) throws(EventDecodingError) {
        let type = p["type"]?.stringValue ?? "?"
        func fail(_ field: String) -> EventDecodingError { EventDecodingError(type: type, field: field) }
        func string(_ key: String) throws(EventDecodingError) -> String {
            guard let value = p[key]?.stringValue else { throw fail(key) }
            return value
        }
        func int(_ key: String) throws(EventDecodingError) -> Int64 {
            guard let value = p[key]?.intValue else { throw fail(key) }
            return value
        }
        func time(_ key: String) throws(EventDecodingError) -> Timestamp {
            guard let value = p[key]?.stringValue.flatMap(Timestamp.init(rfc3339:)) else { throw fail(key) }
            return value
        }
        func optionalTime(_ key: String) throws(EventDecodingError) -> Timestamp? {
            guard let value = p[key], value != .null else { return nil }
            guard let time = value.stringValue.flatMap(Timestamp.init(rfc3339:)) else { throw fail(key) }
            return time
        }
        func status(_ key: String) throws(EventDecodingError) -> Status {
            guard let value = p[key]?.stringValue.flatMap(Status.init(rawValue:)) else { throw fail(key) }
            return value
        }

        let team = try string("team")
        let seq = try int("seq")
        let at = try time("at")
        let payload: EventPayload
        switch type {
        case "status":
            payload = .status(
                StatusEvent(
                    user: try string("user"),
                    record: StatusRecord(
                        status: try status("status"), note: try string("note"), since: try time("since"),
                        expectedUntil: try optionalTime("expected_until"), by: try string("by"))))
        case "presence":
            guard let connected = p["connected"]?.boolValue else { throw fail("connected") }
            payload = .presence(user: try string("user"), connected: connected)
        case "message":
            payload = .message(user: try string("user"), text: try string("text"))
        case "policy":
            guard let value = p["policy"], var policy = try? Policy.decode(value) else { throw fail("policy") }
            let version = try int("version")
            policy.version = version
            payload = .policy(version: version, by: try string("by"), comment: try string("comment"), policy: policy)
        case "coverage":
            guard let figures = CoverageFigures(json: p) else { throw fail("available") }
            payload = .coverage(figures)
        case "waitlist":
            guard let users = p["users"]?.arrayValue else { throw fail("users") }
            var entries: [WaitlistEntry] = []
            for user in users {
                guard let name = user["user"]?.stringValue, let wanted = user["status"]?.stringValue.flatMap(Status.init),
                    let since = user["since"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
                else { throw fail("users") }
                entries.append(WaitlistEntry(user: name, status: wanted, since: since))
            }
            payload = .waitlist(entries)
        case "waitlist_ready":
            payload = .waitlistReady(user: try string("user"), status: try status("status"), holdUntil: try time("hold_until"))
        case "alert":
            guard let kind = p["kind"]?.stringValue.flatMap(Alert.Kind.init) else { throw fail("kind") }
            guard let severity = p["severity"]?.stringValue.flatMap(Alert.Severity.init) else { throw fail("severity") }
            var reason: StatusReason?
            if let raw = p["reason"]?.stringValue {
                guard let known = StatusReason(rawValue: raw) else { throw fail("reason") }
                reason = known
            }
            payload = .alert(
                Alert(
                    id: try int("alert"), kind: kind, severity: severity, team: team, user: p["user"]?.stringValue,
                    reason: reason, text: try string("text"), createdAt: try time("created_at"),
                    escalates: p["escalates"]?.intValue))
        case "alert_ack":
            payload = .alertAck(alert: try int("alert"), by: try string("by"), note: try string("note"), at: at)
        case "queue":
            guard let report = QueueReport(json: p) else { throw fail("calls_waiting") }
            payload = .queue(report)
        case "call":
            guard let state = p["state"]?.stringValue.flatMap(CallState.init(rawValue:)) else { throw fail("state") }
            guard let muted = p["muted"]?.boolValue else { throw fail("muted") }
            let since = try time("since")
            // The wire carries no call id: a call read back is told apart by its user alone.
            let call = state == .none ? nil : CallRecord(id: "", state: state, since: since, muted: muted)
            payload = .call(CallEvent(user: try string("user"), call: call, endedAt: call == nil ? since : nil))
        case "phone":
            guard let loggedIn = p["logged_in"]?.boolValue else { throw fail("logged_in") }
            payload = .phone(user: try string("user"), loggedIn: loggedIn)
        case "notice":
            guard let status = NoticeStatus(json: p, alert: try int("alert")) else { throw fail("outcome") }
            payload = .notice(status)
        case "queue_report_asked":
            guard let ask = QueueReportAsk(fields: p) else { throw fail("request_at") }
            payload = .queueReportAsked(ask)
        default:
            throw fail("type")
        }
        guard p["stream"]?.stringValue == payload.stream.rawValue else { throw fail("stream") }
        self.init(team: team, seq: seq, at: at, payload: payload)
    }

    /// Reads a stored event line (the notification `encodedLine` wrote).
    public init(storedLine line: [UInt8]) throws(EventDecodingError) {
        guard let params = try? JSONParser.parse(line)["params"] else {
            throw EventDecodingError(type: "?", field: "params")
        }
        try self.init(params: params)
    }
}

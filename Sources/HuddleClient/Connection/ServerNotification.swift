import HuddleProtocol

/// One `event` notification: the common fields decoded, everything else left in `params`.
public struct EventNotification: Sendable, Equatable {
    public var team: String
    public var stream: EventStream
    public var seq: Int64
    public var type: String
    /// Nil only if the server sent a time this client cannot read.
    public var at: Timestamp?
    /// The whole params object, common fields included.
    public var params: JSONValue
    /// The event as the server means it (`Event(params:)`, the reading the server's own store
    /// uses), or why this client cannot read it: a type, status or alert kind of a newer server.
    /// What shows events (the board, `huddle watch`) works from this, and falls back to the
    /// wire form only for what a newer server may add.
    public let decoded: Result<Event, EventDecodingError>

    public init(team: String, stream: EventStream, seq: Int64, type: String, at: Timestamp?, params: JSONValue) {
        self.team = team
        self.stream = stream
        self.seq = seq
        self.type = type
        self.at = at
        self.params = params
        self.decoded = Result { () throws(EventDecodingError) in try Event(params: params) }
    }

    /// Reads `{team, stream, seq, at, type, ...}`; nil when a common field is missing or wrong.
    public init?(params: JSONValue) {
        guard let team = params["team"]?.stringValue,
            let streamName = params["stream"]?.stringValue, let stream = EventStream(rawValue: streamName),
            let seq = params["seq"]?.intValue,
            let type = params["type"]?.stringValue
        else { return nil }
        self.init(
            team: team, stream: stream, seq: seq, type: type,
            at: params["at"]?.stringValue.flatMap { Timestamp(rfc3339: $0) }, params: params)
    }

    public subscript(key: String) -> JSONValue? { params[key] }
}

/// Everything the server sends that is not the answer to one of this client's requests, in the
/// order it arrived.
public enum ServerNotification: Sendable, Equatable {
    case event(EventNotification)
    case heartbeat
    /// Params `{status, since, due, text}`.
    case reminder(JSONValue)
    /// The daemon asks this user for a team's queue report (SPEC §14).
    case queueReportDue(QueueReportDue)
    /// `session.closing`; the connection ends right after.
    case closing(reason: String)
    /// An error answer without a usable id, e.g. -32700 for a line the server could not parse.
    case orphanError(RPCError)
    /// An answer whose id matches no outstanding request: the answer to something sent with
    /// `sendRaw` (use string ids there; `request` numbers its own from 1), or one that came after
    /// its request was cancelled.
    case stray(id: RPCID, result: Result<JSONValue, RPCError>)
    /// A notification this client version does not know (or an `event` it could not read).
    case other(method: String, params: JSONValue)
    /// A line that is not a JSON-RPC message at all; kept so tests can see a misbehaving server.
    case unreadable([UInt8])

    init(method: String, params: JSONValue) {
        switch method {
        case "event":
            if let event = EventNotification(params: params) {
                self = .event(event)
            } else {
                self = .other(method: method, params: params)
            }
        case "heartbeat":
            self = .heartbeat
        case "reminder":
            self = .reminder(params)
        case "queue_report_due":
            if let due = QueueReportDue(params: params) {
                self = .queueReportDue(due)
            } else {
                self = .other(method: method, params: params)
            }
        case "session.closing":
            self = .closing(reason: params["reason"]?.stringValue ?? "unknown")
        default:
            self = .other(method: method, params: params)
        }
    }
}

/// `queue_report_due {team, due_by, asked_at}`: this user is asked for the team's queue report,
/// to be sent by `dueBy` (SPEC §14). A snapshot's `queue_report_request` that names the viewer
/// says the same after a reconnect.
public struct QueueReportDue: Sendable, Equatable {
    public var team: String
    public var dueBy: Timestamp
    public var askedAt: Timestamp

    public init(team: String, dueBy: Timestamp, askedAt: Timestamp) {
        self.team = team
        self.dueBy = dueBy
        self.askedAt = askedAt
    }

    public init?(params: JSONValue) {
        guard let team = params["team"]?.stringValue,
            let dueBy = params["due_by"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
            let askedAt = params["asked_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
        else { return nil }
        self.init(team: team, dueBy: dueBy, askedAt: askedAt)
    }

    /// The request a join's snapshot shows, when it is asked of `viewer`.
    public init?(join: JoinResult, viewer: String?) {
        guard let viewer, let request = join.snapshot["queue_report_request"].flatMap(QueueReportRequest.init(json:)),
            request.asked == viewer, let dueBy = request.dueBy
        else { return nil }
        self.init(team: join.team, dueBy: dueBy, askedAt: request.askedAt)
    }
}

/// Who reports the call queue (SPEC §14): bots (and supervisors) only, or the team's agents on a
/// rota, asked by the daemon every `queue_report_every_s`.
public enum QueueReportBy: String, Sendable, Equatable, CaseIterable {
    case bots
    case agents
}

/// The supervisors' event `queue_report_asked`: the daemon asked `user` for the queue report of
/// the request opened at `requestAt`, to be in by `dueBy`. A nil user means nobody could be
/// asked (no agent connected, Available and off a call); supervisors are told instead.
public struct QueueReportAsk: Sendable, Equatable {
    public enum Reason: String, Sendable, Equatable, CaseIterable {
        /// A new request: the rota's turn.
        case due
        /// The one asked before did not answer within `queue_report_grace_s`.
        case noAnswer = "no_answer"
        /// The one asked before went on a break, on a call, off the phones or away.
        case unavailable
        /// Nobody could be asked before; now someone can.
        case available
    }

    public var user: String?
    public var requestAt: Timestamp
    public var dueBy: Timestamp?
    public var reason: Reason

    public init(user: String?, requestAt: Timestamp, dueBy: Timestamp?, reason: Reason) {
        self.user = user
        self.requestAt = requestAt
        self.dueBy = dueBy
        self.reason = reason
    }

    var fields: [String: JSONValue] {
        [
            "user": user.map(JSONValue.string) ?? .null, "request_at": requestAt.json,
            "due_by": dueBy?.json ?? .null, "reason": .string(reason.rawValue),
        ]
    }

    init?(fields p: JSONValue) {
        guard let requestAt = p["request_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
            let reason = p["reason"]?.stringValue.flatMap(Reason.init(rawValue:))
        else { return nil }
        let user = p["user"]?.stringValue
        guard user != nil || p["user"] == .null else { return nil }
        var dueBy: Timestamp?
        if let value = p["due_by"], value != .null {
            guard let time = value.stringValue.flatMap(Timestamp.init(rfc3339:)) else { return nil }
            dueBy = time
        }
        self.init(user: user, requestAt: requestAt, dueBy: dueBy, reason: reason)
    }
}

/// A team's open request for a queue report, while `queue_report_by` is `agents`: opened at
/// `openedAt`, asked of `asked` (nil: nobody could be) at `askedAt`, due by `dueBy`. Everyone
/// asked for it (`everAsked`) may answer it; the first report closes it.
public struct QueueReportRequest: Sendable, Equatable {
    public var openedAt: Timestamp
    public var asked: String?
    public var askedAt: Timestamp
    public var dueBy: Timestamp?
    public var everAsked: Set<String>

    public init(openedAt: Timestamp, asked: String?, askedAt: Timestamp, dueBy: Timestamp?, everAsked: Set<String>) {
        self.openedAt = openedAt
        self.asked = asked
        self.askedAt = askedAt
        self.dueBy = dueBy
        self.everAsked = everAsked
    }

    /// As snapshots show it: `{user, asked_at, due_by, request_at}`.
    public var json: JSONValue {
        [
            "user": asked.map(JSONValue.string) ?? .null, "asked_at": askedAt.json, "due_by": dueBy?.json ?? .null,
            "request_at": openedAt.json,
        ]
    }

    /// Reads the snapshot's form (who else was asked is not shown there).
    public init?(json: JSONValue) {
        guard let openedAt = json["request_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
            let askedAt = json["asked_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
        else { return nil }
        let asked = json["user"]?.stringValue
        self.init(
            openedAt: openedAt, asked: asked, askedAt: askedAt,
            dueBy: json["due_by"]?.stringValue.flatMap(Timestamp.init(rfc3339:)), everAsked: asked.map { [$0] } ?? [])
    }
}

/// The rota of a team: the open request, and when each agent was last asked (the least
/// recently asked goes first). Stored with the team, so that a restart keeps both.
public struct QueueReportRota: Sendable, Equatable {
    public var request: QueueReportRequest?
    public var lastAsked: [String: Timestamp]

    public init(request: QueueReportRequest? = nil, lastAsked: [String: Timestamp] = [:]) {
        self.request = request
        self.lastAsked = lastAsked
    }

    public var isEmpty: Bool { request == nil && lastAsked.isEmpty }

    /// The stored form: times in milliseconds.
    public var storedJSON: JSONValue {
        var object: [String: JSONValue] = [
            "last_asked": .object(lastAsked.mapValues { .int($0.milliseconds) })
        ]
        if let request {
            object["request"] = [
                "opened_at": .int(request.openedAt.milliseconds), "asked": request.asked.map(JSONValue.string) ?? .null,
                "asked_at": .int(request.askedAt.milliseconds),
                "due_by": request.dueBy.map { .int($0.milliseconds) } ?? .null,
                "ever_asked": .array(request.everAsked.sorted().map(JSONValue.string)),
            ]
        }
        return .object(object)
    }

    public init?(stored json: JSONValue) {
        guard case .object(let asked)? = json["last_asked"] else { return nil }
        var lastAsked: [String: Timestamp] = [:]
        for (name, value) in asked {
            guard let ms = value.intValue else { return nil }
            lastAsked[name] = Timestamp(milliseconds: ms)
        }
        var request: QueueReportRequest?
        if let r = json["request"], r != .null {
            guard let opened = r["opened_at"]?.intValue, let askedAt = r["asked_at"]?.intValue,
                let ever = r["ever_asked"]?.arrayValue
            else { return nil }
            let everAsked = ever.compactMap(\.stringValue)
            guard everAsked.count == ever.count else { return nil }
            request = QueueReportRequest(
                openedAt: Timestamp(milliseconds: opened), asked: r["asked"]?.stringValue,
                askedAt: Timestamp(milliseconds: askedAt), dueBy: r["due_by"]?.intValue.map(Timestamp.init(milliseconds:)),
                everAsked: Set(everAsked))
        }
        self.init(request: request, lastAsked: lastAsked)
    }
}

import HuddleProtocol

/// The answer to `session.hello`.
public struct HelloResult: Sendable, Equatable {
    public var user: String
    /// Nil for a role this client does not know; `roleName` has it as sent.
    public var role: Role?
    public var roleName: String
    public var teams: [String]
    public var server: String
    public var protocolVersion: Int64
    public var heartbeatSeconds: Int64
    public var raw: JSONValue

    public init(json: JSONValue) throws(UnexpectedAnswer) {
        guard let user = json["user"]?.stringValue, let roleName = json["role"]?.stringValue,
            let teams = json["teams"]?.arrayValue
        else { throw UnexpectedAnswer(method: Method.hello.rawValue, detail: "user, role and teams are required") }
        self.user = user
        self.roleName = roleName
        self.role = Role(rawValue: roleName)
        self.teams = teams.compactMap(\.stringValue)
        self.server = json["server"]?.stringValue ?? ""
        self.protocolVersion = json["protocol"]?.intValue ?? 0
        self.heartbeatSeconds = json["heartbeat_s"]?.intValue ?? 15
        self.raw = json
    }
}

/// Where a client is in one team's two streams; `team.join` with it replays what came after.
public struct ReplayPosition: Sendable, Hashable {
    public var epoch: String
    public var seq: Int64
    /// Only for supervisors and admins, who read the supervisors' stream.
    public var supervisorsSeq: Int64?

    public init(epoch: String, seq: Int64, supervisorsSeq: Int64? = nil) {
        self.epoch = epoch
        self.seq = seq
        self.supervisorsSeq = supervisorsSeq
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["epoch": .string(epoch), "seq": .int(seq)]
        if let supervisorsSeq { object["supervisors_seq"] = .int(supervisorsSeq) }
        return .object(object)
    }

    public func seq(of stream: EventStream) -> Int64? {
        switch stream {
        case .team: seq
        case .supervisors: supervisorsSeq
        }
    }
}

/// One floor member of a snapshot: `{user, role, status, note, since, expected_until?, connected}`.
public struct Member: Sendable, Equatable {
    public var user: String
    public var role: String
    /// Nil for a status this client does not know; `statusName` has it as sent.
    public var status: Status?
    public var statusName: String
    public var note: String
    public var since: Timestamp?
    public var expectedUntil: Timestamp?
    public var connected: Bool
    /// The call a phone-system bridge reported (SPEC §10); its `id` is empty, as the wire has none.
    public var call: CallRecord? = nil
    /// Whether the phone is logged in; supervisors only, nil until a bridge has said.
    public var phoneLoggedIn: Bool? = nil

    /// The label for a known status, the wire name otherwise.
    public var statusLabel: String { status?.label ?? statusName }
}

// The initializers live here so that the memberwise one (`status` and `statusName` apart) stays.
extension Member {
    public init(
        user: String, role: String = "agent", status: Status, note: String = "", since: Timestamp?,
        expectedUntil: Timestamp? = nil, connected: Bool
    ) {
        self.init(
            user: user, role: role, status: status, statusName: status.rawValue, note: note, since: since,
            expectedUntil: expectedUntil, connected: connected)
    }

    public init?(json: JSONValue) {
        guard let user = json["user"]?.stringValue, let statusName = json["status"]?.stringValue else { return nil }
        self.init(
            user: user, role: json["role"]?.stringValue ?? "", status: Status(rawValue: statusName),
            statusName: statusName, note: json["note"]?.stringValue ?? "",
            since: json["since"]?.stringValue.flatMap { Timestamp(rfc3339: $0) },
            expectedUntil: json["expected_until"]?.stringValue.flatMap { Timestamp(rfc3339: $0) },
            connected: json["connected"]?.boolValue ?? false, call: Self.call(json["call"]),
            phoneLoggedIn: json["phone_logged_in"]?.boolValue)
    }

    /// A snapshot's `{state, since, muted}`; nil for null or a state this client does not know.
    static func call(_ json: JSONValue?) -> CallRecord? {
        guard let json, let state = json["state"]?.stringValue.flatMap(CallState.init(rawValue:)), state != .none,
            let since = json["since"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
        else { return nil }
        return CallRecord(id: "", state: state, since: since, muted: json["muted"]?.boolValue ?? false)
    }
}

/// The answer to `team.join`.
public struct JoinResult: Sendable, Equatable {
    public var team: String
    public var position: ReplayPosition
    /// True only when the events after `since` were replayed before this answer.
    public var recovered: Bool
    public var members: [Member]
    public var snapshot: JSONValue
    public var raw: JSONValue

    public init(team: String, json: JSONValue) throws(UnexpectedAnswer) {
        guard let epoch = json["epoch"]?.stringValue, let seq = json["seq"]?.intValue,
            let snapshot = json["snapshot"], snapshot.objectValue != nil
        else { throw UnexpectedAnswer(method: Method.teamJoin.rawValue, detail: "epoch, seq and snapshot are required") }
        self.team = team
        self.position = ReplayPosition(epoch: epoch, seq: seq, supervisorsSeq: json["supervisors_seq"]?.intValue)
        self.recovered = json["recovered"]?.boolValue ?? false
        self.members = (snapshot["members"]?.arrayValue ?? []).compactMap(Member.init(json:))
        self.snapshot = snapshot
        self.raw = json
    }
}

/// The answer to `status.set`.
public struct StatusSetResult: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        case granted
        /// On the team's waitlist; `position` counts from 1.
        case waitlisted(position: Int64?)
    }

    public var decision: Decision
    public var seq: Int64?
    /// The team whose waitlist the request joined (waitlisted answers only).
    public var team: String?
    public var raw: JSONValue

    public init(json: JSONValue) throws(UnexpectedAnswer) {
        switch json["decision"]?.stringValue {
        case "granted"?: decision = .granted
        case "waitlisted"?: decision = .waitlisted(position: json["position"]?.intValue)
        default: throw UnexpectedAnswer(method: Method.statusSet.rawValue, detail: "decision is missing")
        }
        seq = json["seq"]?.intValue
        team = json["team"]?.stringValue
        raw = json
    }
}

/// The `data` of a -32010 denial: which rule failed and the figures before the change.
public struct CoverageDenial: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        public var node: String
        public var city: String?
    }

    public var rule: String
    public var available: Int64?
    public var required: Int64?
    public var onBreak: Int64?
    public var maxOnBreak: Int64?
    public var callsWaiting: Int64?
    public var oldestWaitSeconds: Int64?
    public var nodesOut: [Node]

    public init(
        rule: String, available: Int64? = nil, required: Int64? = nil, onBreak: Int64? = nil,
        maxOnBreak: Int64? = nil, callsWaiting: Int64? = nil, oldestWaitSeconds: Int64? = nil, nodesOut: [Node] = []
    ) {
        self.rule = rule
        self.available = available
        self.required = required
        self.onBreak = onBreak
        self.maxOnBreak = maxOnBreak
        self.callsWaiting = callsWaiting
        self.oldestWaitSeconds = oldestWaitSeconds
        self.nodesOut = nodesOut
    }

    /// Nil unless the error is a -32010 with a rule.
    public init?(_ error: RPCError) {
        guard error.code == .deniedByCoverage, let data = error.data, let rule = data["rule"]?.stringValue else {
            return nil
        }
        let queue = data["queue"]
        self.init(
            rule: rule, available: data["available"]?.intValue, required: data["required"]?.intValue,
            onBreak: data["on_break"]?.intValue, maxOnBreak: data["max_on_break"]?.intValue,
            callsWaiting: queue?["calls_waiting"]?.intValue, oldestWaitSeconds: queue?["oldest_wait_s"]?.intValue,
            nodesOut: (queue?["nodes_out"]?.arrayValue ?? []).compactMap { value in
                if let name = value.stringValue { return Node(node: name, city: nil) }
                guard let name = value["node"]?.stringValue else { return nil }
                return Node(node: name, city: value["city"]?.stringValue)
            })
    }
}

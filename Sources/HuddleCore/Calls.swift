import HuddleProtocol

/// `phone.update` (SPEC §10) as a bridge sends it: `{user, logged_in?, call?}`.
public struct PhoneUpdate: Sendable, Equatable {
    /// What the update says of the call. No `call` key says nothing; `call: null` (or `ended`
    /// without an id) ends whatever call the agent is on; `{id, state: "ended"}` ends that call
    /// only. A live state without an id is for the call the agent is on, or starts one: for
    /// scripts and `huddle phone`, which do not know the phone system's ids.
    public enum Call: Sendable, Equatable {
        case unchanged
        case endedAny
        case ended(id: String)
        case live(id: String?, state: CallState, muted: Bool)
    }

    public var user: String
    public var loggedIn: Bool?
    public var call: Call
    /// When the phone system saw it (Amazon Connect's `EventTimestamp`): a state's `since`, so
    /// that a batch delivered a minute late still times the hold from its start. Never later
    /// than the daemon's now, never before the call's previous state.
    public var at: Timestamp?

    public init(user: String, loggedIn: Bool? = nil, call: Call = .unchanged, at: Timestamp? = nil) {
        self.user = user
        self.loggedIn = loggedIn
        self.call = call
        self.at = at
    }

    /// The longest call id taken: Amazon Connect's are UUIDs (36 characters).
    public static let maxCallIDLength = 128

    public init(params: Params) throws(RPCError) {
        user = try params.string("user")
        loggedIn = try params.optionalBool("logged_in")
        if let text = try params.optionalString("at") {
            guard let time = Timestamp(rfc3339: text) else { throw .invalidParam("at", "at must be an RFC 3339 time") }
            at = time
        } else {
            at = nil
        }
        switch params["call"] {
        case nil:
            call = .unchanged
        case .null?:
            call = .endedAny
        case .object(let object)?:
            let id: String?
            switch object["id"] {
            case nil, .null?:
                id = nil
            case .string(let text)? where !text.isEmpty && text.unicodeScalars.count <= Self.maxCallIDLength
                && text.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value < 0x7F }):
                id = text
            default:
                throw .invalidParam("call.id", "call.id must be 1 to \(Self.maxCallIDLength) printable ASCII characters")
            }
            let stateName = object["state"]?.stringValue ?? ""
            let muted: Bool
            switch object["muted"] {
            case nil, .null?: muted = false
            case .bool(let value)?: muted = value
            default: throw .invalidParam("call.muted", "call.muted must be true or false")
            }
            if stateName == "ended" {
                call = id.map { .ended(id: $0) } ?? .endedAny
            } else if let state = CallState(rawValue: stateName), state != .none {
                call = .live(id: id, state: state, muted: muted)
            } else {
                throw .invalidParam("call.state", "unknown call state '\(stateName)' (ringing, talking, on_hold or ended)")
            }
        default:
            throw .invalidParam("call", "call must be an object {id, state, muted?} or null")
        }
    }
}

/// What a phone-system bridge last said of an agent's phone, and which of its alerts were raised.
/// Stored with the user as one JSON object (`users.phone`), since the call's id and the start of
/// its mute are not in the `call` event.
public struct PhoneState: Sendable, Equatable {
    public var call: CallRecord? = nil
    /// The last call that ended, so that a late update for it starts nothing.
    public var endedCall: String? = nil
    /// Nil until a bridge says.
    public var loggedIn: Bool? = nil
    public var loggedInSince: Timestamp? = nil
    /// The hold that raised `long_hold` (its start), and the Offline-while-logged-in period that
    /// raised `phone_still_logged_in`, so that each alerts once.
    public var holdAlertedSince: Timestamp? = nil
    public var logoutAlertedSince: Timestamp? = nil

}

// Here, not in the struct, so that the memberwise initializer stays.
extension PhoneState {
    /// The stored form; times in milliseconds.
    public var json: JSONValue {
        var object: [String: JSONValue] = [:]
        if let call {
            var c: [String: JSONValue] = [
                "id": .string(call.id), "state": .string(call.state.rawValue), "since": .int(call.since.milliseconds),
                "muted": .bool(call.muted),
            ]
            if let mutedSince = call.mutedSince { c["muted_since"] = .int(mutedSince.milliseconds) }
            object["call"] = .object(c)
        }
        if let endedCall { object["ended_call"] = .string(endedCall) }
        if let loggedIn { object["logged_in"] = .bool(loggedIn) }
        for (key, time) in [
            ("logged_in_since", loggedInSince), ("hold_alerted_since", holdAlertedSince),
            ("logout_alerted_since", logoutAlertedSince),
        ] {
            if let time { object[key] = .int(time.milliseconds) }
        }
        return .object(object)
    }

    /// Reads the stored form; nil when it is not one.
    public init?(json: JSONValue) {
        guard json.objectValue != nil else { return nil }
        func time(_ value: JSONValue?) -> Timestamp? { value?.intValue.map(Timestamp.init(milliseconds:)) }
        self.init(
            endedCall: json["ended_call"]?.stringValue, loggedIn: json["logged_in"]?.boolValue,
            loggedInSince: time(json["logged_in_since"]), holdAlertedSince: time(json["hold_alerted_since"]),
            logoutAlertedSince: time(json["logout_alerted_since"]))
        if let c = json["call"] {
            guard let id = c["id"]?.stringValue, let state = c["state"]?.stringValue.flatMap(CallState.init(rawValue:)),
                state != .none, let since = time(c["since"]), let muted = c["muted"]?.boolValue
            else { return nil }
            call = CallRecord(id: id, state: state, since: since, muted: muted, mutedSince: time(c["muted_since"]))
        }
    }
}

extension PhoneState {
    /// Nothing said yet: no bridge has reported this agent's phone.
    public static var unknown: PhoneState { PhoneState() }
}

extension Floor {
    /// `phone.update`: a bridge (a bot of one of the agent's teams; a supervisor or admin, for
    /// tests) says what the agent's phone is doing. Repeating a state changes nothing; so does an
    /// update for a call that already ended, or an `ended` for a call Huddle does not know. A
    /// live call with a new id replaces the one before (a transfer or consult leg: the agent
    /// never left the phone, so no After Call Work between them).
    public mutating func updatePhone(by sender: String, _ update: PhoneUpdate, now: Timestamp) throws(RPCError)
        -> [Event]
    {
        let agent = try agent(update.user, reportedBy: sender)

        var events: [Event] = []
        if let loggedIn = update.loggedIn, agent.phone.loggedIn != loggedIn {
            for team in agent.teams.sorted() {
                events.append(emit(team: team, .phone(user: agent.name, loggedIn: loggedIn), at: now))
            }
            if !loggedIn {
                events += clearAlerts(.phoneStillLoggedIn, of: agent.name, note: "the phone logged out", now: now)
            }
        }
        var call = update.call
        // The phone cannot hold a call once it is logged out.
        if update.loggedIn == false, call == .unchanged { call = .endedAny }
        events += changeCall(of: agent.name, call, at: update.at, now: now)
        return events
    }

    mutating func changeCall(of name: String, _ update: PhoneUpdate.Call, at: Timestamp?, now: Timestamp) -> [Event] {
        guard let agent = users[name] else { return [] }
        let current = agent.phone.call
        switch update {
        case .unchanged:
            return []
        case .endedAny:
            guard let current else { return [] }
            return endCall(current, of: agent, at: at, now: now)
        case .ended(let id):
            guard let current, current.id == id else { return [] }
            return endCall(current, of: agent, at: at, now: now)
        case let .live(given, state, muted):
            let id = given ?? current?.id ?? "huddle-\(now.milliseconds)"
            guard id != agent.phone.endedCall else { return [] }
            let same = current?.id == id
            if same, current?.state == state, current?.muted == muted { return [] }
            let seen = max(min(at ?? now, now), same ? current?.since ?? .init(milliseconds: 0) : .init(milliseconds: 0))
            let record = CallRecord(
                id: id, state: state, since: same && current?.state == state ? current?.since ?? seen : seen,
                muted: muted, mutedSince: muted ? (same && current?.muted == true ? current?.mutedSince ?? seen : seen) : nil)
            let change = CallEvent(user: name, call: record, ended: same ? nil : current?.id)
            var events = agent.teams.sorted().map { emit(team: $0, .call(change), at: now) }
            if current?.state == .onHold && !(same && state == .onHold) {
                events += clearAlerts(.longHold, of: name, note: "the hold ended", now: now)
            }
            return events
        }
    }

    /// The call ended: the team sees `none`, a long hold's alert closes, and an agent still
    /// `available` is put in After Call Work by `system` when a team of theirs asks for it
    /// (`calls.acw_after_call`). An agent who took a wellbeing break is not `available`, so
    /// the break stands; one who takes it after this still gets it, as always.
    mutating func endCall(_ call: CallRecord, of agent: UserState, at: Timestamp?, now: Timestamp) -> [Event] {
        let change = CallEvent(user: agent.name, call: nil, ended: call.id, endedAt: max(min(at ?? now, now), call.since))
        var events = agent.teams.sorted().map { emit(team: $0, .call(change), at: now) }
        if call.state == .onHold {
            events += clearAlerts(.longHold, of: agent.name, note: "the hold ended", now: now)
        }
        let wrapUp = agent.teams.contains { teams[$0]?.policy.calls.acwAfterCall ?? false }
        if wrapUp, let user = users[agent.name], user.status.status == .available {
            events += systemStatus(user, .afterCallWork, now: now)
        }
        return events
    }

    /// The agent a bridge reports on: the sender is a bot (a supervisor or admin, for tests) and
    /// the user an agent of one of its teams. One answer for a name that does not exist and one
    /// outside the bridge's teams.
    func agent(_ name: String, reportedBy sender: String) throws(RPCError) -> UserState {
        let bridge = try user(sender)
        guard bridge.role == .bot || bridge.role == .supervisor || bridge.role == .admin else {
            throw .forbidden("phone updates come from bridges (bots)")
        }
        guard let agent = users[name], agent.role == .agent, !agent.teams.isEmpty,
            bridge.role == .admin || !Set(bridge.teams).isDisjoint(with: agent.teams)
        else { throw .forbidden("\(name) is not an agent of \(sender)'s teams") }
        return agent
    }

    /// Acknowledges, as `system`, the open alerts of a kind about one person, in all their teams.
    mutating func clearAlerts(_ kind: Alert.Kind, of name: String, note: String, now: Timestamp) -> [Event] {
        var events: [Event] = []
        for team in (users[name]?.teams ?? []).sorted() {
            let open = teams[team]?.openAlerts.values.filter { $0.kind == kind && $0.user == name } ?? []
            for alert in open.sorted(by: { $0.id < $1.id }) {
                events.append(emit(team: team, .alertAck(alert: alert.id, by: "system", note: note, at: now), at: now))
            }
        }
        return events
    }

    func hasOpenAlert(_ kind: Alert.Kind, about name: String) -> Bool {
        (users[name]?.teams ?? []).contains { team in
            teams[team]?.openAlerts.values.contains { $0.kind == kind && $0.user == name } ?? false
        }
    }

    /// A status the phone system set (an Amazon Connect agent status named like a Huddle
    /// status), mirrored by the bridge: the phone already did it, so no coverage rule applies,
    /// and a team it leaves in breach gets `coverage_breach` like any other breach (§12). The
    /// same status again changes nothing (the note stays).
    public mutating func mirrorStatus(by sender: String, user name: String, _ status: Status, now: Timestamp)
        throws(RPCError) -> [Event]
    {
        let agent = try agent(name, reportedBy: sender)
        guard agent.status.status != status else { return [] }
        var events = try applyStatus(to: agent, status: status, note: "", expectedSeconds: nil, by: sender, reason: nil, now: now)
        if status != .available && status != .afterCallWork { events += leaveWaitlists(name, now: now) }
        return events
    }
}

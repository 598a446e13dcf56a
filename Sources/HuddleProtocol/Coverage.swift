/// A team's coverage: agents on the phones against what the policy requires (SPEC §3, §5).
public struct CoverageFigures: Sendable, Equatable {
    public enum State: String, Sendable {
        case ok
        case atRisk = "at_risk"
        case breach
    }

    /// The inputs of an Erlang C figure, when `min_available` is `auto`.
    public struct RequiredFrom: Sendable, Equatable {
        public var callsPerHour: Double
        public var ahtSeconds: Double
        public var target: Double
        public var withinSeconds: Int64

        public init(callsPerHour: Double, ahtSeconds: Double, target: Double, withinSeconds: Int64) {
            self.callsPerHour = callsPerHour
            self.ahtSeconds = ahtSeconds
            self.target = target
            self.withinSeconds = withinSeconds
        }
    }

    public var available: Int
    public var required: Int
    public var onBreak: Int
    public var maxOnBreak: Int
    /// Of the available agents, how many are ringing, talking or on hold (SPEC §10).
    public var onCall: Int
    public var requiredFrom: RequiredFrom?

    public init(
        available: Int, required: Int, onBreak: Int, maxOnBreak: Int, onCall: Int = 0, requiredFrom: RequiredFrom? = nil
    ) {
        self.available = available
        self.required = required
        self.onBreak = onBreak
        self.maxOnBreak = maxOnBreak
        self.onCall = onCall
        self.requiredFrom = requiredFrom
    }

    /// Breach below the minimum; at risk when one more agent leaving would breach it.
    public var state: State {
        if available < required { return .breach }
        if required > 0 && available == required { return .atRisk }
        return .ok
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "available": .int(Int64(available)), "required": .int(Int64(required)), "on_break": .int(Int64(onBreak)),
            "max_on_break": .int(Int64(maxOnBreak)), "on_call": .int(Int64(onCall)), "state": .string(state.rawValue),
        ]
        if let from = requiredFrom {
            object["required_from"] = [
                "calls_per_hour": .double(from.callsPerHour), "aht_s": .double(from.ahtSeconds),
                "target": .double(from.target), "within_s": .int(from.withinSeconds),
            ]
        }
        return .object(object)
    }

    public init?(json: JSONValue) {
        guard let available = json["available"]?.intValue, let required = json["required"]?.intValue,
            let onBreak = json["on_break"]?.intValue, let maxOnBreak = json["max_on_break"]?.intValue
        else { return nil }
        // `on_call` is newer than the other figures: a stored event from before it had none.
        self.init(
            available: Int(available), required: Int(required), onBreak: Int(onBreak), maxOnBreak: Int(maxOnBreak),
            onCall: Int(json["on_call"]?.intValue ?? 0))
        if let from = json["required_from"], let calls = from["calls_per_hour"]?.doubleValue,
            let aht = from["aht_s"]?.doubleValue, let target = from["target"]?.doubleValue,
            let within = from["within_s"]?.intValue
        {
            requiredFrom = RequiredFrom(callsPerHour: calls, ahtSeconds: aht, target: target, withinSeconds: within)
        }
    }
}

/// One place in a team's break queue. `note` and `expectedSeconds` are what the agent asked for,
/// applied when they take the slot; `holdUntil` is set while the slot is held for them.
public struct WaitlistEntry: Sendable, Equatable {
    public var user: String
    public var status: Status
    public var since: Timestamp
    public var note: String
    public var expectedSeconds: Int64?
    public var holdUntil: Timestamp?

    public init(
        user: String, status: Status, since: Timestamp, note: String = "", expectedSeconds: Int64? = nil,
        holdUntil: Timestamp? = nil
    ) {
        self.user = user
        self.status = status
        self.since = since
        self.note = note
        self.expectedSeconds = expectedSeconds
        self.holdUntil = holdUntil
    }

    /// What the `waitlist` event shows of an entry.
    public var eventJSON: JSONValue {
        ["user": .string(user), "status": .string(status.rawValue), "since": since.json]
    }

    /// What a snapshot shows: the same, and the hold while there is one.
    public var snapshotJSON: JSONValue {
        var object: [String: JSONValue] = ["user": .string(user), "status": .string(status.rawValue), "since": since.json]
        if let holdUntil { object["hold_until"] = holdUntil.json }
        return .object(object)
    }

    /// Everything, for storage.
    public var storedJSON: JSONValue {
        var object: [String: JSONValue] = [
            "user": .string(user), "status": .string(status.rawValue), "since": .int(since.milliseconds),
            "note": .string(note),
        ]
        if let expectedSeconds { object["expected_s"] = .int(expectedSeconds) }
        if let holdUntil { object["hold_until"] = .int(holdUntil.milliseconds) }
        return .object(object)
    }

    public init?(stored json: JSONValue) {
        guard let user = json["user"]?.stringValue, let status = json["status"]?.stringValue.flatMap(Status.init),
            let since = json["since"]?.intValue
        else { return nil }
        self.init(
            user: user, status: status, since: Timestamp(milliseconds: since), note: json["note"]?.stringValue ?? "",
            expectedSeconds: json["expected_s"]?.intValue,
            holdUntil: json["hold_until"]?.intValue.map(Timestamp.init(milliseconds:)))
    }
}

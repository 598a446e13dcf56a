/// What an agent is doing on the phone, as the team sees it (SPEC §10). `none` is the state of
/// the `call` event that ends a call; an agent with no call shows `call: null` in a snapshot.
public enum CallState: String, Sendable, CaseIterable {
    case ringing
    case talking
    case onHold = "on_hold"
    case none
}

/// An agent's call in progress. The team sees `state`, `since` and `muted`; the phone system's
/// call id and the start of the mute stay in the daemon (stored with the user, never on the
/// wire): the id tells the bridge's next update for this call from one for another, and the
/// mute's start re-arms its reminder after a restart.
public struct CallRecord: Sendable, Equatable {
    public var id: String
    /// Never `none`: a call that ended is no record.
    public var state: CallState
    /// When this state began: a hold's start is when the bridge said so (Amazon Connect's
    /// `StateStartTimestamp` is not reliable for holds, SPEC §10).
    public var since: Timestamp
    public var muted: Bool
    public var mutedSince: Timestamp?

    public init(id: String, state: CallState, since: Timestamp, muted: Bool = false, mutedSince: Timestamp? = nil) {
        self.id = id
        self.state = state
        self.since = since
        self.muted = muted
        self.mutedSince = mutedSince
    }

    /// What a snapshot shows of it: `{state, since, muted}`.
    public var json: JSONValue {
        ["state": .string(state.rawValue), "since": since.json, "muted": .bool(muted)]
    }
}

/// The `call` event: an agent's call began, changed or ended. `call` is nil when it ended, and
/// `ended` then names the call that did (kept in the daemon so that a late update for it
/// changes nothing; never on the wire).
public struct CallEvent: Sendable, Equatable {
    public var user: String
    public var call: CallRecord?
    public var ended: String?
    /// When a call that ended did (the bridge's time); nil: the event's own time.
    public var endedAt: Timestamp?

    public init(user: String, call: CallRecord?, ended: String? = nil, endedAt: Timestamp? = nil) {
        self.user = user
        self.call = call
        self.ended = ended
        self.endedAt = endedAt
    }

    /// `{user, state, since, muted}`; an ended call is `state: none` since it ended.
    func fields(at time: Timestamp) -> [String: JSONValue] {
        [
            "user": .string(user), "state": .string(call?.state.rawValue ?? CallState.none.rawValue),
            "since": (call?.since ?? endedAt ?? time).json, "muted": .bool(call?.muted ?? false),
        ]
    }
}

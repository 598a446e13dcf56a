import HuddleProtocol

/// `report.calls` (SPEC §10): per agent over a period, the calls they were on, the seconds
/// talking and on hold, the longest hold and how many holds outlasted the check-in interval.
/// Computed from the team's stored `call` events alone, as `report.time_in_status` is from its
/// `status` events.
public enum CallReport {
    public struct Row: Sendable, Equatable {
        public var user: String
        public var calls = 0
        public var talkSeconds: Int64 = 0
        public var holdSeconds: Int64 = 0
        public var longestHoldSeconds: Int64 = 0
        public var holdsOverCheckin = 0

        public var json: JSONValue {
            [
                "user": .string(user), "calls": .int(Int64(calls)), "talk_s": .int(talkSeconds),
                "hold_s": .int(holdSeconds), "longest_hold_s": .int(longestHoldSeconds),
                "holds_over_checkin": .int(Int64(holdsOverCheckin)),
            ]
        }
    }

    /// A stored `call` event: when it was stored and what it said.
    public typealias Change = StoredChange<CallEvent>

    /// `changes` are the team's call events, oldest first. A call is a run of live states from
    /// one with no call before it to the next `none` (a second call id in between reads as the
    /// same call: the agent never left the phone). A state lasts from its `since` to the next
    /// state's (an ended call's `since` is when it ended); one still running lasts until `now`.
    /// Calls and holds count when they overlap [`from`, `to`]; seconds count within it; a hold
    /// is over the check-in when its whole length passed `checkin` (the policy in force when it
    /// began) and its length is whole, not only the part in the period.
    public static func compute(
        changes: [Change], checkin: (Timestamp) -> Int64, from: Timestamp, to: Timestamp, now: Timestamp
    ) -> [Row] {
        let windowEnd = min(to, now)
        var rows: [String: Row] = [:]
        var open: [String: (state: CallState, since: Timestamp, callSince: Timestamp)] = [:]

        func close(_ user: String, at end: Timestamp) {
            guard let state = open[user] else { return }
            var row = rows[user] ?? Row(user: user)
            let start = max(state.since, from)
            let stop = min(end, windowEnd)
            let inside = stop > start ? (stop.milliseconds - start.milliseconds) / 1000 : 0
            let overlaps = end > from && state.since < windowEnd
            switch state.state {
            case .talking: row.talkSeconds += inside
            case .onHold:
                row.holdSeconds += inside
                if overlaps {
                    let whole = end.seconds(since: state.since)
                    row.longestHoldSeconds = max(row.longestHoldSeconds, whole)
                    if whole > checkin(state.since) { row.holdsOverCheckin += 1 }
                }
            case .ringing, .none: break
            }
            if inside > 0 || overlaps { rows[user] = row }
        }

        func endCall(_ user: String, at end: Timestamp) {
            guard let state = open[user] else { return }
            if state.callSince < windowEnd && end > from {
                rows[user, default: Row(user: user)].calls += 1
            }
        }

        for change in changes {
            let user = change.event.user
            let since = change.event.call?.since ?? change.event.endedAt ?? change.at
            close(user, at: since)
            guard let call = change.event.call else {
                endCall(user, at: since)
                open[user] = nil
                continue
            }
            let callSince = open[user]?.callSince ?? since
            open[user] = (call.state, since, callSince)
        }
        for user in open.keys.sorted() {
            close(user, at: now)
            endCall(user, at: now)
        }
        return rows.values.sorted { $0.user < $1.user }
    }
}

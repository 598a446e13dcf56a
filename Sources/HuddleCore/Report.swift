import HuddleProtocol

/// A stored event of a report's kind: when it was stored and what it said.
public struct StoredChange<Event: Sendable & Equatable>: Sendable, Equatable {
    public var at: Timestamp
    public var event: Event

    public init(at: Timestamp, event: Event) {
        self.at = at
        self.event = event
    }
}

/// `report.time_in_status`: for each user and status, the seconds spent in it within a period,
/// how many status periods overlapped it, and how many of those outlasted their limit or
/// planned return. Computed from the event log alone.
public enum TimeInStatusReport {
    public struct Row: Sendable, Equatable {
        public var user: String
        public var status: Status
        public var seconds: Int64
        public var count: Int
        public var overruns: Int

        public var json: JSONValue {
            [
                "user": .string(user), "status": .string(status.rawValue), "seconds": .int(seconds),
                "count": .int(Int64(count)), "overruns": .int(Int64(overruns)),
            ]
        }
    }

    /// A stored status event: when it happened and what it said.
    public typealias Change = StoredChange<StatusEvent>

    /// `changes` are the team's status events, oldest first (those after `to` only tell when the
    /// periods open at `to` ended). `limit` gives the limit of a status under the policy in force
    /// at a time. Seconds count within [`from`, `to`]; a period still open now is judged an
    /// overrun against `now`.
    public static func compute(
        changes: [Change], limit: (Status, Timestamp) -> Int64?, from: Timestamp, to: Timestamp, now: Timestamp
    ) -> [Row] {
        struct Period {
            var status: Status
            var since: Timestamp
            var expectedUntil: Timestamp?
        }
        var periods: [String: [(Period, Timestamp?)]] = [:]  // user → periods with their end
        for change in changes {
            let event = change.event
            var list = periods[event.user] ?? []
            if let last = list.last, last.0.since == event.since, last.0.status == event.status, last.1 == nil {
                // Same period (a new note or planned return): keep it, take the latest plan.
                list[list.count - 1].0.expectedUntil = event.expectedUntil
            } else {
                if !list.isEmpty, list[list.count - 1].1 == nil { list[list.count - 1].1 = change.at }
                list.append((Period(status: event.status, since: event.since, expectedUntil: event.expectedUntil), nil))
            }
            periods[event.user] = list
        }
        let windowEnd = min(to, now)
        var rows: [String: Row] = [:]
        for (user, list) in periods {
            for (period, end) in list {
                let periodEnd = end ?? now
                let start = max(period.since, from)
                let stop = min(periodEnd, windowEnd)
                guard stop > start else { continue }
                let key = "\(user)\u{0}\(period.status.rawValue)"
                var row = rows[key] ?? Row(user: user, status: period.status, seconds: 0, count: 0, overruns: 0)
                row.seconds += (stop.milliseconds - start.milliseconds) / 1000
                row.count += 1
                let allowed: Timestamp? =
                    period.expectedUntil ?? limit(period.status, period.since).map { period.since.adding(seconds: $0) }
                // A second of slack: the daemon's own returns (after-call work) land on the limit.
                if let allowed, periodEnd.milliseconds > allowed.milliseconds + 1000 { row.overruns += 1 }
                rows[key] = row
            }
        }
        return rows.values.sorted { ($0.user, $0.status.rawValue) < ($1.user, $1.status.rawValue) }
    }
}

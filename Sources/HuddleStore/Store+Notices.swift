import Foundation
import GRDB
import HuddleCore
import HuddleProtocol

/// Where a team's alerts are also sent (SPEC §12): a Slack or Teams channel, or any webhook.
public struct NotifyTarget: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable {
        case slack
        case teams
        case json
    }

    public var id: Int64
    public var team: String
    /// Never logged or shown: chat webhooks carry their credential in the path.
    public var url: String
    public var format: Format
    /// Nil: every kind.
    public var kinds: Set<Alert.Kind>?
    public var minSeverity: Alert.Severity
    /// `whsec_` + base64, for `json` targets (Standard Webhooks).
    public var secret: String?
    public var createdAt: Timestamp
    /// Set when the receiver answered `410 Gone` (or an operator's removal is pending).
    public var disabledAt: Timestamp?
    public var disabledReason: String?

    public init(
        id: Int64, team: String, url: String, format: Format, kinds: Set<Alert.Kind>?, minSeverity: Alert.Severity,
        secret: String?, createdAt: Timestamp, disabledAt: Timestamp? = nil, disabledReason: String? = nil
    ) {
        self.id = id
        self.team = team
        self.url = url
        self.format = format
        self.kinds = kinds
        self.minSeverity = minSeverity
        self.secret = secret
        self.createdAt = createdAt
        self.disabledAt = disabledAt
        self.disabledReason = disabledReason
    }

    /// What `notify list` and the logs show of the URL.
    public var host: String { URLComponents(string: url)?.host ?? "?" }

    public func accepts(kind: Alert.Kind, severity: Alert.Severity) -> Bool {
        (kinds?.contains(kind) ?? true) && severity.rank >= minSeverity.rank
    }
}

/// One alert's news for one target, waiting in the outbox or done with.
public struct Notice: Sendable, Equatable {
    public enum Event: String, Sendable {
        case raised
        case escalated
        case acknowledged
        /// Closed by the system (coverage is back, the hold ended…).
        case closed
        /// `huddled notify test`.
        case test
    }

    public enum State: String, Sendable {
        case pending
        case delivered
        case givenUp = "given_up"
    }

    public var id: Int64
    public var targetID: Int64
    public var alertID: Int64
    public var event: Event
    /// The same for every try (the receiver's idempotency key, Standard Webhooks' `webhook-id`).
    public var webhookID: String
    /// The alert as supervisors see it, with the notice's event and any acknowledgment
    /// (`NoticePayload`), as JSON text.
    public var payload: String
    public var createdAt: Timestamp
    public var attempts: Int
    public var nextAt: Timestamp
    public var state: State
    /// The last try's outcome, for `notify list` and the logs (`503`, `timeout`, `redirect`…).
    public var outcome: String?

    public init(
        id: Int64, targetID: Int64, alertID: Int64, event: Event, webhookID: String, payload: String, createdAt: Timestamp,
        attempts: Int, nextAt: Timestamp, state: State, outcome: String? = nil
    ) {
        self.id = id
        self.targetID = targetID
        self.alertID = alertID
        self.event = event
        self.webhookID = webhookID
        self.payload = payload
        self.createdAt = createdAt
        self.attempts = attempts
        self.nextAt = nextAt
        self.state = state
        self.outcome = outcome
    }
}

/// What `notify list` shows of a target's outbox.
public struct NoticeCounts: Sendable, Equatable {
    public var pending = 0
    public var delivered = 0
    public var givenUp = 0
    public var lastOutcome: String?

    public init() {}
}

extension Alert.Severity {
    public var rank: Int {
        switch self {
        case .info: 0
        case .warning: 1
        case .critical: 2
        }
    }
}

// MARK: The outbox, written with the alerts

extension Store {
    /// Queues a notice of `event` for every enabled target of the team that takes the alert's
    /// kind and severity. Runs inside the commit's transaction: the alert and its notices are
    /// stored together or not at all.
    static func queueNotices(
        _ db: Database, alert: Alert, event: Notice.Event, ack: Alert.Acknowledgment?, teamID: Int64, at: Timestamp
    ) throws {
        let targets = try Row.fetchAll(
            try db.cachedStatement(
                sql: "SELECT id, kinds, min_severity FROM notify_targets WHERE team_id = ? AND disabled_at IS NULL"),
            arguments: [teamID])
        guard !targets.isEmpty else { return }
        let epoch = try String.fetchOne(db.cachedStatement(sql: "SELECT epoch FROM teams WHERE id = ?"), arguments: [teamID]) ?? ""
        let payload = String(decoding: JSONWriter.encode(NoticePayload.json(alert, event: event, ack: ack)), as: UTF8.self)
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO notices (target_id, alert_id, event, webhook_id, payload, created_at, next_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
        for row in targets {
            let filter = NotifyTarget(
                id: row["id"], team: alert.team, url: "", format: .json, kinds: Self.kinds(row["kinds"]),
                minSeverity: Alert.Severity(rawValue: row["min_severity"]) ?? .info, secret: nil, createdAt: at)
            guard filter.accepts(kind: alert.kind, severity: alert.severity) else { continue }
            let target: Int64 = row["id"]
            try insert.execute(arguments: [
                target, alert.id, event.rawValue, "huddle-\(epoch)-\(alert.id)-\(event.rawValue)-\(target)", payload,
                at.milliseconds, at.milliseconds,
            ])
        }
    }

    /// The alert an acknowledgment is about, as stored (for its notices).
    static func storedAlert(_ db: Database, id: Int64) throws -> Alert? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT a.*, t.name AS team FROM alerts a JOIN teams t ON t.id = a.team_id WHERE a.id = ?"),
                arguments: [id]),
            let kind = Alert.Kind(rawValue: row["kind"]), let severity = Alert.Severity(rawValue: row["severity"])
        else { return nil }
        return Alert(
            id: row["id"], kind: kind, severity: severity, team: row["team"], user: row["user"],
            reason: (row["reason"] as String?).flatMap(StatusReason.init(rawValue:)), text: row["text"],
            createdAt: Timestamp(milliseconds: row["created_at"]),
            statusSince: (row["status_since"] as Int64?).map(Timestamp.init(milliseconds:)), escalates: row["escalates"])
    }
}

/// The body every format is made from: the alert as the protocol shows it to supervisors
/// (`alert` event fields and `team`), `notice` (what happened to it) and, for an acknowledgment
/// or a closing, `ack` (`by`, `note`, `at`).
public enum NoticePayload {
    public static func json(_ alert: Alert, event: Notice.Event, ack: Alert.Acknowledgment?) -> JSONValue {
        guard case .object(var object) = alert.snapshotJSON else { return .null }
        object["notice"] = .string(event.rawValue)
        if let ack { object["ack"] = ["by": .string(ack.by), "note": .string(ack.note), "at": ack.at.json] }
        return .object(object)
    }
}

// MARK: Targets (`huddled notify …`)

extension Store {
    public func addNotifyTarget(
        team: String, url: String, format: NotifyTarget.Format, kinds: Set<Alert.Kind>?, minSeverity: Alert.Severity,
        secret: String?, now: Timestamp
    ) throws -> Int64 {
        try pool.write { db in
            guard let teamID = try Int64.fetchOne(db, sql: "SELECT id FROM teams WHERE name = ?", arguments: [team]) else {
                throw StoreError.notFound("team \(team)")
            }
            try db.execute(
                sql: """
                    INSERT INTO notify_targets (team_id, url, format, kinds, min_severity, secret, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    teamID, url, format.rawValue, kinds.map { $0.map(\.rawValue).sorted().joined(separator: ",") },
                    minSeverity.rawValue, secret, now.milliseconds,
                ])
            return db.lastInsertedRowID
        }
    }

    public func notifyTargets() throws -> [NotifyTarget] {
        try pool.read(Self.targets)
    }

    public func notifyTargetsAsync() async throws -> [NotifyTarget] {
        try await pool.read(Self.targets)
    }

    /// Removes a target and every notice still waiting for it.
    public func removeNotifyTarget(_ id: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM notify_targets WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else { throw StoreError.notFound("notify target \(id)") }
        }
    }

    /// A receiver said `410 Gone`: nothing more is sent to it, and its waiting notices are given up.
    public func disableNotifyTarget(_ id: Int64, reason: String, now: Timestamp) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE notify_targets SET disabled_at = ?, disabled_reason = ? WHERE id = ?",
                arguments: [now.milliseconds, reason, id])
            try db.execute(
                sql: "UPDATE notices SET state = 'given_up', outcome = ?, done_at = ? WHERE target_id = ? AND state = 'pending'",
                arguments: [reason, now.milliseconds, id])
        }
    }

    public func noticeCounts() throws -> [Int64: NoticeCounts] {
        try pool.read { db in
            var counts: [Int64: NoticeCounts] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT target_id, state, COUNT(*) AS n FROM notices GROUP BY target_id, state") {
                let target: Int64 = row["target_id"]
                let n: Int = row["n"]
                switch Notice.State(rawValue: row["state"]) {
                case .pending: counts[target, default: .init()].pending = n
                case .delivered: counts[target, default: .init()].delivered = n
                case .givenUp: counts[target, default: .init()].givenUp = n
                case nil: break
                }
            }
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT n.target_id, n.outcome FROM notices n
                    WHERE n.id = (SELECT MAX(id) FROM notices WHERE target_id = n.target_id AND outcome IS NOT NULL)
                    """)
            {
                counts[row["target_id"], default: .init()].lastOutcome = row["outcome"]
            }
            return counts
        }
    }

    /// The `kinds` column: comma-separated kinds, or NULL for every kind.
    static func kinds(_ column: String?) -> Set<Alert.Kind>? {
        column.map { Set($0.split(separator: ",").compactMap { Alert.Kind(rawValue: String($0)) }) }
    }

    private static func targets(_ db: Database) throws -> [NotifyTarget] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT n.*, t.name AS team FROM notify_targets n JOIN teams t ON t.id = n.team_id ORDER BY n.id
                """
        ).compactMap { row in
            guard let format = NotifyTarget.Format(rawValue: row["format"]) else { return nil }
            return NotifyTarget(
                id: row["id"], team: row["team"], url: row["url"], format: format, kinds: kinds(row["kinds"]),
                minSeverity: Alert.Severity(rawValue: row["min_severity"]) ?? .info, secret: row["secret"],
                createdAt: Timestamp(milliseconds: row["created_at"]),
                disabledAt: (row["disabled_at"] as Int64?).map(Timestamp.init(milliseconds:)), disabledReason: row["disabled_reason"])
        }
    }
}

// MARK: The sender's side

extension Store {
    /// The first notice still waiting for `target`: a target's notices go out in order.
    public func nextNotice(target: Int64) async throws -> Notice? {
        try await pool.read { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: "SELECT * FROM notices WHERE target_id = ? AND state = 'pending' ORDER BY id LIMIT 1"),
                arguments: [target]
            ).flatMap(Self.notice)
        }
    }

    public func pendingNoticeCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM notices WHERE state = 'pending'") ?? 0 }
    }

    /// Records a try: delivered, given up, or to be tried again at `nextAt`.
    public func recordNoticeTry(_ id: Int64, state: Notice.State, outcome: String, nextAt: Timestamp?, now: Timestamp)
        async throws
    {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE notices SET attempts = attempts + 1, state = ?, outcome = ?, next_at = COALESCE(?, next_at),
                        done_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END
                    WHERE id = ?
                    """,
                arguments: [state.rawValue, outcome, nextAt?.milliseconds, state.rawValue, now.milliseconds, id])
        }
    }

    public func notices(alert id: Int64) throws -> [Notice] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM notices WHERE alert_id = ? ORDER BY id", arguments: [id]).compactMap(Self.notice)
        }
    }

    private static func notice(_ row: Row) -> Notice? {
        guard let event = Notice.Event(rawValue: row["event"]), let state = Notice.State(rawValue: row["state"]) else { return nil }
        return Notice(
            id: row["id"], targetID: row["target_id"], alertID: row["alert_id"], event: event, webhookID: row["webhook_id"],
            payload: row["payload"], createdAt: Timestamp(milliseconds: row["created_at"]), attempts: row["attempts"],
            nextAt: Timestamp(milliseconds: row["next_at"]), state: state, outcome: row["outcome"])
    }
}

import Foundation
import GRDB
import HuddleCore
import HuddleProtocol

/// An event as stored: its numbers and the exact line that was sent (without the newline).
public struct StoredEvent: Sendable, Equatable {
    public var seq: Int64
    public var line: [UInt8]
}

/// One event ready to commit: the event and the line it is sent as.
public struct EncodedEvent: Sendable {
    public var event: Event
    public var line: [UInt8]

    public init(_ event: Event) {
        self.event = event
        self.line = event.encodedLine()
    }
}

extension Store {
    /// Loads the committed floor: users with their status, teams with seqs, policy and presence.
    public func loadFloor() throws -> (floor: Floor, tokenKeys: [String: String]) {
        try pool.read { db in try Self.loadFloor(db) }
    }

    public func loadFloorAsync() async throws -> (floor: Floor, tokenKeys: [String: String]) {
        try await pool.read { db in try Self.loadFloor(db) }
    }

    static func loadFloor(_ db: Database) throws -> (floor: Floor, tokenKeys: [String: String]) {
        var floor = Floor()
        var tokenKeys: [String: String] = [:]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT name, role, token_key, status, note, since, expected_until, status_by, status_reason,
                    overdue_alerted_since, phone, phone_id
                FROM users
                """)
        {
            let name: String = row["name"]
            let record = StatusRecord(
                status: try Self.status(row["status"], of: name), note: row["note"],
                since: Timestamp(milliseconds: row["since"]),
                expectedUntil: (row["expected_until"] as Int64?).map(Timestamp.init(milliseconds:)),
                by: row["status_by"], reason: (row["status_reason"] as String?).flatMap(StatusReason.init(rawValue:)))
            floor.users[name] = UserState(
                name: name, role: try Self.role(row["role"], of: name), teams: [], status: record,
                overdueAlertedSince: (row["overdue_alerted_since"] as Int64?).map(Timestamp.init(milliseconds:)),
                phone: try Self.phone(row["phone"], of: name), phoneID: row["phone_id"])
            tokenKeys[name] = row["token_key"]
        }
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT t.name, t.epoch, t.seq, t.supervisors_seq, t.waitlist, t.coverage, t.breach_since, t.queue, t.rota, p.policy, p.version,
                    p.at AS policy_at
                FROM teams t JOIN policy_versions p ON p.team_id = t.id
                WHERE p.version = (SELECT MAX(version) FROM policy_versions WHERE team_id = t.id)
                """)
        {
            let name: String = row["name"]
            let policy = try Self.policy(row["policy"], team: name, version: row["version"])
            let waitlist =
                try Self.teamColumn(row["waitlist"], "waitlist", of: name) { json -> [WaitlistEntry]? in
                    let items = json.arrayValue ?? []
                    let entries = items.compactMap(WaitlistEntry.init(stored:))
                    return json.arrayValue != nil && entries.count == items.count ? entries : nil
                } ?? []
            let coverage = try Self.teamColumn(row["coverage"], "coverage", of: name, CoverageFigures.init(json:))
            let queue = try Self.teamColumn(row["queue"], "queue", of: name, QueueReport.init(json:))
            var team = TeamState(
                name: name, epoch: row["epoch"], seq: row["seq"], supervisorsSeq: row["supervisors_seq"], policy: policy,
                waitlist: waitlist, coverage: coverage, queuePressure: queue?.pressure ?? false,
                nodeOutage: queue?.nodeOutage ?? false)
            team.queue = queue
            team.rota = try Self.teamColumn(row["rota"], "rota", of: name, QueueReportRota.init(stored:)) ?? QueueReportRota()
            team.breachSince = (row["breach_since"] as Int64?).map(Timestamp.init(milliseconds:))
            team.policySince = Timestamp(milliseconds: row["policy_at"])
            team.updateErlang()
            floor.teams[name] = team
        }
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT a.*, t.name AS team,
                    EXISTS (SELECT 1 FROM alerts e WHERE e.escalates = a.id) AS escalated
                FROM alerts a JOIN teams t ON t.id = a.team_id WHERE a.ack_at IS NULL
                """)
        {
            guard let kind = Alert.Kind(rawValue: row["kind"]) else { continue }
            let alert = Alert(
                id: row["id"], kind: kind, severity: Alert.Severity(rawValue: row["severity"]) ?? .warning,
                team: row["team"], user: row["user"], reason: (row["reason"] as String?).flatMap(StatusReason.init(rawValue:)),
                text: row["text"], createdAt: Timestamp(milliseconds: row["created_at"]),
                statusSince: (row["status_since"] as Int64?).map(Timestamp.init(milliseconds:)), escalates: row["escalates"])
            floor.teams[alert.team]?.openAlerts[alert.id] = alert
            if row["escalated"] as Bool { floor.teams[alert.team]?.escalatedAlerts.insert(alert.id) }
        }
        floor.lastAlertID = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM alerts") ?? 0
        // What became of the open alerts' own notices, as the outbox holds it (the `notice`
        // events said the same; a notice not tried yet has none).
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT n.alert_id, n.target_id, n.state, n.attempts, g.format, t.name AS team
                FROM notices n JOIN notify_targets g ON g.id = n.target_id JOIN alerts a ON a.id = n.alert_id
                JOIN teams t ON t.id = a.team_id
                WHERE a.ack_at IS NULL AND n.event IN ('raised', 'escalated') AND (n.state != 'pending' OR n.attempts > 0)
                """)
        {
            let outcome: NoticeStatus.Outcome =
                switch Notice.State(rawValue: row["state"]) {
                case .delivered: .delivered
                case .givenUp: .givenUp
                default: .retrying
                }
            let status = NoticeStatus(alert: row["alert_id"], target: row["target_id"], format: row["format"], outcome: outcome)
            floor.teams[row["team"]]?.openAlerts[status.alert]?.note(status)
        }
        // `queue_report_missing` is raised once per silence, acknowledged or not: the last one
        // raised tells whether this silence already had its alert.
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT t.name AS team, MAX(a.created_at) AS raised FROM alerts a JOIN teams t ON t.id = a.team_id
                WHERE a.kind = 'queue_report_missing' GROUP BY t.name
                """)
        {
            floor.teams[row["team"]]?.missingReportRaisedAt = Timestamp(milliseconds: row["raised"])
        }
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT u.name AS user, t.name AS team, m.connected FROM memberships m
                JOIN users u ON u.id = m.user_id JOIN teams t ON t.id = m.team_id
                """)
        {
            let user: String = row["user"]
            let team: String = row["team"]
            floor.users[user]?.teams.append(team)
            floor.teams[team]?.members.insert(user)
            if row["connected"] as Bool { floor.teams[team]?.announcedConnected.insert(user) }
        }
        return (floor, tokenKeys)
    }

    /// When each user's presence was last announced false (users whose presence is true, or who
    /// never connected, are not listed).
    public func loadAbsences() async throws -> [String: Timestamp] {
        try await pool.read { db in
            var absences: [String: Timestamp] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, absent_since FROM users WHERE absent_since IS NOT NULL") {
                absences[row["name"]] = Timestamp(milliseconds: row["absent_since"])
            }
            return absences
        }
    }
}

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
                    overdue_alerted_since
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
                overdueAlertedSince: (row["overdue_alerted_since"] as Int64?).map(Timestamp.init(milliseconds:)))
            tokenKeys[name] = row["token_key"]
        }
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT t.name, t.epoch, t.seq, t.supervisors_seq, t.waitlist, t.coverage, t.queue, p.policy, p.version,
                    p.at AS policy_at
                FROM teams t JOIN policy_versions p ON p.team_id = t.id
                WHERE p.version = (SELECT MAX(version) FROM policy_versions WHERE team_id = t.id)
                """)
        {
            let name: String = row["name"]
            let policy = try Self.policy(row["policy"], team: name, version: row["version"])
            let waitlist = (try? JSONParser.parse(row["waitlist"] as String))?.arrayValue?
                .compactMap(WaitlistEntry.init(stored:)) ?? []
            let coverage = (row["coverage"] as String?).flatMap { try? JSONParser.parse($0) }.flatMap(CoverageFigures.init(json:))
            let queue = (row["queue"] as String?).flatMap { try? JSONParser.parse($0) }.flatMap(QueueReport.init(json:))
            var team = TeamState(
                name: name, epoch: row["epoch"], seq: row["seq"], supervisorsSeq: row["supervisors_seq"], policy: policy,
                waitlist: waitlist, coverage: coverage, queuePressure: queue?.pressure ?? false,
                nodeOutage: queue?.nodeOutage ?? false)
            team.queue = queue
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

    /// Commits a batch of events in one transaction: the log, the current state they imply, and
    /// each team's seqs. Either all of it is stored or none.
    public func commit(_ batch: [EncodedEvent]) async throws {
        guard !batch.isEmpty else { return }
        try await pool.write { db in try Self.write(db, batch) }
    }

    /// The same, for callers that are not async (the server's commit pipeline runs on callbacks
    /// so that no task is created per change). `completion` runs on GRDB's writer queue.
    public func commit(_ batch: [EncodedEvent], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        pool.asyncWrite({ db in try Self.write(db, batch) }, completion: { _, result in completion(result) })
    }

    static func fetchEvents(_ db: Database, team: String, stream: EventStream, after: Int64, through: Int64, limit: Int)
        throws -> [StoredEvent]
    {
        try Row.fetchAll(
            db,
            sql: """
                SELECT seq, line FROM events
                WHERE team_id = (SELECT id FROM teams WHERE name = ?) AND stream = ? AND seq > ? AND seq <= ?
                ORDER BY seq LIMIT ?
                """, arguments: [team, stream == .team ? 0 : 1, after, through, limit]
        ).map { row in StoredEvent(seq: row["seq"], line: [UInt8](row["line"] as Data)) }
    }

    static func write(_ db: Database, _ batch: [EncodedEvent]) throws {
        var teamIDs: [String: Int64] = [:]
        func teamID(_ name: String) throws -> Int64 {
            if let id = teamIDs[name] { return id }
            let lookup = try db.cachedStatement(sql: "SELECT id FROM teams WHERE name = ?")
            guard let id = try Int64.fetchOne(lookup, arguments: [name])
            else { throw StoreError.notFound("team \(name)") }
            teamIDs[name] = id
            return id
        }
        let insert = try db.cachedStatement(
            sql: "INSERT INTO events (team_id, stream, seq, at, type, user, line) VALUES (?, ?, ?, ?, ?, ?, ?)")
        var lastSeq: [Int64: (Int64, Int64)] = [:]
        for item in batch {
            let event = item.event
            let id = try teamID(event.team)
            let stream: Int64 = event.stream == .team ? 0 : 1
            try insert.runDirect { bind in
                bind.int(1, id)
                bind.int(2, stream)
                bind.int(3, event.seq)
                bind.int(4, event.at.milliseconds)
                bind.text(5, event.payload.type)
                bind.text(6, event.payload.user)
                // Stored without the line's newline.
                item.line.withUnsafeBytes { line in bind.blob(7, UnsafeRawBufferPointer(rebasing: line.dropLast())) }
            }
            var seqs = lastSeq[id] ?? (0, 0)
            if stream == 0 { seqs.0 = max(seqs.0, event.seq) } else { seqs.1 = max(seqs.1, event.seq) }
            lastSeq[id] = seqs
            try Self.applyToState(db, event, teamID: id)
        }
        let updateSeq = try db.cachedStatement(
            sql: "UPDATE teams SET seq = MAX(seq, ?), supervisors_seq = MAX(supervisors_seq, ?) WHERE id = ?")
        for (id, seqs) in lastSeq {
            try updateSeq.execute(arguments: [seqs.0, seqs.1, id])
        }
    }

    static func applyToState(_ db: Database, _ event: Event, teamID: Int64) throws {
        switch event.payload {
        case .status(let change):
            try db.cachedStatement(
                sql: """
                    UPDATE users SET status = ?, note = ?, since = ?, expected_until = ?, status_by = ?, status_reason = ?
                    WHERE name = ?
                    """
            ).runDirect { bind in
                bind.text(1, change.status.rawValue)
                bind.text(2, change.note)
                bind.int(3, change.since.milliseconds)
                bind.int(4, change.expectedUntil?.milliseconds)
                bind.text(5, change.by)
                bind.text(6, change.reason?.rawValue)
                bind.text(7, change.user)
            }
        case let .presence(user, connected):
            try db.cachedStatement(
                sql: """
                    UPDATE memberships SET connected = ?
                    WHERE team_id = ? AND user_id = (SELECT id FROM users WHERE name = ?)
                    """
            ).execute(arguments: [connected, teamID, user])
            try db.cachedStatement(sql: "UPDATE users SET absent_since = ? WHERE name = ?")
                .execute(arguments: [connected ? nil : event.at.milliseconds, user])
        case .message:
            break
        case let .policy(version, by, comment, policy):
            try db.execute(
                sql: "INSERT INTO policy_versions (team_id, version, at, by, comment, policy) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    teamID, version, event.at.milliseconds, by, comment,
                    String(decoding: JSONWriter.encode(policy.json), as: UTF8.self),
                ])
        case .coverage(let figures):
            try db.cachedStatement(sql: "UPDATE teams SET coverage = ? WHERE id = ?").execute(arguments: [
                String(decoding: JSONWriter.encode(figures.json), as: UTF8.self), teamID,
            ])
        case .waitlist(let entries):
            try storeWaitlist(db, entries, teamID: teamID)
        case .waitlistReady(let user, _, let holdUntil):
            let stored = try String.fetchOne(db, sql: "SELECT waitlist FROM teams WHERE id = ?", arguments: [teamID]) ?? "[]"
            var entries = (try? JSONParser.parse(stored))?.arrayValue?.compactMap(WaitlistEntry.init(stored:)) ?? []
            if let index = entries.firstIndex(where: { $0.user == user }) { entries[index].holdUntil = holdUntil }
            try storeWaitlist(db, entries, teamID: teamID)
        case .alert(let alert):
            try db.cachedStatement(
                sql: """
                    INSERT INTO alerts (id, team_id, kind, severity, user, reason, text, created_at, status_since, escalates)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                alert.id, teamID, alert.kind.rawValue, alert.severity.rawValue, alert.user, alert.reason?.rawValue,
                alert.text, alert.createdAt.milliseconds, alert.statusSince?.milliseconds, alert.escalates,
            ])
            if alert.kind == .overdueStatus, let user = alert.user {
                try db.cachedStatement(sql: "UPDATE users SET overdue_alerted_since = ? WHERE name = ?").execute(
                    arguments: [alert.statusSince?.milliseconds, user])
            }
        case .queue(let report):
            try db.cachedStatement(sql: "UPDATE teams SET queue = ? WHERE id = ?").execute(arguments: [
                String(decoding: JSONWriter.encode(report.json), as: UTF8.self), teamID,
            ])
        case let .alertAck(id, by, note, at):
            try db.cachedStatement(sql: "UPDATE alerts SET ack_by = ?, ack_at = ?, ack_note = ? WHERE id = ?").execute(
                arguments: [by, at.milliseconds, note, id])
        }
    }

    static func storeWaitlist(_ db: Database, _ entries: [WaitlistEntry], teamID: Int64) throws {
        let json = String(decoding: JSONWriter.encode(.array(entries.map(\.storedJSON))), as: UTF8.self)
        try db.cachedStatement(sql: "UPDATE teams SET waitlist = ? WHERE id = ?").execute(arguments: [json, teamID])
    }

    /// Events of one stream with `after < seq <= through`, oldest first, at most `limit`.
    public func events(team: String, stream: EventStream, after: Int64, through: Int64 = .max, limit: Int = .max)
        async throws -> [StoredEvent]
    {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, line FROM events
                    WHERE team_id = (SELECT id FROM teams WHERE name = ?) AND stream = ? AND seq > ? AND seq <= ?
                    ORDER BY seq LIMIT ?
                    """, arguments: [team, stream == .team ? 0 : 1, after, through, limit]
            ).map { row in StoredEvent(seq: row["seq"], line: [UInt8](row["line"] as Data)) }
        }
    }

    public func policyHistory(team: String) async throws -> [PolicyVersion] {
        try await pool.read { db in try Self.fetchPolicyHistory(db, team: team) }
    }

    public func policyHistory(team: String, completion: @escaping @Sendable (Result<[PolicyVersion], any Error>) -> Void) {
        pool.asyncRead { result in
            completion(Result { try Self.fetchPolicyHistory(try result.get(), team: team) })
        }
    }

    static func fetchPolicyHistory(_ db: Database, team: String) throws -> [PolicyVersion] {
            try Row.fetchAll(
                db,
                sql: """
                    SELECT version, at, by, comment, policy FROM policy_versions
                    WHERE team_id = (SELECT id FROM teams WHERE name = ?) ORDER BY version
                    """, arguments: [team]
            ).map { row in
                let policy = try Self.policy(row["policy"], team: team, version: row["version"])
                return PolicyVersion(
                    version: row["version"], at: Timestamp(milliseconds: row["at"]), by: row["by"],
                    comment: row["comment"], policy: policy)
            }
    }

    /// Drops history older than `cutoff` (retention): from each stream, its oldest events up to
    /// the first one stamped at or after `cutoff`. What a stream keeps is one unbroken run of seqs
    /// ending at its newest event, which replay and `history.fetch` rely on, even if the clock
    /// once stepped back (an old stamp after a newer one stays until what precedes it goes).
    /// Seqs and current state stay. It walks each stream's primary key in seq order, so commits
    /// pay for no index on `at` (that index was a tenth of the commit's cost).
    public func prune(before cutoff: Timestamp) async throws -> Int {
        try await pool.write { db in
            var pruned = 0
            for team in try Int64.fetchAll(db, sql: "SELECT id FROM teams") {
                for stream: Int64 in [0, 1] {  // the team's stream, then its supervisors'
                    let firstKept = try Int64.fetchOne(
                        db,
                        sql: "SELECT seq FROM events WHERE team_id = ? AND stream = ? AND at >= ? ORDER BY seq LIMIT 1",
                        arguments: [team, stream, cutoff.milliseconds])
                    try db.execute(
                        sql: "DELETE FROM events WHERE team_id = ? AND stream = ? AND seq < ?",
                        arguments: [team, stream, firstKept ?? .max])
                    pruned += db.changesCount
                }
            }
            return pruned
        }
    }
}

extension Store {
    /// The team's status events, oldest first, and its policy versions: the inputs of the
    /// time-in-status report. Events after `to` are read too: a period still open at `to` is
    /// judged an overrun by when it really ended, so the answer does not depend on when it is
    /// asked.
    public func reportInputs(
        team: String,
        completion: @escaping @Sendable (Result<([TimeInStatusReport.Change], [PolicyVersion]), any Error>) -> Void
    ) {
        pool.asyncRead { result in
            completion(
                Result {
                    let db = try result.get()
                    let rows = try Row.fetchAll(
                        db,
                        sql: """
                            SELECT at, line FROM events
                            WHERE team_id = (SELECT id FROM teams WHERE name = ?) AND stream = 0 AND type = 'status'
                            ORDER BY seq
                            """, arguments: [team])
                    // Read with the one decoder every reader of events uses; a line that is not
                    // a status event fails the report rather than dropping a change unseen.
                    let changes = try rows.map { row -> TimeInStatusReport.Change in
                        let event = try Event(storedLine: [UInt8](row["line"] as Data))
                        guard case .status(let change) = event.payload else {
                            throw CorruptRow(description: "huddle.sqlite: event \(event.seq) of team '\(team)' is stored as a status change but is a \(event.payload.type) event")
                        }
                        return TimeInStatusReport.Change(at: Timestamp(milliseconds: row["at"]), event: change)
                    }
                    return (changes, try Self.fetchPolicyHistory(db, team: team))
                })
        }
    }
}

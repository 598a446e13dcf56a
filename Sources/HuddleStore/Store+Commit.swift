import Foundation
import GRDB
import HuddleCore
import HuddleProtocol

extension Store {
    /// Commits a batch of events in one transaction: the log, the current state they leave
    /// (`state`, from `Floor.changes(applying:)`) and each team's seqs. Either all of it is
    /// stored or none.
    public func commit(_ batch: [EncodedEvent], state: FloorChanges) async throws {
        guard !batch.isEmpty else { return }
        try await pool.write { db in try Self.write(db, batch, state: state) }
    }

    /// The same, for callers that are not async (the server's commit pipeline runs on callbacks
    /// so that no task is created per change). `completion` runs on GRDB's writer queue.
    public func commit(
        _ batch: [EncodedEvent], state: FloorChanges, completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) {
        pool.asyncWrite({ db in try Self.write(db, batch, state: state) }, completion: { _, result in completion(result) })
    }

    /// For callers that hold no floor (tests, tools): the state is read off the stored floor
    /// inside the transaction, at the cost of loading it.
    public func commit(_ batch: [EncodedEvent]) async throws {
        guard !batch.isEmpty else { return }
        try await pool.write { db in
            let state = try Self.loadFloor(db).floor.changes(applying: batch.map(\.event))
            try Self.write(db, batch, state: state)
        }
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

    static func write(_ db: Database, _ batch: [EncodedEvent], state: FloorChanges) throws {
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
            try Self.storeRecord(db, event, teamID: id)
        }
        try Self.storeState(db, state, teamID: teamID)
        let updateSeq = try db.cachedStatement(
            sql: "UPDATE teams SET seq = MAX(seq, ?), supervisors_seq = MAX(supervisors_seq, ?) WHERE id = ?")
        for (id, seqs) in lastSeq {
            try updateSeq.execute(arguments: [seqs.0, seqs.1, id])
        }
    }

    /// The records an event is: a policy version, an alert raised or acknowledged.
    static func storeRecord(_ db: Database, _ event: Event, teamID: Int64) throws {
        switch event.payload {
        case let .policy(version, by, comment, policy):
            try db.execute(
                sql: "INSERT INTO policy_versions (team_id, version, at, by, comment, policy) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    teamID, version, event.at.milliseconds, by, comment,
                    String(decoding: JSONWriter.encode(policy.json), as: UTF8.self),
                ])
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
            try queueNotices(
                db, alert: alert, event: alert.escalates == nil ? .raised : .escalated, ack: nil, teamID: teamID, at: event.at)
        case let .alertAck(id, by, note, at):
            try db.cachedStatement(sql: "UPDATE alerts SET ack_by = ?, ack_at = ?, ack_note = ? WHERE id = ?").execute(
                arguments: [by, at.milliseconds, note, id])
            if let alert = try storedAlert(db, id: id) {
                try queueNotices(
                    db, alert: alert, event: by == "system" ? .closed : .acknowledged,
                    ack: .init(by: by, at: at, note: note), teamID: teamID, at: event.at)
            }
        case .status, .presence, .message, .coverage, .waitlist, .waitlistReady, .queue, .call, .phone, .queueReportAsked:
            break
        case .notice:
            // The outbox row already holds it (the sender wrote it before announcing it).
            break
        }
    }

    /// The current state the batch leaves, as the floor read it.
    static func storeState(_ db: Database, _ state: FloorChanges, teamID: (String) throws -> Int64) throws {
        for user in state.users {
            let change = user.status
            try db.cachedStatement(
                sql: """
                    UPDATE users SET status = ?, note = ?, since = ?, expected_until = ?, status_by = ?, status_reason = ?,
                    overdue_alerted_since = ? WHERE name = ?
                    """
            ).runDirect { bind in
                bind.text(1, change.status.rawValue)
                bind.text(2, change.note)
                bind.int(3, change.since.milliseconds)
                bind.int(4, change.expectedUntil?.milliseconds)
                bind.text(5, change.by)
                bind.text(6, change.reason?.rawValue)
                bind.int(7, user.overdueAlertedSince?.milliseconds)
                bind.text(8, user.name)
            }
        }
        for phone in state.phones {
            try db.cachedStatement(sql: "UPDATE users SET phone = ? WHERE name = ?").execute(arguments: [
                String(decoding: JSONWriter.encode(phone.phone.json), as: UTF8.self), phone.user,
            ])
        }
        for presence in state.presence {
            try db.cachedStatement(
                sql: """
                    UPDATE memberships SET connected = ?
                    WHERE team_id = ? AND user_id = (SELECT id FROM users WHERE name = ?)
                    """
            ).execute(arguments: [presence.connected, try teamID(presence.team), presence.user])
            try db.cachedStatement(sql: "UPDATE users SET absent_since = ? WHERE name = ?")
                .execute(arguments: [presence.connected ? nil : presence.at.milliseconds, presence.user])
        }
        for team in state.teams {
            let id = try teamID(team.team)
            if let figures = team.coverage {
                try db.cachedStatement(sql: "UPDATE teams SET coverage = ?, breach_since = ? WHERE id = ?").execute(arguments: [
                    String(decoding: JSONWriter.encode(figures.json), as: UTF8.self), team.breachSince?.milliseconds, id,
                ])
            }
            if let report = team.queue {
                try db.cachedStatement(sql: "UPDATE teams SET queue = ? WHERE id = ?").execute(arguments: [
                    String(decoding: JSONWriter.encode(report.json), as: UTF8.self), id,
                ])
            }
            if let entries = team.waitlist { try storeWaitlist(db, entries, teamID: id) }
            if let rota = team.rota {
                try db.cachedStatement(sql: "UPDATE teams SET rota = ? WHERE id = ?").execute(arguments: [
                    String(decoding: JSONWriter.encode(rota.storedJSON), as: UTF8.self), id,
                ])
            }
        }
    }

    static func storeWaitlist(_ db: Database, _ entries: [WaitlistEntry], teamID: Int64) throws {
        let json = String(decoding: JSONWriter.encode(.array(entries.map(\.storedJSON))), as: UTF8.self)
        try db.cachedStatement(sql: "UPDATE teams SET waitlist = ? WHERE id = ?").execute(arguments: [json, teamID])
    }
}

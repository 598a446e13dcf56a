import Foundation
import GRDB
import HuddleCore
import HuddleProtocol

extension Store {
    /// Events of one stream with `after < seq <= through`, oldest first, at most `limit`.
    public func events(team: String, stream: EventStream, after: Int64, through: Int64 = .max, limit: Int = .max)
        async throws -> [StoredEvent]
    {
        try await pool.read { db in
            try Self.fetchEvents(db, team: team, stream: stream, after: after, through: through, limit: limit)
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
        reportInputs(team: team, type: "status", completion: completion) { event throws(CorruptRow) in
            guard case .status(let change) = event.payload else { throw Self.misfiled(event, as: "status change", team) }
            return change
        }
    }

    /// The team's `call` events, oldest first, and its policy versions: the inputs of
    /// `report.calls`.
    public func callReportInputs(
        team: String,
        completion: @escaping @Sendable (Result<([CallReport.Change], [PolicyVersion]), any Error>) -> Void
    ) {
        reportInputs(team: team, type: "call", completion: completion) { event throws(CorruptRow) in
            guard case .call(let change) = event.payload else { throw Self.misfiled(event, as: "call", team) }
            return change
        }
    }

    /// The team's events of one type, read with the one decoder every reader of events uses (a
    /// line that is not what its row says fails the report rather than dropping it unseen), and
    /// the policy versions.
    private func reportInputs<Value: Sendable>(
        team: String, type: String,
        completion: @escaping @Sendable (Result<([StoredChange<Value>], [PolicyVersion]), any Error>) -> Void,
        read: @escaping @Sendable (Event) throws(CorruptRow) -> Value
    ) {
        pool.asyncRead { result in
            completion(
                Result {
                    let db = try result.get()
                    let rows = try Row.fetchAll(
                        db,
                        sql: """
                            SELECT at, line FROM events
                            WHERE team_id = (SELECT id FROM teams WHERE name = ?) AND stream = 0 AND type = ?
                            ORDER BY seq
                            """, arguments: [team, type])
                    let changes = try rows.map { row -> StoredChange<Value> in
                        let event = try Event(storedLine: [UInt8](row["line"] as Data))
                        return StoredChange(at: Timestamp(milliseconds: row["at"]), event: try read(event))
                    }
                    return (changes, try Self.fetchPolicyHistory(db, team: team))
                })
        }
    }

    static func misfiled(_ event: Event, as kind: String, _ team: String) -> CorruptRow {
        CorruptRow(description: "huddle.sqlite: event \(event.seq) of team '\(team)' is stored as a \(kind) but is a \(event.payload.type) event")
    }
}

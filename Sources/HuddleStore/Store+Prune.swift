import Foundation
import GRDB
import HuddleCore
import HuddleProtocol

extension Store {
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

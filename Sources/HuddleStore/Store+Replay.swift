import Foundation
import GRDB
import HuddleProtocol

/// A run of stored events of one stream, oldest first, as the bytes they are sent as: every line
/// with its newline, one after the other. A reconnecting client's replay is one buffer instead
/// of a few allocations per event (a whole floor reconnecting replays millions of events).
public struct StoredLines: Sendable, Equatable {
    public var bytes: [UInt8] = []
    /// Where each line ends in `bytes` (just after its newline).
    public var ends: [Int] = []
    /// When each event happened, in milliseconds (to interleave two streams by time).
    public var ats: [Int64] = []
    /// Each event's seq: a piece of a long replay is checked for gaps on its own.
    public var seqs: [Int64] = []

    public init() {}

    public var count: Int { ends.count }

    /// Line `index` with its newline.
    public func line(_ index: Int) -> ArraySlice<UInt8> {
        bytes[(index == 0 ? 0 : ends[index - 1])..<ends[index]]
    }

    /// True when the lines are every seq of `(after, after + count]`, none missing.
    public func isUnbroken(after: Int64) -> Bool {
        guard let first = seqs.first, let last = seqs.last else { return true }
        return first == after + 1 && last - after == Int64(count)
    }
}

extension Store {
    /// The answer of a read nobody waits for any more (its connection closed while it queued).
    public struct ReadAbandoned: Error {}

    /// Reads several ranges of one team's streams in one read transaction. `wanted` is asked
    /// when a reader is free: a read queued by a connection that has gone since is skipped, so
    /// that work left behind by a closed client does not delay anyone else's.
    public func replay(
        team: String, ranges: [(stream: EventStream, after: Int64, through: Int64)],
        wanted: @escaping @Sendable () -> Bool = { true },
        completion: @escaping @Sendable (Result<[[StoredEvent]], any Error>) -> Void
    ) {
        read(ranges, wanted: wanted, completion: completion) { db, range in
            try Self.fetchEvents(db, team: team, stream: range.stream, after: range.after, through: range.through, limit: .max)
        }
    }

    /// `replay`'s ranges as stored lines, for `team.join` with `since`: from each range, its
    /// first events, at most `maxEvents` of them and only as many as fit in `maxBytes` (but at
    /// least one). A long replay is read in such pieces, each in a short read transaction of
    /// its own, so that no reader is held (nor WAL frames pinned) while the client reads, and
    /// no more than a piece per client is in memory.
    public func replayLines(
        team: String, ranges: [(stream: EventStream, after: Int64, through: Int64)],
        maxEvents: Int = .max, maxBytes: Int = .max,
        wanted: @escaping @Sendable () -> Bool = { true },
        completion: @escaping @Sendable (Result<[StoredLines], any Error>) -> Void
    ) {
        read(ranges, wanted: wanted, completion: completion) { db, range in
            try Self.fetchLines(
                db, team: team, stream: range.stream, after: range.after, through: range.through, maxEvents: maxEvents,
                maxBytes: maxBytes)
        }
    }

    /// Each range read by `fetch`, all in one read transaction, unless `wanted` says no by then.
    private func read<Run: Sendable>(
        _ ranges: [(stream: EventStream, after: Int64, through: Int64)], wanted: @escaping @Sendable () -> Bool,
        completion: @escaping @Sendable (Result<[Run], any Error>) -> Void,
        fetch: @escaping @Sendable (Database, (stream: EventStream, after: Int64, through: Int64)) throws -> Run
    ) {
        pool.asyncRead { result in
            guard wanted() else { return completion(.failure(ReadAbandoned())) }
            completion(Result { let db = try result.get(); return try ranges.map { try fetch(db, $0) } })
        }
    }

    static func fetchLines(
        _ db: Database, team: String, stream: EventStream, after: Int64, through: Int64, maxEvents: Int = .max,
        maxBytes: Int = .max
    ) throws -> StoredLines {
        var lines = StoredLines()
        guard through > after else { return lines }
        let expected = Int(clamping: min(through - after, Int64(min(maxEvents, 4_096))))
        lines.bytes.reserveCapacity(min(expected * 256, maxBytes))
        lines.ends.reserveCapacity(expected)
        lines.ats.reserveCapacity(expected)
        lines.seqs.reserveCapacity(expected)
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT at, line, seq FROM events
                WHERE team_id = (SELECT id FROM teams WHERE name = ?) AND stream = ? AND seq > ? AND seq <= ?
                ORDER BY seq LIMIT ?
                """, arguments: [team, stream == .team ? 0 : 1, after, through, maxEvents])
        while lines.bytes.count < maxBytes, let row = try rows.next() {
            try row.withUnsafeData(atIndex: 1) { line in lines.bytes.append(contentsOf: line ?? Data()) }
            lines.bytes.append(0x0A)
            lines.ends.append(lines.bytes.count)
            lines.ats.append(row[0])
            lines.seqs.append(row[2])
        }
        return lines
    }
}

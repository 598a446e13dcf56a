import Foundation
import GRDB

/// Telling the daemon's own database from a copy put back in its place.
///
/// A backup is the database as it was at one instant: whatever the database says about itself,
/// the copy says too, so nothing inside it can show that it is behind. A restored backup re-uses
/// seqs that clients already saw on the lost timeline, and a rejoin would answer
/// `recovered: true` over a silent gap. The evidence has to live outside the database, in a
/// side file of the data folder (`huddle.run`) that the daemon writes and that neither a backup
/// of the database nor its restore carries:
///
/// - a **database id**, random, made once: a database of another lineage (another installation,
///   one made afresh) never matches;
/// - a **run counter**, raised in both at every start: a copy from an earlier run is behind it.
///   Alone it misses the usual case, a backup of the running daemon (`VACUUM INTO`), which
///   carries the current run's counter;
/// - an **events watermark**: how many events the streams held (every team's seqs added up) the
///   last time the daemon knew them to be on disk, written after WAL syncs (at most once a
///   second) and exactly at a clean stop. Seqs only grow, so a database behind the watermark has
///   lost events that clients may have seen, whichever run its copy was taken in.
///
/// What is left: a backup taken less than about a second before the daemon was killed (the
/// watermark had not caught up with it). `huddled backup` also marks the copy itself, which
/// covers that case and a data folder restored whole, side file included.
///
/// No side file while the database has run before under a daemon that keeps one: the folder
/// does not know this database (a restore into a new folder after the disk was lost), so
/// nothing it held may be vouched for. A database from before the watermark existed starts one.
public struct Lineage: Sendable, Equatable {
    public var databaseID: String
    public var run: Int64
    public var events: Int64

    var line: String { "huddle-run 1 \(databaseID) \(run) \(events)\n" }
}

// Here, not in the struct, so that the memberwise initializer stays.
extension Lineage {
    init?(line: String) {
        let parts = line.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard parts.count == 5, parts[0] == "huddle-run", parts[1] == "1", !parts[2].isEmpty,
            let run = Int64(parts[3]), let events = Int64(parts[4])
        else { return nil }
        self.init(databaseID: parts[2], run: run, events: events)
    }

    /// The side file beside `database`.
    public static func sideFile(of database: String) -> String {
        ((database as NSString).deletingLastPathComponent as NSString).appendingPathComponent("huddle.run")
    }

    public static func read(_ path: String) -> Lineage? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap(Lineage.init(line:))
    }

    public func write(to path: String, durable: Bool) throws {
        try PrivateFiles.write(Array(line.utf8), to: path, durable: durable)
    }
}

extension Store {
    static let eventsSQL = "SELECT coalesce(sum(seq + supervisors_seq), 0) FROM teams"

    /// Starts a run: raises the database's run counter, compares the database with the data
    /// folder's side file and rewrites the side file. Returns the database's lineage and why it
    /// is not the database the folder last held (the caller then renews every epoch), nil when
    /// it is.
    public func beginLineage() throws -> (lineage: Lineage, restored: String?) {
        let sideFile = Lineage.sideFile(of: path)
        let known = Lineage.read(sideFile)
        let sideFileExists = FileManager.default.fileExists(atPath: sideFile)
        let (database, previousRun, backupOf) = try pool.write { db -> (Lineage, Int64, String?) in
            func meta(_ key: String) throws -> String? {
                try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
            }
            func set(_ key: String, _ value: String) throws {
                try db.execute(
                    sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    arguments: [key, value])
            }
            let id = try meta("database_id") ?? Self.newEpoch() + Self.newEpoch()
            let previous = Int64(try meta("run") ?? "0") ?? 0
            let backupOf = try meta("backup_of")
            try set("database_id", id)
            try set("run", "\(previous + 1)")
            try db.execute(sql: "DELETE FROM meta WHERE key = 'backup_of'")
            let events = try Int64.fetchOne(db, sql: Self.eventsSQL) ?? 0
            return (Lineage(databaseID: id, run: previous + 1, events: events), previous, backupOf)
        }
        let reason: String? =
            if backupOf != nil {
                "it was restored from a backup made by huddled backup"
            } else if let known {
                if known.databaseID != database.databaseID {
                    "it is not the database the data folder last held (id \(database.databaseID), expected \(known.databaseID))"
                } else if previousRun < known.run {
                    "it is an older copy (run \(previousRun), the data folder saw run \(known.run))"
                } else if database.events < known.events {
                    "it is behind its own history (\(database.events) events, \(known.events) were on disk)"
                } else {
                    nil
                }
            } else if previousRun > 0 {
                sideFileExists
                    ? "the data folder's record of it (huddle.run) is unreadable"
                    : "the data folder has no record of it (huddle.run is missing)"
            } else {
                nil
            }
        // Past a restore the database's own figures are the new truth.
        try database.write(to: sideFile, durable: true)
        return (database, reason)
    }

    /// Every event in every stream, for the watermark.
    public func eventCount() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: Self.eventsSQL) ?? 0 }
    }
}

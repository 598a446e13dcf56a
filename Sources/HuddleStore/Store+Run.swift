import Foundation
import GRDB

/// What a daemon that stopped without closing the database left behind: the machine boot it
/// ran in and when its commits reached the disk.
public struct UnfinishedRun: Sendable, Equatable {
    public var bootID: String
    public var sync: Store.Sync
}

/// The daemon marks the database while it runs, so that the next start can tell a killed
/// daemon (its commits were in the kernel's hands and are all there) from a machine that went
/// down under it with `Sync.checkpoint` (the last commits before the crash may be gone).
extension Store {
    private static let runKey = "running"

    /// Records this run; returns the previous one when it did not end with `endRun()`.
    public func beginRun(bootID: String, sync: Sync) throws -> UnfinishedRun? {
        try pool.write { db in
            let previous = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [Self.runKey])
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                arguments: [Self.runKey, "\(sync.rawValue) \(bootID)"])
            guard let previous else { return nil }
            let parts = previous.split(separator: " ", maxSplits: 1).map(String.init)
            return UnfinishedRun(
                bootID: parts.count == 2 ? parts[1] : "", sync: Sync(rawValue: parts.first ?? "") ?? .checkpoint)
        }
    }

    /// A clean stop: everything is committed and the database is about to be closed.
    public func endRun() throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [Self.runKey]) }
    }

    /// Gives every team a new history epoch: what clients saw of the streams may no longer be in
    /// the database, so no `team.join` may claim to have replayed it (`recovered: false`).
    public func renewEpochs() throws {
        try pool.write { db in
            for id in try Int64.fetchAll(db, sql: "SELECT id FROM teams") {
                try db.execute(sql: "UPDATE teams SET epoch = ? WHERE id = ?", arguments: [Self.newEpoch(), id])
            }
        }
    }

    /// Whether a run that did not finish may have lost acknowledged commits: only if its
    /// commits waited for checkpoints and the machine has booted since (the kernel, and the
    /// commits it held, went down with it). An unknown boot counts as a new one.
    public static func mayHaveLostCommits(_ run: UnfinishedRun, currentBootID: String) -> Bool {
        run.sync == .checkpoint && (run.bootID.isEmpty || run.bootID != currentBootID)
    }

    /// This boot of the machine (Linux); empty where it cannot be told.
    public static func currentBootID() -> String {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
}

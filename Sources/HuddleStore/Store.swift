import Foundation
import GRDB
import HuddleCore
import HuddleProtocol

/// Huddle's SQLite database (system libsqlite3 through GRDB): WAL, forward migrations, an
/// append-only event log per team, the current state, users and token hashes. Every method that
/// touches the disk is either synchronous (for the admin subcommands, which own their process)
/// or `async` running on GRDB's own queues, never on an event-loop thread.
public final class Store: Sendable {
    public enum StoreError: Error, CustomStringConvertible, Equatable {
        case newerSchema(String)
        case exists(String)
        case notFound(String)
        case invalid(String)

        public var description: String {
            switch self {
            case .newerSchema(let path): "\(path) was written by a newer Huddle; refusing to open it"
            case .exists(let what): "\(what) already exists"
            case .notFound(let what): "\(what) does not exist"
            case .invalid(let why): why
            }
        }
    }

    let pool: DatabasePool
    /// A read-write connection of its own for WAL checkpoints (the pool's readers are read-only),
    /// present when checkpoints are taken off the commit path.
    let checkpointer: DatabaseQueue?
    public let path: String

    /// Opens (creating if needed) the database at `path` and migrates it forward.
    ///
    /// Every commit is synced (`synchronous = FULL`): an acknowledged change survives a power cut,
    /// not only a killed process; group commit pays the sync once for many changes.
    ///
    /// `backgroundCheckpoints` (the daemon) turns SQLite's automatic checkpoints off on the
    /// writer: an automatic checkpoint runs inside whichever commit crosses the threshold and
    /// holds it, and every commit queued behind it, for the checkpoint's own syncs. The daemon
    /// calls `checkpoint()` on a timer instead, from a connection of its own, while commits go on.
    public init(path: String, backgroundCheckpoints: Bool = false) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        pool = try DatabasePool(path: path, configuration: configuration)
        // After the pool is open: GRDB's WAL set-up runs `PRAGMA synchronous = NORMAL` on the
        // writer once `prepareDatabase` is done, so the setting has to come later than that.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            if backgroundCheckpoints { try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        }
        if backgroundCheckpoints {
            var checkpointing = Configuration()
            checkpointing.busyMode = .timeout(10)
            checkpointer = try DatabaseQueue(path: path, configuration: checkpointing)
        } else {
            checkpointer = nil
        }
        let migrator = Schema.migrator
        let superseded = try pool.read { db in try migrator.hasBeenSuperseded(db) }
        guard !superseded else { throw StoreError.newerSchema(path) }
        try migrator.migrate(pool)
    }

    /// Copies committed pages from the WAL into the database file without waiting for readers or
    /// writers (`PASSIVE`), so the WAL starts over from its beginning instead of growing. Returns
    /// the WAL's size and how much of it is now in the database, in pages.
    @discardableResult
    public func checkpoint() async throws -> (walPages: Int, checkpointed: Int) {
        guard let checkpointer else { return (0, 0) }
        return try await checkpointer.writeWithoutTransaction { db in
            guard let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)") else { return (0, 0) }
            return (row[1] ?? 0, row[2] ?? 0)
        }
    }

    /// The writer connection's `synchronous` setting (2 is FULL), for the tests that hold it to it.
    public func writerSynchronous() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// The writer connection's automatic checkpoint threshold in pages (0: off).
    public func writerAutoCheckpoint() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") ?? -1 }
    }

    static func newEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        return Tokens.hex((0..<8).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Bumped by every admin change, so that a running daemon notices changes made by
    /// `huddled user|team …` from another process.
    public func adminVersion() async throws -> Int64 {
        try await pool.read { db in
            Int64(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'admin_version'") ?? "0") ?? 0
        }
    }

    static func bumpAdminVersion(_ db: Database) throws {
        try db.execute(sql: "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'admin_version'")
    }

    public func close() throws {
        try checkpointer?.close()
        try pool.close()
    }
}

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
    /// A connection kept only for syncing the WAL (`syncLog()`), present with `checkpointer`.
    let syncer: DatabaseQueue?
    public let path: String

    /// When a commit reaches the disk.
    public enum Sync: String, Sendable, CaseIterable {
        /// Each commit is written to the WAL (the kernel holds it, so a killed daemon loses
        /// nothing) and synced at the next checkpoint, within a fraction of a second: a crash of
        /// the machine itself can lose the last commits before it (`synchronous = NORMAL`).
        case checkpoint
        /// Each commit is synced before it is acknowledged: a power cut loses nothing, and every
        /// commit waits for the disk (`synchronous = FULL`).
        case commit
    }

    /// Opens (creating if needed) the database at `path` and migrates it forward.
    ///
    /// `sync` says when commits reach the disk (`Sync`). Group commit pays a sync, when there is
    /// one, once for many changes.
    ///
    /// `backgroundCheckpoints` (the daemon) turns SQLite's automatic checkpoints off on the
    /// writer: an automatic checkpoint runs inside whichever commit crosses the threshold and
    /// holds it, and every commit queued behind it, for the checkpoint's own syncs. The daemon
    /// calls `checkpoint()` on a timer instead, from a connection of its own, while commits go on.
    public init(path: String, sync: Sync = .commit, backgroundCheckpoints: Bool = false) throws {
        self.path = path
        try Self.makePrivate(path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        pool = try DatabasePool(path: path, configuration: configuration)
        // After the pool is open: GRDB's WAL set-up runs `PRAGMA synchronous = NORMAL` on the
        // writer once `prepareDatabase` is done, so the setting has to come later than that.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: sync == .commit ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
            if backgroundCheckpoints { try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        }
        if backgroundCheckpoints {
            var checkpointing = Configuration()
            checkpointing.busyMode = .timeout(10)
            // A checkpoint syncs the WAL before copying it and the database after: with
            // `Sync.checkpoint` that is when commits reach the disk.
            checkpointing.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            checkpointer = try DatabaseQueue(path: path, configuration: checkpointing)
            var syncing = Configuration()
            syncing.busyMode = .timeout(10)
            syncer = try DatabaseQueue(path: path, configuration: syncing)
        } else {
            checkpointer = nil
            syncer = nil
        }
        let migrator = Schema.migrator
        let superseded = try pool.read { db in try migrator.hasBeenSuperseded(db) }
        guard !superseded else { throw StoreError.newerSchema(path) }
        try migrator.migrate(pool)
    }

    /// SQLite creates a database with mode 0644 less the umask, and gives the `-wal` and `-shm`
    /// files the database's mode: an empty file made 0600 first is a valid empty database and
    /// makes all three private. Files that exist already are tightened.
    static func makePrivate(_ path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError.invalid("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        Glibc.close(fd)
        do {
            for suffix in ["", "-wal", "-shm"] { try PrivateFiles.tighten(path + suffix, to: 0o600) }
        } catch let failure as PrivateFiles.Failure {
            throw StoreError.invalid(failure.description)
        }
    }

    /// A consistent copy of the database in a new file `target`, mode 0600, while the daemon runs
    /// (`VACUUM INTO` reads one snapshot and takes no write lock). The copy is marked as a
    /// backup, so that the daemon that starts on it knows it is behind what clients saw.
    public func backup(to target: String) throws {
        // VACUUM INTO makes its file with the umask's mode, and accepts an empty file instead.
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError.invalid("cannot create \(target): \(String(cString: strerror(errno)))")
        }
        Glibc.close(fd)
        do {
            let id = try pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'database_id'") }
            try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [target]) }
            let copy = try DatabaseQueue(path: target)
            try copy.write { db in
                try db.execute(
                    sql: "INSERT INTO meta (key, value) VALUES ('backup_of', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    arguments: [id ?? ""])
            }
            try copy.close()
        } catch {
            unlink(target)
            throw error
        }
    }

    /// Copies committed pages from the WAL into the database file without waiting for readers or
    /// writers (`PASSIVE`), and syncs both when it copies anything (durability does not rest on
    /// it: see `syncLog()`). Returns the WAL's size and how much of it is now in
    /// the database, in pages.
    ///
    /// Under steady load commits keep arriving while it copies, so it rarely catches up with the
    /// end of the WAL, and SQLite starts the WAL over from its beginning only after a checkpoint
    /// that did: `restartLog()` is for that.
    @discardableResult
    public func checkpoint() async throws -> (walPages: Int, checkpointed: Int) {
        guard let checkpointer else { return (0, 0) }
        return try await checkpointer.writeWithoutTransaction { db in
            guard let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)") else { return (0, 0) }
            return (row[1] ?? 0, row[2] ?? 0)
        }
    }

    /// Checkpoints from the writer's own connection, between two commits, so that nothing is
    /// appended meanwhile and the checkpoint reaches the end of the WAL: the next commit then
    /// writes the WAL from its beginning again instead of growing it. Commits wait for it, so it
    /// follows `checkpoint()`, which has copied nearly everything by then.
    public func restartLog() async throws {
        try await pool.writeWithoutTransaction { db in _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)") }
    }

    /// The writer connection's `synchronous` setting (2 is FULL, 1 NORMAL), for the tests that
    /// hold it to it.
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
        try syncer?.close()
        try checkpointer?.close()
        try pool.close()
    }
}

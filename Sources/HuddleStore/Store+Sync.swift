import GRDB
import GRDBSQLite

/// Getting commits to the disk with `Sync.checkpoint`.
///
/// With `synchronous = NORMAL` SQLite syncs the WAL only at a checkpoint, and only when the
/// checkpoint has frames it may copy: a `PASSIVE` checkpoint copies no frame that a reader still
/// needs, and when a reader's snapshot pins everything not yet copied it returns without
/// syncing anything. A replay or `history.fetch` being read, or any `sqlite3` shell left inside a
/// read transaction, then keeps every commit made since in the page cache only, for as long as
/// it lasts. So the daemon syncs the WAL file itself: through SQLite's own handle on it (a file
/// descriptor of our own would be closed, and closing any descriptor of a file drops the
/// process's POSIX locks on it), from a connection kept for nothing else, so that neither a
/// checkpoint copying pages nor the writer waiting for a lock holds it up. Readers cannot delay
/// a sync: it does not look at them.
extension Store {
    public struct SyncFailure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Syncs the WAL to disk. Returns the number of events (all streams, `eventCount()`) that
    /// were committed before the sync began, and so are on disk now.
    public func syncLog() async throws -> Int64 {
        guard let syncer else { return try eventCount() }
        return try await syncer.writeWithoutTransaction { db in
            // Read first, outside any transaction afterwards: what it counted was committed, so
            // it is in the WAL that the sync then writes out.
            let events = try Int64.fetchOne(db, sql: Self.eventsSQL) ?? 0
            try Self.syncJournal(db)
            return events
        }
    }

    /// Takes the write lock and lets it go, writing nothing: whether commits that failed on a
    /// lock held by another process would go through now, for a daemon that may have nothing
    /// else to commit for a while. (A write would prove little more: on a full disk a small one
    /// can still fit where a real batch does not.)
    public func probeWriteLock() async throws {
        try await pool.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE; ROLLBACK") }
    }

    /// Whether `error` is another connection's lock (busy timeout run out), not the disk.
    public static func isLockError(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    /// Writes `lineage` to the side file, on the syncing connection's queue (off the caller's thread).
    public func recordOnDisk(_ lineage: Lineage) async throws {
        guard let syncer else { return try lineage.write(to: Lineage.sideFile(of: path), durable: false) }
        try await syncer.writeWithoutTransaction { _ in
            try lineage.write(to: Lineage.sideFile(of: self.path), durable: false)
        }
    }

    /// `xSync` on the connection's handle of the WAL (`SQLITE_FCNTL_JOURNAL_POINTER`). The WAL is
    /// opened by a connection's first read; the handle stays open, on the same file, until the
    /// connection closes (SQLite starts the WAL over in place rather than making a new file).
    /// SQLite's unix `xSync` also syncs the folder once after the WAL was created.
    static func syncJournal(_ db: Database) throws {
        for attempt in 0..<2 {
            var file: UnsafeMutablePointer<sqlite3_file>?
            let found = withUnsafeMutablePointer(to: &file) { pointer in
                sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_JOURNAL_POINTER, pointer)
            }
            guard found == SQLITE_OK else { throw SyncFailure(description: "cannot reach the WAL (SQLite error \(found))") }
            if let file, let sync = file.pointee.pMethods?.pointee.xSync {
                let result = sync(file, SQLITE_SYNC_NORMAL)
                guard result == SQLITE_OK else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: result), message: "syncing the WAL failed")
                }
                return
            }
            // Not open yet on this connection: a read opens it.
            if attempt == 0 { _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
        }
        throw SyncFailure(description: "the WAL is not open (is the database in WAL mode?)")
    }
}

import Foundation
import GRDB
import HuddleCore
import HuddleProtocol
import Testing

@testable import HuddleStore

/// Restore detection (`Store+Lineage.swift`) and the WAL sync (`Store+Sync.swift`), on real
/// SQLite files in a temporary data folder.
@Suite struct LineageTests {
    let directory: String
    var database: String { "\(directory)/huddle.sqlite" }
    let now = Timestamp(milliseconds: 1_795_425_302_120)

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("huddle-lineage-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func messages(_ seqs: ClosedRange<Int64>) -> [EncodedEvent] {
        seqs.map { EncodedEvent(Event(team: "floor-a", seq: $0, at: now, payload: .message(user: "x", text: "m\($0)"))) }
    }

    /// Stops a daemon's store the way `huddled serve` does: a last sync, recorded exactly.
    func stop(_ store: Store) async throws {
        let events = try await store.syncLog()
        let lineage = try #require(Lineage.read(Lineage.sideFile(of: database)))
        try await store.recordOnDisk(Lineage(databaseID: lineage.databaseID, run: lineage.run, events: events))
        try store.close()
    }

    func restore(_ backup: String) throws {
        for suffix in ["", "-wal", "-shm"] { unlink(database + suffix) }
        try FileManager.default.copyItem(atPath: backup, toPath: database)
    }

    @Test func aBackupOfTheRunningDaemonRestoredLaterIsCaught() async throws {
        var store = try Store(path: database, backgroundCheckpoints: true)
        #expect(try store.beginLineage().restored == nil, "a new database")
        try store.addTeam("floor-a", now: now)
        try await store.commit(messages(1...3))
        let backup = "\(directory)/backup.sqlite"
        try DatabaseQueue(path: database).inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [backup]) }
        try await store.commit(messages(4...8))
        try await stop(store)

        try restore(backup)
        store = try Store(path: database, backgroundCheckpoints: true)
        let reason = try #require(try store.beginLineage().restored)
        #expect(reason.contains("behind"), "\(reason)")
        try await stop(store)
        // From then on the restored database is the folder's own.
        store = try Store(path: database, backgroundCheckpoints: true)
        #expect(try store.beginLineage().restored == nil)
        try store.close()
    }

    @Test func ownRestartsPassAndOtherDatabasesAndOlderRunsAreCaught() async throws {
        var store = try Store(path: database, backgroundCheckpoints: true)
        #expect(try store.beginLineage().restored == nil)
        try store.addTeam("floor-a", now: now)
        try await store.commit(messages(1...2))
        let older = "\(directory)/older.sqlite"
        try store.backup(to: older)
        try store.close()  // as after SIGKILL: no last watermark
        store = try Store(path: database, backgroundCheckpoints: true)
        #expect(try store.beginLineage().restored == nil, "its own database, restarted")
        try await stop(store)

        try restore(older)
        store = try Store(path: database, backgroundCheckpoints: true)
        #expect(try store.beginLineage().restored?.contains("huddled backup") == true, "a copy made by huddled backup says so")
        try store.close()

        // Unmarked, from an earlier run, with nothing lost in between: still an older copy.
        try await DatabaseQueue(path: older).write { db in try db.execute(sql: "DELETE FROM meta WHERE key = 'backup_of'") }
        try restore(older)
        store = try Store(path: database, backgroundCheckpoints: true)
        #expect(try store.beginLineage().restored?.contains("older copy") == true)
        try store.close()

        for suffix in ["", "-wal", "-shm"] { unlink(database + suffix) }  // a database made afresh
        store = try Store(path: database, backgroundCheckpoints: true)
        #expect(try store.beginLineage().restored?.contains("not the database") == true)
        try store.close()

        unlink(Lineage.sideFile(of: database))
        store = try Store(path: database, backgroundCheckpoints: true)
        #expect(try store.beginLineage().restored?.contains("no record") == true)
        try store.close()
    }

    /// A reader inside a transaction pins the WAL: a passive checkpoint then copies nothing (and
    /// with `synchronous = NORMAL` syncs nothing), but `syncLog` covers every commit.
    @Test func theWALIsSyncedWhileAReaderPinsIt() async throws {
        let store = try Store(path: database, sync: .checkpoint, backgroundCheckpoints: true)
        try store.addTeam("floor-a", now: now)
        try await store.commit(messages(1...2))
        _ = try await store.checkpoint()
        var pinning = Configuration()
        pinning.allowsUnsafeTransactions = true  // a read transaction held across accesses
        let reader = try DatabaseQueue(path: database, configuration: pinning)
        try reader.inDatabase { db in
            try db.execute(sql: "BEGIN")
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM events")  // the snapshot starts here
        }
        try await store.commit(messages(3...40))
        let (walPages, checkpointed) = try await store.checkpoint()
        #expect(walPages > checkpointed, "the reader keeps the new frames in the WAL")
        #expect(try await store.syncLog() == 40)
        try reader.inDatabase { db in try db.execute(sql: "COMMIT") }
        try reader.close()
        try store.close()
    }
}

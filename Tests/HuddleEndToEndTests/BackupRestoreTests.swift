import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// Backups as the README tells operators to make them, restored under a history that went on
/// after them: no client may be told that its replay is complete.
@Suite struct BackupRestoreTests {
    static func sqlite(_ database: String, _ sql: String) async throws {
        _ = try await TestDaemon.run("/usr/bin/sqlite3", [database, sql])
    }

    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// Back up while running (with the `sqlite3` shell, or `huddled backup`), commit more, stop,
    /// put the backup back, start, commit until the seqs are where the client saw them on the
    /// lost timeline, and rejoin from there.
    @Test(arguments: ["sqlite3", "huddled backup"])
    func aRestoredBackupNeverClaimsAReplay(tool: String) async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let agent = try await daemon.session(alice)
        for i in 0..<3 {
            _ = try await agent.request("message.send", ["team": "floor-a", "text": .string("before the backup \(i)")])
        }
        let backup = "\(daemon.directory)/backup.sqlite"
        if tool == "sqlite3" {
            try await Self.sqlite("\(daemon.data)/huddle.sqlite", "VACUUM INTO '\(backup)'")
        } else {
            try await daemon.admin(["backup", backup])
        }
        for i in 0..<5 {
            _ = try await agent.request("message.send", ["team": "floor-a", "text": .string("lost with the disk \(i)")])
        }
        let watcher = try await daemon.session(alice)
        let seen = try await watcher.request("team.join", ["team": "floor-a"])
        let epoch = try #require(seen["epoch"]?.stringValue)
        let seenSeq = try #require(seen["seq"]?.intValue)
        await watcher.close()
        await agent.close()
        #expect(try await daemon.stop() == 0)

        let files = FileManager.default
        for suffix in ["", "-wal", "-shm"] where files.fileExists(atPath: "\(daemon.data)/huddle.sqlite\(suffix)") {
            try files.removeItem(atPath: "\(daemon.data)/huddle.sqlite\(suffix)")
        }
        try files.copyItem(atPath: backup, toPath: "\(daemon.data)/huddle.sqlite")
        try await daemon.start()

        let again = try await daemon.session(alice)
        var seq = try #require(try await again.request("team.join", ["team": "floor-a"])["seq"]?.intValue)
        #expect(seq < seenSeq, "the backup is behind what the client saw")
        var sent = 0
        while seq < seenSeq {
            seq = try #require(
                try await again.request("message.send", ["team": "floor-a", "text": .string("new timeline \(sent)")])["seq"]?.intValue)
            sent += 1
        }
        let back = try await daemon.session(alice)
        let rejoined = try await back.request(
            "team.join", ["team": "floor-a", "since": ["epoch": .string(epoch), "seq": .int(seenSeq)]])
        #expect(rejoined["recovered"] == false)
        #expect(rejoined["epoch"]?.stringValue != epoch)
        #expect(daemon.log.contains(tool == "sqlite3" ? "behind its own history" : "restored from a backup made by huddled backup"))
        #expect(try await daemon.stop() == 0)
    }

    /// A daemon stopped and started again from its own database keeps its epochs (the restore
    /// check does not fire on an ordinary restart, nor after SIGKILL).
    @Test func anOrdinaryRestartKeepsItsEpochs() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        for stop in ["SIGTERM", "SIGKILL"] {
            try await daemon.start()
            let peer = try await daemon.session(alice)
            _ = try await peer.request("message.send", ["team": "floor-a", "text": .string("before \(stop)")])
            let seen = try await peer.request("team.join", ["team": "floor-a"])
            await peer.close()
            if stop == "SIGTERM" { #expect(try await daemon.stop() == 0) } else { try await daemon.kill9() }
            try await daemon.start()
            let back = try await daemon.session(alice)
            let rejoined = try await back.request(
                "team.join", ["team": "floor-a", "since": ["epoch": seen["epoch"] ?? .null, "seq": seen["seq"] ?? 0]])
            #expect(rejoined["recovered"] == true, "after \(stop)")
            #expect(rejoined["epoch"] == seen["epoch"], "after \(stop)")
            await back.close()
            #expect(try await daemon.stop() == 0)
        }
    }

    /// Under umask 022, in a data folder the operator made 0755 with a stale world-readable
    /// `admin.token` in it: the folder ends 0700 and every file with secrets in it 0600.
    @Test func secretsArePrivateWhoeverMadeTheFolder() async throws {
        let previous = umask(0o022)
        defer { umask(previous) }
        let daemon = try TestDaemon()
        try FileManager.default.createDirectory(
            atPath: daemon.data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        #expect(FileManager.default.createFile(
            atPath: "\(daemon.data)/admin.token", contents: Data("stale\n".utf8), attributes: [.posixPermissions: 0o644]))
        try await daemon.addTeam("floor-a")
        #expect(try Self.mode(daemon.data) == 0o700, "an admin command tightens the folder")
        #expect(try Self.mode("\(daemon.data)/huddle.sqlite") == 0o600)
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: daemon.data)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(daemon.data)/huddle.sqlite")
        try await daemon.start()
        #expect(daemon.log.contains("made the data folder private"))
        let peer = try await daemon.session(alice)
        _ = try await peer.request("message.send", ["team": "floor-a", "text": "hello"])
        #expect(try Self.mode(daemon.data) == 0o700)
        for file in ["huddle.sqlite", "huddle.sqlite-wal", "huddle.sqlite-shm", "admin.token"] {
            #expect(try Self.mode("\(daemon.data)/\(file)") == 0o600, "\(file)")
        }
        #expect(try String(contentsOfFile: "\(daemon.data)/admin.token", encoding: .utf8) != "stale\n")
        let backup = "\(daemon.directory)/backup.sqlite"
        try await daemon.admin(["backup", backup])
        #expect(try Self.mode(backup) == 0o600)
        await peer.close()
        #expect(try await daemon.stop() == 0)
    }
}

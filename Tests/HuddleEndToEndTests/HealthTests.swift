import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// `/healthz` says whether the daemon can do its job, not only that it is up: a store whose
/// commits fail, and a WAL that no longer reaches the disk, answer 503 with the reason.
@Suite struct HealthTests {
    /// A `sqlite3` shell kept inside a transaction through a pipe, as Prove/locked_db.py does:
    /// `BEGIN EXCLUSIVE` holds the write lock, a plain `BEGIN` and a read pins the WAL.
    final class SQLiteShell: @unchecked Sendable {
        let process: ChildProcess
        var input: FileHandle { process.input! }
        var output: FileHandle { process.output! }

        init(database: String, begin: String) throws {
            process = try ChildProcess(["/usr/bin/sqlite3", database], stdin: .pipe, stdout: .pipe)
            // The daemon writes now and then itself: wait our turn for the lock.
            input.write(Data(".timeout 20000\n\(begin);\nSELECT count(*) FROM events;\n".utf8))
        }

        /// Waits (off the cooperative pool) until the shell has printed the count, i.e. it is
        /// inside its transaction.
        func waitInside() async -> String {
            await offThePool { String(decoding: self.output.availableData, as: UTF8.self) }
        }

        static func isHeld(_ database: String) async throws -> Bool {
            let probe = try await TestDaemon.run(
                "/usr/bin/sqlite3", [database, ".timeout 0", "BEGIN IMMEDIATE;", "ROLLBACK;"], check: false)
            return probe.stderr.contains("locked") || probe.stderr.contains("busy")
        }

        func release() {
            input.write(Data("ROLLBACK;\n.quit\n".utf8))
            try? input.close()
            process.waitUntilExit()
        }

        deinit { process.signal(SIGKILL) }
    }

    static func health(_ daemon: TestDaemon) async throws -> HTTPTests.Reply {
        try await HTTPTests.curl(["--cacert", daemon.certificate, "https://127.0.0.1:\(daemon.httpPort)/healthz"])
    }

    @Test func aLockedDatabaseMakesTheHealthCheckFail() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.session(sam)
        _ = try await peer.request("message.send", ["team": "floor-a", "text": "before the lock"])
        let healthy = try await Self.health(daemon)
        #expect(healthy.status == 200, "\(healthy)")
        #expect(healthy.json == ["status": "ok"])

        let database = "\(daemon.data)/huddle.sqlite"
        let holder = try SQLiteShell(database: database, begin: "BEGIN EXCLUSIVE")
        let deadline = ContinuousClock.now + .seconds(25)
        while try await !SQLiteShell.isHeld(database) {
            #expect(ContinuousClock.now < deadline, "sqlite3 got the write lock")
            guard ContinuousClock.now < deadline else { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        do {
            _ = try await peer.request("message.send", ["team": "floor-a", "text": "under the lock"])
            Issue.record("a change was committed under another process's exclusive lock")
        } catch let error as RPCError {
            #expect(error.code == .internalError)
        }
        let failing = try await Self.health(daemon)
        #expect(failing.status == 503, "\(failing)")
        #expect(failing.json?["status"] == "failing")
        #expect(failing.body.contains("commit"), "the answer says what fails: \(failing.body)")

        holder.release()
        // Nobody commits: the daemon's own probe finds that commits go through again.
        let recovered = ContinuousClock.now + .seconds(10)
        var again = try await Self.health(daemon)
        while again.status != 200, ContinuousClock.now < recovered {
            try await Task.sleep(for: .milliseconds(100))
            again = try await Self.health(daemon)
        }
        #expect(again.status == 200, "/healthz is ok again within 10 s of the release: \(again)")
        _ = try await peer.request("message.send", ["team": "floor-a", "text": "after the lock"])
        await peer.close()
        #expect(try await daemon.stop() == 0)
    }

    static func metric(_ daemon: TestDaemon, _ name: String) async throws -> Double? {
        let text = try await HTTPTests.curl(["--cacert", daemon.certificate, "https://127.0.0.1:\(daemon.httpPort)/metrics"]).body
        let line = text.split(separator: "\n").first { $0.hasPrefix("\(name) ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// A reader left inside a transaction pins the WAL, and a passive checkpoint then syncs
    /// nothing: commits go on, and so do the daemon's own WAL syncs.
    @Test func walSyncsGoOnWhileAReaderPinsTheLog() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.session(sam)
        _ = try await peer.request("message.send", ["team": "floor-a", "text": "before the reader"])
        let reader = try SQLiteShell(database: "\(daemon.data)/huddle.sqlite", begin: "BEGIN")
        #expect(await !reader.waitInside().isEmpty)
        for i in 0..<20 {
            _ = try await peer.request("message.send", ["team": "floor-a", "text": .string("while pinned \(i)")])
        }
        let committed = Date().timeIntervalSince1970
        // Waits for a sync that began after the last commit was acknowledged.
        let deadline = ContinuousClock.now + .seconds(5)
        var synced = try await Self.metric(daemon, "huddle_wal_synced_timestamp_seconds") ?? 0
        while synced <= committed, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            synced = try await Self.metric(daemon, "huddle_wal_synced_timestamp_seconds") ?? 0
        }
        #expect(synced > committed, "a WAL sync began after the last commit while the reader pinned the log")
        #expect(try await Self.metric(daemon, "huddle_wal_sync_failures_total") == 0)
        #expect(try await Self.health(daemon).status == 200)
        reader.release()
        await peer.close()
        #expect(try await daemon.stop() == 0)
    }
}

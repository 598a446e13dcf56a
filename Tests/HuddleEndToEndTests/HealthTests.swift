import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// `/healthz` says whether the daemon can do its job, not only that it is up: a store whose
/// commits fail, and a WAL that no longer reaches the disk, answer 503 with the reason.
@Suite struct HealthTests {
    /// `sqlite3` holding the write lock (`BEGIN EXCLUSIVE`) through a pipe, as Prove/locked_db.py does.
    final class LockHolder {
        let process = Process()
        let input = Pipe()

        init(database: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [database]
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The daemon writes now and then itself: wait our turn for the lock.
            input.fileHandleForWriting.write(Data(".timeout 20000\nBEGIN EXCLUSIVE;\nSELECT 1;\n".utf8))
        }

        static func isHeld(_ database: String) throws -> Bool {
            let probe = try TestDaemon.run(
                "/usr/bin/sqlite3", [database, ".timeout 0", "BEGIN IMMEDIATE;", "ROLLBACK;"], check: false)
            return probe.stderr.contains("locked") || probe.stderr.contains("busy")
        }

        func release() {
            input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    static func health(_ daemon: TestDaemon) throws -> HTTPTests.Reply {
        try HTTPTests.curl(["--cacert", daemon.certificate, "https://127.0.0.1:\(daemon.httpPort)/healthz"])
    }

    @Test func aLockedDatabaseMakesTheHealthCheckFail() async throws {
        let daemon = try TestDaemon()
        try daemon.addTeam("floor-a")
        let sam = try daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.session(sam)
        _ = try await peer.request("message.send", ["team": "floor-a", "text": "before the lock"])
        let healthy = try Self.health(daemon)
        #expect(healthy.status == 200, "\(healthy)")
        #expect(healthy.json == ["status": "ok"])

        let database = "\(daemon.data)/huddle.sqlite"
        let holder = try LockHolder(database: database)
        let deadline = ContinuousClock.now + .seconds(25)
        while try !LockHolder.isHeld(database) {
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
        let failing = try Self.health(daemon)
        #expect(failing.status == 503, "\(failing)")
        #expect(failing.json?["status"] == "failing")
        #expect(failing.body.contains("commit"), "the answer says what fails: \(failing.body)")

        holder.release()
        _ = try await peer.request("message.send", ["team": "floor-a", "text": "after the lock"])
        let again = try Self.health(daemon)
        #expect(again.status == 200, "\(again)")
        await peer.close()
        #expect(try await daemon.stop() == 0)
    }
}

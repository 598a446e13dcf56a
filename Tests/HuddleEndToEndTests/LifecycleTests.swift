import Foundation
import HuddleClient
import HuddleProtocol
import Testing

@Suite struct LifecycleTests {
    @Test func sigtermTellsEveryClientAndExitsZero() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        var peers: [Peer] = []
        for _ in 0..<3 { peers.append(try await daemon.session(alice)) }
        let anonymous = try await daemon.connect()
        daemon.signal(SIGTERM)
        for peer in peers + [anonymous] {
            #expect(try await peer.waitForEnd(within: .seconds(10)) == "shutdown")
        }
        #expect(try await daemon.waitForExit(timeout: .seconds(15)) == 0)
    }

    @Test func sighupReloadsWithoutDroppingSessionsAndKeepsAGoodCertificate() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.session(alice)
        let original = try String(contentsOfFile: daemon.certificate, encoding: .utf8)

        // A broken new certificate: refused with a reason, the old one stays in service.
        try "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n".write(
            toFile: daemon.certificate, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        try await waitForLog(daemon, "certificate reload failed")
        #expect(try await peer.request("session.ping") == [:])
        try original.write(toFile: daemon.certificate, atomically: true, encoding: .utf8)
        let fresh = try await daemon.session(alice)
        #expect(try await fresh.request("session.ping") == [:])

        daemon.signal(SIGHUP)
        try await waitForLog(daemon, "certificate reloaded")
        #expect(try await peer.request("session.ping") == [:])
        #expect(try await daemon.stop() == 0)
    }

    @Test func sighupAppliesANewConfigurationToNewConnectionsAndWarnsAboutRestartOnlyKeys() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("huddle-conf-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try "max-sessions-per-user = 4\nlog-level = info\n".write(toFile: scratch, atomically: true, encoding: .utf8)
        let daemon = try TestDaemon(arguments: ["--config", scratch])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let first = try await daemon.session(alice)
        let second = try await daemon.session(alice)

        try "max-sessions-per-user = 2\nlog-level = debug\nplaintext = true\n".write(
            toFile: scratch, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        try await waitForLog(daemon, "log level is now debug")
        try await waitForLog(daemon, "plaintext changed to true; it takes effect only after a restart")
        // The open sessions stay; a third one is refused under the new cap.
        #expect(try await first.request("session.ping") == [:])
        #expect(try await second.request("session.ping") == [:])
        // Debug lines reach the log from now on (every new connection logs one), not before.
        #expect(!daemon.log.contains("connection opened"))
        let third = try await daemon.connect()
        try await waitForLog(daemon, "connection opened")
        do {
            _ = try await third.request("session.hello", ["token": .string(alice), "client": "e2e"])
            Issue.record("a third session was accepted under a cap of 2")
        } catch let error as RPCError {
            #expect(error.code == .forbidden && error.data?["max"] == 2)
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test func adminChangesApplyWhileTheDaemonRuns() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let session = try await daemon.session(alice)

        // A user added now can sign in at once.
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        let bobSession = try await daemon.session(bob)
        #expect(try await bobSession.request("session.ping") == [:])

        // Rotating a token ends the sessions opened with the old one and refuses it.
        let output = try await daemon.admin(["user", "token", "alice"])
        let newToken = String(output.split(separator: "\n").last ?? "")
        #expect(try await session.waitForEnd(within: .seconds(10)) == "token_revoked")
        let retry = try await daemon.connect()
        await #expect(throws: RPCError.self) {
            try await retry.request("session.hello", ["token": .string(alice), "client": "x"])
        }
        _ = try await retry.request("session.hello", ["token": .string(newToken), "client": "x"])

        // Removing a user ends their sessions too.
        try await daemon.admin(["user", "remove", "bob"])
        #expect(try await bobSession.waitForEnd(within: .seconds(10)) == "token_revoked")
        #expect(try await daemon.stop() == 0)
    }

    func waitForLog(_ daemon: TestDaemon, _ text: String) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !daemon.log.contains(text) {
            guard ContinuousClock.now < deadline else { throw TestDaemon.Failure(description: "no '\(text)' in the log") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

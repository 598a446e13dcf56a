import HuddleClient
import HuddleProtocol
import Testing

@Suite struct PresenceTests {
    func presence(_ peer: Peer, user: String, within: Duration = .seconds(5)) async throws -> Bool? {
        let found = try await peer.next(within: within) {
            if case .event(let e) = $0 { return e.type == "presence" && e["user"] == .string(user) }
            return false
        }
        guard case .event(let event) = found else { return nil }
        return event["connected"]?.boolValue
    }

    @Test func anAbruptCloseTurnsPresenceFalseAfterTheGrace() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request("policy.set", ["team": "floor-a", "policy": ["presence_grace_s": 1], "comment": "test"])
        _ = try await supervisor.request("team.join", ["team": "floor-a"])

        let agent = try await daemon.session(alice)
        #expect(try await presence(supervisor, user: "alice") == true)
        _ = try await agent.request("status.set", ["status": "available"])
        // Two sessions count as one: closing one changes nothing.
        let second = try await daemon.session(alice)
        await second.close()
        try await Task.sleep(for: .milliseconds(1500))
        #expect(await supervisor.pending().contains { if case .event(let e) = $0 { return e.type == "presence" } else { return false } } == false)
        // An abrupt close (no session.bye): false after the grace, and the status is kept.
        let dropped = ContinuousClock.now
        await agent.close()
        #expect(try await presence(supervisor, user: "alice", within: .seconds(5)) == false)
        #expect(ContinuousClock.now - dropped >= .milliseconds(900))
        let snapshot = try await supervisor.request("team.join", ["team": "floor-a"])["snapshot"]
        let member = snapshot?["members"]?.arrayValue?.first { $0["user"] == "alice" }
        #expect(member?["connected"] == false)
        #expect(member?["status"] == "available")
        // Coverage stopped counting alice at the drop.
        #expect(snapshot?["coverage"]?["available"] == 0)
        #expect(try await daemon.stop() == 0)
    }

    @Test func aQuickReconnectDoesNotFlap() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request("policy.set", ["team": "floor-a", "policy": ["presence_grace_s": 5], "comment": "test"])
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let agent = try await daemon.session(alice)
        #expect(try await presence(supervisor, user: "alice") == true)
        await agent.close()
        try await Task.sleep(for: .milliseconds(300))
        _ = try await daemon.session(alice)
        try await Task.sleep(for: .seconds(6))
        let flaps = await supervisor.pending().filter { if case .event(let e) = $0 { return e.type == "presence" } else { return false } }
        #expect(flaps.isEmpty)
        #expect(try await daemon.stop() == 0)
    }

    @Test func byeSetsOfflineAndCloses() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let agent = try await daemon.session(alice)
        _ = try await agent.request("status.set", ["status": "available"])
        #expect(try await agent.request("session.bye") == [:])
        let offline = try await supervisor.nextEvent(type: "status")
        #expect(offline["status"] == "available")
        let next = try await supervisor.nextEvent(type: "status")
        #expect(next["status"] == "offline" && next["by"] == "alice")
        #expect(try await daemon.stop() == 0)
    }
}

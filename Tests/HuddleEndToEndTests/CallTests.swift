import HuddleClient
import HuddleProtocol
import Testing

/// `phone.update` against the real daemon: a call's events, snapshots and timers, and a call in
/// progress across a SIGKILL.
@Suite struct CallE2ETests {
    @Test func aCallOnHoldSurvivesAKillAndItsCheckInsComeFromTheStoredStart() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let pbx = try await daemon.addUser("pbx", role: .bot, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        // Check-ins every 2 s and the long-hold alert at 5 s, so that the test sees both.
        _ = try await supervisor.request(
            "policy.set",
            ["team": "floor-a", "policy": ["min_available": 0, "calls": ["hold_checkin_s": 2, "hold_alert_after_s": 5]], "comment": "test"])
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let agent = try await daemon.session(alice)
        _ = try await agent.request("status.set", ["status": "available"])
        let bridge = try await daemon.session(pbx)
        let result = try await bridge.request(
            "phone.update", ["user": "alice", "logged_in": true, "call": ["id": "contact-1", "state": "on_hold"]])
        let seq = try #require(result["seqs"]?["floor-a"]?.intValue)
        let call = try await supervisor.nextEvent(type: "call")
        #expect(call.seq == seq && call["state"] == "on_hold" && call["muted"] == false && call["id"] == nil)
        let heldSince = try #require(call["since"]?.stringValue)
        let reminder = try await agent.next(within: .seconds(4)) { if case .reminder = $0 { true } else { false } }
        guard case .reminder(let checkIn) = reminder else { throw TestDaemon.Failure(description: "not a reminder") }
        #expect(checkIn["about"] == "hold" && checkIn["since"]?.stringValue == heldSince)

        // SIGKILL: the call is in the store, with when the hold began.
        try await daemon.kill9()
        try await daemon.start()
        let again = try await daemon.session(sam)
        let snapshot = try #require(try await again.request("team.join", ["team": "floor-a"])["snapshot"])
        let member = try #require(snapshot["members"]?.arrayValue?.first { $0["user"] == "alice" })
        #expect(member["call"]?["state"] == "on_hold" && member["call"]?["since"]?.stringValue == heldSince)
        #expect(member["phone_logged_in"] == true)
        // The long-hold alert counts from the stored start, not from the restart.
        let longHold = try await again.nextEvent(within: .seconds(8), type: "alert") { $0["kind"] == "long_hold" }
        #expect(longHold["user"] == "alice")
        // The bridge knows the call by its id after the restart: taking the customer back closes the alert.
        let robot = try await daemon.session(pbx)
        _ = try await robot.request("phone.update", ["user": "alice", "call": ["id": "contact-1", "state": "talking"]])
        let closed = try await again.nextEvent(type: "alert_ack") { $0["alert"] == longHold["alert"] }
        #expect(closed["by"] == "system")
        _ = try await robot.request("phone.update", ["user": "alice", "call": ["id": "contact-1", "state": "ended"]])
        let acw = try await again.nextEvent(type: "status") { $0["user"] == "alice" }
        #expect(acw["status"] == "after_call_work" && acw["by"] == "system")
        #expect(try await daemon.stop() == 0)
    }

    @Test func huddlePhoneReportsACallForAScript() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let pbx = try await daemon.addUser("pbx", role: .bot, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        _ = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        func huddle(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            let login = ["--server", "127.0.0.1:\(daemon.port)", "--token", pbx, "--ca", daemon.certificate]
            let run = try await TestDaemon.run(TestDaemon.huddle, arguments + login, check: false)
            return (run.status, run.stdout, run.stderr)
        }
        let talking = try await huddle(["phone", "alice", "--call", "talking", "--logged-in"])
        #expect(talking.status == 0, "\(talking.stderr)")
        #expect(talking.stdout.contains("Phone of alice updated"))
        #expect(try await supervisor.nextEvent(type: "call")["state"] == "talking")
        let hold = try await huddle(["phone", "alice", "--call", "on_hold", "--json"])
        #expect(hold.status == 0)
        #expect(hold.stdout.contains("\"seqs\""))
        #expect(try await supervisor.nextEvent(type: "call")["state"] == "on_hold")
        let bad = try await huddle(["phone", "alice"])
        #expect(bad.status == 2, "nothing said of the phone is a usage error")
        let supervisorIsNoAgent = try await huddle(["phone", "sam", "--call", "talking"])
        #expect(supervisorIsNoAgent.status != 0 && supervisorIsNoAgent.stderr.contains("not an agent"))
        #expect(try await daemon.stop() == 0)
    }
}

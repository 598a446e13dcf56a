import HuddleClient
import HuddleProtocol
import Testing

@Suite struct QueueReportE2ETests {
    @Test func aBotsReportsRaiseAndClearAlertsAndTightenTheRules() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let bot = try await daemon.addUser("qbot", role: .bot, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        var agents: [Peer] = []
        var tokens: [String] = []
        for name in ["alice", "bob", "carol", "dan"] { tokens.append(try await daemon.addUser(name, role: .agent, teams: ["floor-a"])) }
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request(
            "policy.set", ["team": "floor-a", "policy": ["min_available": 1, "max_on_break": 3], "comment": "test"])
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        for token in tokens {
            let peer = try await daemon.session(token)
            _ = try await peer.request("status.set", ["status": "available"])
            agents.append(peer)
        }
        let robot = try await daemon.session(bot)

        // A hot queue: the team sees the report, supervisors get an alert, breaks wait.
        let hot = try await robot.request(
            "queue.report", ["team": "floor-a", "calls_waiting": 14, "oldest_wait_s": 95, "calls_per_hour": 120, "aht_s": 240, "note": "Monday rush"])
        let seq = try #require(hot["seq"]?.intValue)
        let event = try await supervisor.nextEvent(type: "queue")
        #expect(event.seq == seq && event["calls_waiting"] == 14 && event["by"] == "qbot" && event["pressure"] == true)
        let alert = try await supervisor.nextEvent(type: "alert") { $0["kind"] == "queue_pressure" }
        #expect(alert.stream == .supervisors)
        do {
            _ = try await agents[0].request("status.set", ["status": "break"])
            Issue.record("a break was granted under queue pressure")
        } catch let error as RPCError {
            #expect(error.data?["rule"] == "queue_pressure")
            #expect(error.data?["queue"]?["calls_waiting"] == 14)
        }
        #expect(try await agents[0].request("status.set", ["status": "meeting"])["decision"] == "granted")
        // Hovering just under the threshold does not clear it; a real recovery does.
        _ = try await robot.request("queue.report", ["team": "floor-a", "calls_waiting": 9, "oldest_wait_s": 30])
        await #expect(throws: RPCError.self) { try await agents[1].request("status.set", ["status": "lunch"]) }
        _ = try await robot.request("queue.report", ["team": "floor-a", "calls_waiting": 2, "oldest_wait_s": 30])
        let cleared = try await supervisor.nextEvent(type: "alert_ack") { $0["by"] == "system" }
        #expect(cleared["alert"] == alert["alert"])
        #expect(try await agents[1].request("status.set", ["status": "lunch"])["decision"] == "granted")

        // A node outage freezes time off the phones until a report says every node is back.
        _ = try await robot.request(
            "queue.report", ["team": "floor-a", "calls_waiting": 0, "oldest_wait_s": 0, "nodes_out": [["node": "sw-3", "city": "Lyon"]]])
        let outage = try await supervisor.nextEvent(type: "alert") { $0["kind"] == "node_outage" }
        #expect(outage["severity"] == "critical")
        do {
            _ = try await agents[2].request("status.set", ["status": "training"])
            Issue.record("training was granted during a node outage")
        } catch let error as RPCError {
            #expect(error.data?["rule"] == "node_outage")
            #expect(error.data?["queue"]?["nodes_out"]?.arrayValue?.first?["city"] == "Lyon")
        }
        _ = try await robot.request("queue.report", ["team": "floor-a", "calls_waiting": 0, "oldest_wait_s": 0, "nodes_out": []])
        _ = try await supervisor.nextEvent(type: "alert_ack") { $0["alert"] == outage["alert"] }
        #expect(try await agents[2].request("status.set", ["status": "training"])["decision"] == "granted")

        // The snapshot carries the latest report; agents may not report.
        let snapshot = try await supervisor.request("team.join", ["team": "floor-a"])["snapshot"]
        #expect(snapshot?["queue"]?["calls_waiting"] == 0)
        await #expect(throws: RPCError.self) {
            try await agents[3].request("queue.report", ["team": "floor-a", "calls_waiting": 1, "oldest_wait_s": 1])
        }
        await #expect(throws: RPCError.self) {
            try await robot.request("queue.report", ["team": "floor-a", "calls_waiting": -1, "oldest_wait_s": 1])
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test func autoStaffingShowsTheErlangFigureInCoverage() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let bot = try await daemon.addUser("qbot", role: .bot, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        _ = try await supervisor.request(
            "policy.set", ["team": "floor-a", "policy": ["min_available": "auto", "shrinkage_floor": 2], "comment": "staff from the queue"])
        let robot = try await daemon.session(bot)
        _ = try await robot.request(
            "queue.report", ["team": "floor-a", "calls_waiting": 3, "oldest_wait_s": 10, "calls_per_hour": 60, "aht_s": 300])
        let coverage = try await supervisor.nextEvent(type: "coverage") { $0["required"] == 8 }
        #expect(coverage["required_from"]?["calls_per_hour"]?.doubleValue == 60)
        #expect(coverage["required_from"]?["target"]?.doubleValue == 0.8)
        let snapshot = try await supervisor.request("team.join", ["team": "floor-a"])["snapshot"]
        #expect(snapshot?["coverage"]?["required"] == 8)

        // The figure comes from the stored report after a restart (SIGKILL: nothing flushed on
        // the way out), and an agent's break is still held to it.
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.kill9()
        try await daemon.start()
        let again = try await daemon.session(sam)
        let rejoined = try await again.request("team.join", ["team": "floor-a"])["snapshot"]
        #expect(rejoined?["coverage"]?["required"] == 8)
        #expect(rejoined?["coverage"]?["required_from"]?["aht_s"]?.doubleValue == 300)
        let agent = try await daemon.session(alice)
        _ = try await agent.request("status.set", ["status": "available"])
        do {
            _ = try await agent.request("status.set", ["status": "break"])
            Issue.record("a break was granted with 8 agents required")
        } catch let error as RPCError {
            #expect(error.data?["rule"] == "min_available" && error.data?["required"] == 8)
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test func missingReportsAreNoticed() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        _ = try await supervisor.request(
            "policy.set", ["team": "floor-a", "policy": ["queue_report_every_s": 1], "comment": "the bot reports every second"])
        let missing = try await supervisor.nextEvent(within: .seconds(4), type: "alert") { $0["kind"] == "queue_report_missing" }
        #expect(missing["severity"] == "warning")
        // Once per silence, also across a restart: acknowledged and restarted, nothing new.
        _ = try await supervisor.request("alert.ack", ["alert": .int(try #require(missing["alert"]?.intValue))])
        try await daemon.kill9()
        try await daemon.start()
        let again = try await daemon.session(sam)
        _ = try await again.request("team.join", ["team": "floor-a"])
        try await Task.sleep(for: .seconds(2))
        #expect(await again.pending().allSatisfy { if case .event(let e) = $0 { e["kind"] != "queue_report_missing" } else { true } })
        #expect(try await daemon.stop() == 0)
    }
}

extension QueueReportE2ETests {
    @Test func aScriptPostsWithHuddleQueue() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let bot = try await daemon.addUser("qbot", role: .bot, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let output = try await TestDaemon.run(
            TestDaemon.huddle,
            [
                "queue", "--server", "127.0.0.1:\(daemon.port)", "--token", bot, "--ca", daemon.certificate, "--waiting", "4",
                "--oldest", "35", "--calls-per-hour", "90", "--aht", "200", "--node", "sw-3@Lyon", "--note", "from cron",
            ], check: false)
        #expect(output.status == 0, "\(output.stderr)")
        let event = try await supervisor.nextEvent(type: "queue")
        #expect(event["calls_waiting"] == 4 && event["note"] == "from cron")
        #expect(event["nodes_out"]?.arrayValue?.first?["city"] == "Lyon")
        let usage = try await TestDaemon.run(TestDaemon.huddle, ["queue", "--waiting", "1", "--oldest", "1", "--node", "no-city"], check: false)
        #expect(usage.status == 2)
        #expect(try await daemon.stop() == 0)
    }
}

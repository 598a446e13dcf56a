import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// SPEC §14 against the real daemon: the queue report asked of agents on a rota, answered with
/// `huddle queue` the way the floor's 30-minute page was, and kept across a SIGKILL.
@Suite struct QueueRotaE2ETests {
    struct Floor {
        let daemon: TestDaemon
        let tokens: [String: String]
        let supervisor: Peer
        var agents: [String: Peer]
    }

    /// alice and bob (agents, Available), sam (supervisor, joined); reports every `every` seconds
    /// from agents, with `grace` to answer.
    func floor(every: Int64 = 1, grace: Int64 = 300, daemon existing: TestDaemon? = nil) async throws -> Floor {
        let daemon = try existing ?? TestDaemon()
        try await daemon.addTeam("floor-a")
        var tokens: [String: String] = [:]
        for name in ["alice", "bob"] { tokens[name] = try await daemon.addUser(name, role: .agent, teams: ["floor-a"]) }
        tokens["sam"] = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(tokens["sam"] ?? "")
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        var agents: [String: Peer] = [:]
        for name in ["alice", "bob"] {
            let peer = try await daemon.session(tokens[name] ?? "")
            _ = try await peer.request("status.set", ["status": "available"])
            agents[name] = peer
        }
        _ = try await supervisor.request(
            "policy.set",
            [
                "team": "floor-a", "comment": "the 30-minute report, by agents",
                "policy": [
                    "min_available": 0, "max_on_break": 2, "queue_report_by": "agents", "queue_report_every_s": .int(every),
                    "queue_report_grace_s": .int(grace),
                ],
            ])
        return Floor(daemon: daemon, tokens: tokens, supervisor: supervisor, agents: agents)
    }

    func due(_ peer: Peer, within timeout: Duration = .seconds(10)) async throws -> QueueReportDue {
        let found = try await peer.next(within: timeout) { if case .queueReportDue = $0 { true } else { false } }
        guard case .queueReportDue(let due) = found else { throw TestDaemon.Failure(description: "not a request") }
        return due
    }

    func report(_ peer: Peer, waiting: Int64 = 4) async throws -> JSONValue {
        try await peer.request("queue.report", ["team": "floor-a", "calls_waiting": .int(waiting), "oldest_wait_s": 95])
    }

    func refusal(_ work: () async throws -> JSONValue) async -> RPCError? {
        do {
            _ = try await work()
            return nil
        } catch let error as RPCError {
            return error
        } catch {
            return nil
        }
    }

    @Test func twoAgentsTakeTurnsAndOnlyTheAskedOneMayReport() async throws {
        let f = try await floor()
        let (alice, bob) = (try #require(f.agents["alice"]), try #require(f.agents["bob"]))
        // Bob follows with huddle watch, as an agent with a session open would.
        let watch = try ChildProcess(
            [TestDaemon.huddle, "watch", "--server", "127.0.0.1:\(f.daemon.port)", "--token", f.tokens["bob"] ?? "", "--ca", f.daemon.certificate],
            stdout: .pipe)
        defer { watch.terminate() }

        // Alice is asked first (never asked, and first by name), to her alone.
        let first = try await due(alice)
        #expect(first.team == "floor-a" && first.dueBy == first.askedAt.adding(seconds: 300))
        let asked = try await f.supervisor.nextEvent(type: "queue_report_asked")
        #expect(asked.stream == .supervisors && asked["user"] == "alice" && asked["reason"] == "due")
        // Bob was not asked.
        let notAsked = await refusal { try await report(bob) }
        #expect(notAsked?.code == .forbidden && notAsked?.message.contains("alice was") == true)
        // Alice answers: the same queue event as a bot's, by her.
        _ = try await report(alice, waiting: 7)
        let posted = try await f.supervisor.nextEvent(type: "queue")
        #expect(posted["by"] == "alice" && posted["calls_waiting"] == 7)
        // A second report for the same request is refused.
        let again = await refusal { try await report(alice) }
        #expect(again?.code == .forbidden)

        // A second later it is Bob's turn; he answers with huddle queue, as the page asked it.
        let second = try await due(bob)
        #expect(second.askedAt > first.askedAt)
        let cli = try ChildProcess(
            [
                TestDaemon.huddle, "queue", "--ask", "--team", "floor-a", "--server", "127.0.0.1:\(f.daemon.port)",
                "--token", f.tokens["bob"] ?? "", "--ca", f.daemon.certificate,
            ], stdin: .pipe, stdout: .pipe, stderr: .pipe)
        cli.input?.write(Data("3\n2:30\ny\nsw-3\nLyon\nn\nnode down since 10:05\n".utf8))
        try cli.input?.close()
        let printed = await offThePool { String(decoding: cli.output?.readDataToEndOfFile() ?? Data(), as: UTF8.self) }
        let questions = await offThePool { String(decoding: cli.errors?.readDataToEndOfFile() ?? Data(), as: UTF8.self) }
        cli.waitUntilExit()
        #expect(cli.terminationStatus == 0, "\(printed)\(questions)")
        #expect(printed.contains("Queue report posted to floor-a"), "\(printed)")
        #expect(questions.contains("Calls in queue") && questions.contains("Minutes the oldest call has waited"), "\(questions)")
        let bobs = try await f.supervisor.nextEvent(type: "queue") { $0["by"] == "bob" }
        #expect(bobs["calls_waiting"] == 3 && bobs["oldest_wait_s"] == 150 && bobs["note"] == "node down since 10:05")
        #expect(bobs["nodes_out"]?.arrayValue?.first?["city"] == "Lyon" && bobs["node_outage"] == true)
        _ = try await f.supervisor.nextEvent(type: "alert") { $0["kind"] == "node_outage" }

        // Then Alice's turn again.
        _ = try await due(alice)
        let third = try await f.supervisor.nextEvent(type: "queue_report_asked") { $0["user"] == "alice" }
        #expect(third["reason"] == "due")

        // Bob's watch printed his request with the command that answers it.
        try await Task.sleep(for: .milliseconds(300))
        watch.interrupt()
        let watched = await offThePool { String(decoding: watch.output?.readDataToEndOfFile() ?? Data(), as: UTF8.self) }
        watch.waitUntilExit()
        #expect(watched.contains("Queue report asked of you") && watched.contains("huddle queue --team floor-a"), "\(watched)")
        #expect(try await f.daemon.stop() == 0)
    }

    @Test func aBreakADisconnectAndSilencePassTheTurnOn() async throws {
        let f = try await floor(grace: 2)
        let (alice, bob) = (try #require(f.agents["alice"]), try #require(f.agents["bob"]))
        _ = try await due(alice)
        // Alice goes on a break: Bob is asked at once.
        _ = try await alice.request("status.set", ["status": "break", "note": "15"])
        let passed = try await f.supervisor.nextEvent(type: "queue_report_asked") { $0["user"] == "bob" }
        #expect(passed["reason"] == "unavailable")
        _ = try await due(bob)
        // Bob does not answer within the grace: supervisors are told; nobody else can be asked.
        let missing = try await f.supervisor.nextEvent(type: "alert") { $0["kind"] == "queue_report_missing" }
        #expect(missing["user"] == "bob" && missing["text"]?.stringValue?.contains("nobody else") == true)
        // Bob's connection drops: once his presence turns false (grace 10 s) nobody is asked,
        // and no second alert is raised for the same request.
        await bob.close()
        let nobody = try await f.supervisor.nextEvent(within: .seconds(20), type: "queue_report_asked") { $0["user"] == .null }
        #expect(nobody["reason"] == "unavailable")
        // Alice back from her break is asked, and her report clears the alert.
        _ = try await alice.request("status.set", ["status": "available"])
        let back = try await f.supervisor.nextEvent(type: "queue_report_asked") { $0["user"] == "alice" }
        #expect(back["reason"] == "available")
        _ = try await report(alice)
        let cleared = try await f.supervisor.nextEvent(type: "alert_ack") { $0["alert"] == missing["alert"] }
        #expect(cleared["by"] == "system")
        let raised = await f.supervisor.allEvents().filter { $0.type == "alert" && $0["kind"] == "queue_report_missing" }
        #expect(raised.count == 1)
        #expect(try await f.daemon.stop() == 0)
    }

    @Test func aTeamWithNobodyAvailableTellsSupervisors() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        _ = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        _ = try await supervisor.request(
            "policy.set", ["team": "floor-a", "comment": "agents report", "policy": ["queue_report_by": "agents", "queue_report_every_s": 1]])
        let nobody = try await supervisor.nextEvent(type: "queue_report_asked")
        #expect(nobody["user"] == .null && nobody["due_by"] == .null)
        let alert = try await supervisor.nextEvent(type: "alert") { $0["kind"] == "queue_report_missing" }
        #expect(alert["text"]?.stringValue?.contains("nobody to ask") == true)
        // The snapshot shows the open request with nobody asked; a supervisor may answer it.
        let snapshot = try await supervisor.request("team.join", ["team": "floor-a"])["snapshot"]
        #expect(snapshot?["queue_report_request"]?["user"] == .null)
        _ = try await supervisor.request("queue.report", ["team": "floor-a", "calls_waiting": 0, "oldest_wait_s": 0])
        _ = try await supervisor.nextEvent(type: "alert_ack") { $0["alert"] == alert["alert"] }
        #expect(try await daemon.stop() == 0)
    }

    @Test func whoWasAskedAndTheRotaSurviveASigkill() async throws {
        let f = try await floor()
        let alice = try #require(f.agents["alice"])
        _ = try await due(alice)
        _ = try await report(alice)
        let bob = try #require(f.agents["bob"])
        let asked = try await due(bob)
        // The daemon dies while Bob is asked.
        try await f.daemon.kill9()
        try await f.daemon.start(port: f.daemon.port)
        // Bob comes back within the presence grace: he is still the one asked, as his join says.
        let bobAgain = try await f.daemon.session(f.tokens["bob"] ?? "")
        let snapshot = try await bobAgain.request("team.join", ["team": "floor-a"])["snapshot"]
        #expect(snapshot?["queue_report_request"]?["user"] == "bob")
        #expect(snapshot?["queue_report_request"]?["due_by"] == asked.dueBy.json)
        let aliceAgain = try await f.daemon.session(f.tokens["alice"] ?? "")
        let hers = try await aliceAgain.request("team.join", ["team": "floor-a"])["snapshot"]
        #expect(hers?["queue_report_request"] == nil)
        let supervisor = try await f.daemon.session(f.tokens["sam"] ?? "")
        let board = try await supervisor.request("team.join", ["team": "floor-a"])["snapshot"]
        #expect(board?["queue_report_request"]?["user"] == "bob")
        // Alice was not asked for this request; Bob's report is taken.
        #expect(await refusal { try await report(aliceAgain) }?.code == .forbidden)
        _ = try await report(bobAgain)
        // The rota's order survived too: Alice, asked longest ago, is next.
        _ = try await due(aliceAgain)
        #expect(try await f.daemon.stop() == 0)
    }
}

import HuddleClient
import HuddleProtocol
import Testing

@Suite struct FanOutTests {
    @Test func aStatusChangeReachesEveryTeammateAndSupervisorAtOnce() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        try await daemon.addTeam("floor-b")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        let carol = try await daemon.addUser("carol", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        let other = try await daemon.addUser("olga", role: .agent, teams: ["floor-b"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")

        var watchers: [Peer] = []
        for token in [bob, carol, sam] {
            let peer = try await daemon.session(token)
            _ = try await peer.request("team.join", ["team": "floor-a"])
            watchers.append(peer)
        }
        let outsider = try await daemon.session(other)
        _ = try await outsider.request("team.join", ["team": "floor-b"])
        let agent = try await daemon.session(alice)
        _ = try await agent.request("team.join", ["team": "floor-a"])

        let result = try await agent.request(
            "status.set", ["status": "break", "note": "15, be right back", "expected_s": 900])
        #expect(result["decision"] == "granted")
        let seq = try #require(result["seq"]?.intValue)
        for watcher in watchers {
            let event = try await watcher.nextEvent(type: "status")
            #expect(event.seq == seq)
            #expect(event["user"] == "alice")
            #expect(event["status"] == "break")
            #expect(event["note"] == "15, be right back")
            #expect(event["by"] == "alice")
            #expect(event["reason"] == nil)
            #expect(event["expected_until"]?.stringValue != nil)
        }
        // How fast is the benchmark's business (Benchmarks/README.md); here: every watcher, once,
        // and nothing but what a teammate may see.
        for watcher in watchers {
            #expect(await watcher.allEvents().filter { $0.type == "status" && $0["user"] == "alice" }.count == 1)
        }

        let message = try await watchers[2].request("message.send", ["team": "floor-a", "text": "team huddle at 3"])
        for peer in [watchers[0], watchers[1], agent] {
            let event = try await peer.nextEvent(type: "message")
            #expect(event.seq == message["seq"]?.intValue)
            #expect(event["text"] == "team huddle at 3")
            #expect(event["user"] == "sam")
        }
        // A session receives the events of the teams it joined, and only those.
        let stray = await outsider.pending().filter {
            if case .event(let event) = $0 { return event.team == "floor-a" }
            return false
        }
        #expect(stray.isEmpty)
        #expect(try await daemon.stop() == 0)
    }

    /// Concurrent changes of two teams and both streams share commits. Whichever way a
    /// subscriber's bytes go (one buffer per event for a session answered in the batch or
    /// subscribed to both teams, one buffer per team and batch for the others), every session
    /// gets each event of its teams and streams once and in seq order, and no agent sees the
    /// supervisors' stream.
    @Test func concurrentChangesReachEverySubscriberOnceAndInOrder() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        try await daemon.addTeam("floor-b")
        var agents: [(team: String, token: String)] = []
        for team in ["floor-a", "floor-b"] {
            for index in 0..<6 { agents.append((team, try await daemon.addUser("\(team)-\(index)", role: .agent, teams: [team]))) }
        }
        let quiet = try await daemon.addUser("quiet", role: .agent, teams: ["floor-a"])
        let sue = try await daemon.addUser("sue", role: .supervisor, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a", "floor-b"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        try await daemon.relaxCoverage("floor-b")

        // Each subscription: the session, its team, and the seqs its join answered.
        var subscriptions: [(peer: Peer, team: String, seq: Int64, supervisorsSeq: Int64?)] = []
        func join(_ peer: Peer, _ team: String) async throws {
            let joined = try await peer.request("team.join", ["team": .string(team)])
            subscriptions.append((peer, team, try #require(joined["seq"]?.intValue), joined["supervisors_seq"]?.intValue))
        }
        let quietPeer = try await daemon.session(quiet)
        try await join(quietPeer, "floor-a")
        let suePeer = try await daemon.session(sue)
        try await join(suePeer, "floor-a")
        let samPeer = try await daemon.session(sam)
        try await join(samPeer, "floor-a")
        try await join(samPeer, "floor-b")
        var agentPeers: [(team: String, peer: Peer)] = []
        for agent in agents {
            let peer = try await daemon.session(agent.token)
            try await join(peer, agent.team)
            agentPeers.append((agent.team, peer))
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            for (number, agent) in agentPeers.enumerated() {
                for round in 0..<8 {
                    group.addTask {
                        if round % 2 == 0 {
                            _ = try await agent.peer.request("message.send", ["team": .string(agent.team), "text": .string("m\(round)")])
                        } else if number == 0 && round == 1 {
                            _ = try await agent.peer.request("status.set", ["status": "break", "reason": "abusive_call"])  // an alert
                        } else {
                            _ = try await agent.peer.request("status.set", ["status": .string(round % 4 == 1 ? "break" : "available")])
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        var ends: [String: Int64] = [:]
        for (team, peer) in [agentPeers[0], agentPeers[6]] {
            ends[team] = try #require(try await peer.request("message.send", ["team": .string(team), "text": "end"])["seq"]?.intValue)
        }

        for subscription in subscriptions {
            let end = try #require(ends[subscription.team])
            func events() async -> [EventNotification] {
                await subscription.peer.pending().compactMap { notification -> EventNotification? in
                    if case .event(let event) = notification, event.team == subscription.team { event } else { nil }
                }
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while await !events().contains(where: { $0.stream == .team && $0.seq == end }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let events = await events()
            let team = events.filter { $0.stream == .team }.map(\.seq)
            #expect(team == Array((subscription.seq + 1)...(try #require(ends[subscription.team]))))
            let supervisors = events.filter { $0.stream == .supervisors }.map(\.seq)
            if let supervisorsSeq = subscription.supervisorsSeq {
                #expect(supervisors == Array((supervisorsSeq + 1)..<(supervisorsSeq + 1 + Int64(supervisors.count))))
                if subscription.team == "floor-a" { #expect(!supervisors.isEmpty) }
            } else {
                #expect(supervisors.isEmpty)
            }
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test func statusIsPerUserAcrossTeams() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        try await daemon.addTeam("floor-b")
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a", "floor-b"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-b"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        try await daemon.relaxCoverage("floor-b")
        let supervisor = try await daemon.session(sam)
        _ = try await supervisor.request("team.join", ["team": "floor-b"])
        let agent = try await daemon.session(bob)
        let result = try await agent.request("status.set", ["status": "lunch"])
        #expect(result["seqs"]?.objectValue?.keys.sorted() == ["floor-a", "floor-b"])
        let event = try await supervisor.nextEvent(type: "status")
        #expect(event.team == "floor-b" && event["status"] == "lunch")
        #expect(try await daemon.stop() == 0)
    }

    @Test func historyAndPolicyAreStoredAndServed() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let agent = try await daemon.session(alice)
        let supervisor = try await daemon.session(sam)
        _ = try await agent.request("team.join", ["team": "floor-a"])
        for text in ["one", "two", "three"] {
            _ = try await agent.request("message.send", ["team": "floor-a", "text": .string(text)])
        }
        let history = try await agent.request("history.fetch", ["team": "floor-a", "limit": 2])
        let events = try #require(history["events"]?.arrayValue)
        #expect(events.map { $0["text"] } == ["two", "three"])
        let seqs = events.compactMap { $0["seq"]?.intValue }
        #expect(seqs == [seqs[0], seqs[0] + 1])

        let updated = try await supervisor.request(
            "policy.set", ["team": "floor-a", "policy": ["max_on_break": 1, "wellbeing": ["escalate_after_s": 120]], "comment": "short staffed"])
        #expect(updated["version"] == 2)
        #expect(updated["max_on_break"] == 1)
        #expect(updated["wellbeing"]?["escalate_after_s"] == 120)
        let announced = try await agent.nextEvent(type: "policy")
        #expect(announced["comment"] == "short staffed" && announced["by"] == "sam" && announced["version"] == 2)
        let versions = try #require(try await agent.request("policy.history", ["team": "floor-a"])["versions"]?.arrayValue)
        #expect(versions.map { $0["version"] } == [1, 2])
        #expect(versions[1]["by"] == "sam")
        #expect(try await agent.request("policy.get", ["team": "floor-a"])["max_on_break"] == 1)

        await #expect(throws: RPCError.self) {
            try await agent.request("policy.set", ["team": "floor-a", "policy": ["max_on_break": 5], "comment": "me"])
        }
        do {
            _ = try await supervisor.request(
                "policy.set", ["team": "floor-a", "policy": ["wellbeing": ["hugs": 1]], "comment": "x"])
            Issue.record("an unknown policy key was accepted")
        } catch let error as RPCError {
            #expect(error.code == .invalidParams)
            #expect(error.data?["param"] == "policy.wellbeing.hugs")
        }
        #expect(try await daemon.stop() == 0)
    }
}

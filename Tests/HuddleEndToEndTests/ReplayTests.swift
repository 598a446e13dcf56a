import HuddleClient
import HuddleProtocol
import Testing

@Suite struct ReplayTests {
    func seqs(_ notifications: [ServerNotification]) -> [Int64] {
        notifications.compactMap { if case .event(let e) = $0, e.stream == .team { return e.seq } else { return nil } }
    }

    /// Joins floor-a with `token` and disconnects: where the client's team stream stopped.
    func joinAndLeave(_ daemon: TestDaemon, _ token: String) async throws -> (epoch: String, seq: Int64) {
        let watcher = try await daemon.session(token)
        let joined = try await watcher.request("team.join", ["team": "floor-a"])
        let epoch = try #require(joined["epoch"]?.stringValue)
        let seq = try #require(joined["seq"]?.intValue)
        await watcher.close()
        return (epoch, seq)
    }

    @Test func reconnectingWithSinceReplaysEveryMissedEventOnceBeforeTheResult() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()

        let (epoch, seenSeq) = try await joinAndLeave(daemon, sam)

        let agent = try await daemon.session(alice)
        for i in 0..<5 {
            _ = try await agent.request("message.send", ["team": "floor-a", "text": .string("missed \(i)")])
        }
        _ = try await agent.request("status.set", ["status": "available"])

        let back = try await daemon.session(sam)
        let rejoined = try await back.request(
            "team.join", ["team": "floor-a", "since": ["epoch": .string(epoch), "seq": .int(seenSeq), "supervisors_seq": 0]])
        #expect(rejoined["recovered"] == true)
        let last = try #require(rejoined["seq"]?.intValue)
        // The server sends the replayed events before the result (the golden transcript
        // 04-replay.jsonl checks that order line by line); this client hands results and
        // notifications to the test on separate paths, so the last may still be on its way.
        try await Self.waitForEvents(back, through: last)
        let replayed = seqs(await back.pending())
        #expect(replayed == Array((seenSeq + 1)...last))

        // And the live stream continues right after, without a gap or a duplicate.
        _ = try await agent.request("message.send", ["team": "floor-a", "text": "live"])
        let deadline = ContinuousClock.now + .seconds(5)
        while !seqs(await back.pending()).contains(last + 1), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(seqs(await back.pending()) == Array((seenSeq + 1)...(last + 1)))
        #expect(try await daemon.stop() == 0)
    }

    /// A replay of ≈ 160 KB goes out over TLS in many flushes of `Outbox.tlsFlushBytes`: every
    /// event arrives once, in order and whole, before the result.
    @Test func aReplayOfManyTLSRecordsArrivesWhole() async throws {
        let daemon = try TestDaemon(arguments: ["--rate-per-s", "1000", "--rate-burst", "1000"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()

        let (epoch, seenSeq) = try await joinAndLeave(daemon, alice)

        let agent = try await daemon.session(alice)
        let texts = (0..<250).map { i in "\(i) " + String(repeating: "abcdefghij", count: 49) }
        for text in texts {
            _ = try await agent.request("message.send", ["team": "floor-a", "text": .string(text)])
        }
        let back = try await daemon.session(alice)
        let rejoined = try await back.request(
            "team.join", ["team": "floor-a", "since": ["epoch": .string(epoch), "seq": .int(seenSeq)]])
        #expect(rejoined["recovered"] == true)
        try await Self.waitForEvents(back, through: seenSeq + 250)
        let replayed = await back.pending().compactMap { notification -> EventNotification? in
            if case .event(let event) = notification, event.type == "message" { return event } else { return nil }
        }
        #expect(replayed.map(\.seq) == Array((seenSeq + 1)...(seenSeq + 250)))
        #expect(replayed.map { $0.params["text"]?.stringValue ?? "" } == texts)
        #expect(try await daemon.stop() == 0)
    }

    @Test func aForeignEpochIsNotRecovered() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let agent = try await daemon.session(alice)
        _ = try await agent.request("message.send", ["team": "floor-a", "text": "hello"])
        let result = try await agent.request("team.join", ["team": "floor-a", "since": ["epoch": "not-this-one", "seq": 0]])
        #expect(result["recovered"] == false)
        #expect(result["snapshot"]?["members"]?.arrayValue?.count == 1)
        #expect(seqs(await agent.pending()).isEmpty)
        // A seq from the future is not a recovery either.
        let epoch = try #require(result["epoch"]?.stringValue)
        let future = try await agent.request("team.join", ["team": "floor-a", "since": ["epoch": .string(epoch), "seq": 999]])
        #expect(future["recovered"] == false)
        #expect(try await daemon.stop() == 0)
    }

    @Test func reconnectsWhileTrafficFlowsSeeEverySeqExactlyOnce() async throws {
        let daemon = try TestDaemon(arguments: ["--rate-per-s", "10000", "--rate-burst", "10000"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        var peer = try await daemon.session(bob)
        let first = try await peer.request("team.join", ["team": "floor-a"])
        let epoch = try #require(first["epoch"]?.stringValue)
        let start = try #require(first["seq"]?.intValue)
        let writer = try await daemon.session(alice)
        let sender = Task {
            for i in 0..<400 { _ = try await writer.request("message.send", ["team": "floor-a", "text": .string("m\(i)")]) }
        }
        var collected: [Int64] = []
        for _ in 0..<8 {
            try await Task.sleep(for: .milliseconds(40))
            await peer.close()
            collected += seqs(await peer.pending())
            peer = try await daemon.session(bob)
            _ = try await peer.request(
                "team.join", ["team": "floor-a", "since": ["epoch": .string(epoch), "seq": .int(collected.last ?? start)]])
        }
        try await sender.value
        let final = try await writer.request("message.send", ["team": "floor-a", "text": "last"])
        let finalSeq = try #require(final["seq"]?.intValue)
        let deadline = ContinuousClock.now + .seconds(10)
        while !seqs(await peer.pending()).contains(finalSeq), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        collected += seqs(await peer.pending())
        #expect(collected == Array((start + 1)...finalSeq))
        #expect(try await daemon.stop() == 0)
    }

    /// A supervisor's replay covers both streams, each in seq order without a gap, interleaved by
    /// time; without `supervisors_seq` nothing is claimed as recovered.
    @Test func aSupervisorsReplayCoversBothStreams() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let watcher = try await daemon.session(sam)
        let joined = try await watcher.request("team.join", ["team": "floor-a"])
        let epoch = try #require(joined["epoch"]?.stringValue)
        let seq = try #require(joined["seq"]?.intValue)
        let supervisorsSeq = try #require(joined["supervisors_seq"]?.intValue)
        await watcher.close()

        let agent = try await daemon.session(alice)
        _ = try await agent.request("status.set", ["status": "break", "reason": "abusive_call"])  // an alert
        _ = try await agent.request("message.send", ["team": "floor-a", "text": "back in ten"])
        _ = try await agent.request("status.set", ["status": "available"])

        let blind = try await daemon.session(sam)
        let partial = try await blind.request("team.join", ["team": "floor-a", "since": ["epoch": .string(epoch), "seq": .int(seq)]])
        #expect(partial["recovered"] == false)
        #expect(seqs(await blind.pending()).isEmpty)

        let back = try await daemon.session(sam)
        let rejoined = try await back.request(
            "team.join",
            ["team": "floor-a", "since": ["epoch": .string(epoch), "seq": .int(seq), "supervisors_seq": .int(supervisorsSeq)]])
        #expect(rejoined["recovered"] == true)
        try await Self.waitForEvents(back, through: rejoined["seq"]?.intValue ?? 0)
        try await Self.waitForEvents(back, through: rejoined["supervisors_seq"]?.intValue ?? 0, stream: .supervisors)
        let events = await back.pending().compactMap { if case .event(let e) = $0 { e } else { nil } }
        let team = events.filter { $0.stream == .team }.map(\.seq)
        let supervisors = events.filter { $0.stream == .supervisors }.map(\.seq)
        #expect(team == Array((seq + 1)...(try #require(rejoined["seq"]?.intValue))))
        #expect(supervisors == Array((supervisorsSeq + 1)...(try #require(rejoined["supervisors_seq"]?.intValue))))
        #expect(supervisors.count >= 1)
        let times = events.compactMap { $0["at"]?.stringValue }
        #expect(times == times.sorted())
        #expect(try await daemon.stop() == 0)
    }

    @Test func leavingATeamStopsItsEvents() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        try await daemon.addTeam("floor-b")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let listener = try await daemon.session(bob)
        _ = try await listener.request("team.join", ["team": "floor-a"])
        let speaker = try await daemon.session(alice)
        _ = try await speaker.request("message.send", ["team": "floor-a", "text": "one"])
        _ = try await listener.nextEvent(type: "message") { $0["text"] == "one" }
        #expect(try await listener.request("team.leave", ["team": "floor-a"]) == [:])
        _ = try await speaker.request("message.send", ["team": "floor-a", "text": "two"])
        // A ping answered after the message was committed: had it been delivered, it would be here.
        _ = try await listener.request("session.ping")
        try await Task.sleep(for: .milliseconds(200))
        #expect(await listener.pending().allSatisfy { if case .event(let e) = $0 { e["text"] != "two" } else { true } })
        // Leaving a team one is not in, or one that does not exist, is refused.
        await #expect(throws: RPCError.self) { try await listener.request("team.leave", ["team": "floor-b"]) }
        await #expect(throws: RPCError.self) { try await listener.request("team.leave", ["team": "nowhere"]) }
        #expect(try await daemon.stop() == 0)
    }

    /// Waits (at most 10 s) until `peer` has received event `seq` of `stream`.
    static func waitForEvents(_ peer: Peer, through seq: Int64, stream: EventStream = .team) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let got = await peer.pending().contains { notification in
                if case .event(let event) = notification { return event.stream == stream && event.seq >= seq }
                return false
            }
            if got { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

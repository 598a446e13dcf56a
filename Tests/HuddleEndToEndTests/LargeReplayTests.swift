import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// Replays and history reads far larger than a connection's outbound limit, over TLS: they are
/// streamed as fast as the client reads them, never cut as a slow reader, and a client that
/// hangs up in the middle leaves no work or memory behind.
@Suite struct LargeReplayTests {
    static let limits = [
        "--rate-per-s", "100000", "--rate-burst", "100000", "--max-sessions-per-user", "64",
    ]

    /// `count` messages of `length` characters, sent by 8 connections at once (group commit).
    static func post(_ daemon: TestDaemon, _ token: String, count: Int, length: Int, filler: String = "abcdefghij")
        async throws
    {
        let padding = String(repeating: filler, count: length / filler.unicodeScalars.count + 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    let sender = try await daemon.session(token)
                    for i in stride(from: worker, to: count, by: 8) {
                        let text = String(String.UnicodeScalarView(("\(i) " + padding).unicodeScalars.prefix(length)))
                        _ = try await sender.request("message.send", ["team": "floor-a", "text": .string(text)])
                    }
                    await sender.close()
                }
            }
            try await group.waitForAll()
        }
    }

    static func teamEvents(_ notifications: [ServerNotification]) -> [EventNotification] {
        notifications.compactMap { if case .event(let e) = $0, e.stream == .team { e } else { nil } }
    }

    /// Where `seqs` first differs from `expected` (nil when equal): a short failure message
    /// instead of ten thousand numbers.
    static func firstDifference(_ seqs: [Int64], _ expected: ClosedRange<Int64>) -> String? {
        let expected = Array(expected)
        if seqs == expected { return nil }
        let index = (0..<min(seqs.count, expected.count)).first { seqs[$0] != expected[$0] } ?? min(seqs.count, expected.count)
        return "\(seqs.count) seqs for \(expected.count) expected; at \(index): \(seqs.dropFirst(index).prefix(3)) for \(expected.dropFirst(index).prefix(3))"
    }

    /// Runs `body`, failing if it has not finished within `deadline` (it says what it waits for).
    static func within<T: Sendable>(
        _ deadline: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw TestDaemon.Failure(description: "\(what): not done within \(deadline)")
            }
            return value
        }
    }

    /// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
    static func memory(_ pid: Int32, _ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    @Test func aRejoinAfterTenThousandMessagesRecoversEveryEventUnderASmallOutboundBuffer() async throws {
        try await HeavyTests.one { try await bodyARejoinAfterTenThousandMessagesRecoversEveryEventUnderASmallOutboundBuffer() }
    }

    func bodyARejoinAfterTenThousandMessagesRecoversEveryEventUnderASmallOutboundBuffer() async throws {
        let daemon = try TestDaemon(arguments: Self.limits + ["--outbound-buffer-bytes", "65536"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let watcher = try await daemon.session(bob)
        let joined = try await watcher.request("team.join", ["team": "floor-a"])
        let epoch = try #require(joined["epoch"]?.stringValue)
        let seen = try #require(joined["seq"]?.intValue)
        await watcher.close()

        try await Self.post(daemon, alice, count: 10_000, length: 400)

        // Live traffic while the replay streams: held back, sent after the answer.
        let live = Task {
            let sender = try await daemon.session(alice)
            var last: Int64 = 0
            for i in 0..<200 {
                let sent = try await sender.request("message.send", ["team": "floor-a", "text": .string("live \(i)")])
                last = sent["seq"]?.intValue ?? last
            }
            return last
        }
        let started = ContinuousClock.now
        let back = try await daemon.session(bob)
        let rejoined = try await back.request(
            "team.join", ["team": "floor-a", "since": ["epoch": .string(epoch), "seq": .int(seen)]])
        let caughtUp = ContinuousClock.now - started
        #expect(rejoined["recovered"] == true)
        let answered = try #require(rejoined["seq"]?.intValue)
        let replayed = Self.teamEvents(await back.pending()).filter { $0.seq <= answered }
        #expect(Self.firstDifference(replayed.map(\.seq), (seen + 1)...answered) == nil)
        let texts = replayed.filter { $0.type == "message" }.compactMap { $0["text"]?.stringValue }
            .filter { !$0.hasPrefix("live") }
        #expect(texts.count == 10_000 && texts.allSatisfy { $0.count == 400 })
        #expect(Set(texts.map { $0.split(separator: " ").first ?? "" }).count == 10_000)

        // The held live events follow the answer with no gap and no duplicate.
        let lastLive = try await live.value
        let deadline = ContinuousClock.now + .seconds(20)
        while !Self.teamEvents(await back.pending()).contains(where: { $0.seq >= lastLive }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let all = Self.teamEvents(await back.pending()).map(\.seq).filter { $0 <= lastLive }
        #expect(Self.firstDifference(all, (seen + 1)...lastLive) == nil)
        // The same replay read by a client that only splits lines (the test client above parses
        // every event): how fast the daemon streams it.
        let raw = try await RawLineClient(port: daemon.port, trust: daemon.trust)
        try await raw.send(Array(#"{"jsonrpc":"2.0","id":1,"method":"session.hello","params":{"token":"\#(bob)"}}"#.utf8))
        _ = try await raw.nextLine()
        let rawStart = ContinuousClock.now
        try await raw.send(
            Array(#"{"jsonrpc":"2.0","id":2,"method":"team.join","params":{"team":"floor-a","since":{"epoch":"\#(epoch)","seq":\#(seen)}}}"#.utf8))
        var (lines, bytes) = (0, 0)
        while let line = try await raw.nextLine(within: .seconds(60)) {
            lines += 1
            bytes += line.count + 1
            if line.starts(with: Array(#"{"id":2,"#.utf8)) { break }
        }
        let rawTime = ContinuousClock.now - rawStart
        raw.close()
        FileHandle.standardError.write(
            Data("""
                figure: rejoin replayed \(replayed.count) events, answered after \(caughtUp) (parsing client); \
                raw client: \(lines) lines, \(bytes) bytes in \(rawTime), over TLS with a 64 KiB outbound buffer\n
                """.utf8))
        #expect(try await daemon.stop() == 0)
    }

    @Test func fiftyClientsReplayingEverythingAndHangingUpLeaveNoWorkOrMemoryBehind() async throws {
        try await HeavyTests.one { try await bodyFiftyClientsReplayingEverythingAndHangingUpLeaveNoWorkOrMemoryBehind() }
    }

    func bodyFiftyClientsReplayingEverythingAndHangingUpLeaveNoWorkOrMemoryBehind() async throws {
        let daemon = try TestDaemon(arguments: Self.limits)
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        try await Self.post(daemon, alice, count: 10_000, length: 400)
        let pid = try #require(daemon.process?.processIdentifier)
        let probe = try await daemon.session(bob)
        let joined = try await probe.request("team.join", ["team": "floor-a"])
        let epoch = try #require(joined["epoch"]?.stringValue)
        let seq = try #require(joined["seq"]?.intValue)
        await probe.close()

        let before = Self.memory(pid, "VmRSS")
        // Resets VmHWM to the current RSS: the peak from here on is the storm's.
        try "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
        let hello = Array(#"{"jsonrpc":"2.0","id":1,"method":"session.hello","params":{"token":"\#(bob)"}}"#.utf8)
        let join = Array(
            #"{"jsonrpc":"2.0","id":2,"method":"team.join","params":{"team":"floor-a","since":{"epoch":"\#(epoch)","seq":0}}}"#.utf8)
        var clients: [RawLineClient] = []
        for _ in 0..<50 {
            let client = try await RawLineClient(port: daemon.port, trust: daemon.trust)
            try await client.send(hello)
            _ = try await client.nextLine(within: .seconds(10))
            clients.append(client)
        }
        for client in clients { try await client.send(join) }
        // Every replay has begun (or its client was cut) before they all hang up at once.
        for client in clients { _ = try? await client.nextLine(within: .seconds(10)) }
        for client in clients { client.close() }

        let newcomer = try await Self.within(.seconds(5), "a newcomer's hello and join with a short replay") {
            let peer = try await daemon.session(bob)
            let result = try await peer.request(
                "team.join", ["team": "floor-a", "since": ["epoch": .string(epoch), "seq": .int(seq - 5)]])
            let replayed = await peer.pending().compactMap { if case .event(let e) = $0, e.stream == .team { e.seq } else { nil } }
            await peer.close()
            return (result["recovered"] == true, replayed, result["seq"]?.intValue ?? 0)
        }
        #expect(newcomer.0)
        // Replayed from seq - 4 through the join's seq, then whatever went live after it (bob's
        // presence, as the fifty hang up): no gap and no repeat either way.
        #expect(newcomer.1 == Array((seq - 4)...max(seq, newcomer.2, newcomer.1.last ?? 0)))
        let peak = Self.memory(pid, "VmHWM")
        FileHandle.standardError.write(
            Data("figure: 50 abandoned replays of \(seq) events: RSS \(before) KiB before, peak \(peak) KiB\n".utf8))
        // Fifty whole replays in memory would be fifty times 5 MB; a piece each is 3 MB.
        #expect(peak - before < 32 * 1024, "the daemon's memory grew by \(peak - before) KiB")
        #expect(try await daemon.stop() == 0)
    }

    @Test func aThousandLongMessagesAreFetchedWholeUnderASmallOutboundBuffer() async throws {
        try await HeavyTests.one { try await bodyAThousandLongMessagesAreFetchedWholeUnderASmallOutboundBuffer() }
    }

    func bodyAThousandLongMessagesAreFetchedWholeUnderASmallOutboundBuffer() async throws {
        let daemon = try TestDaemon(arguments: Self.limits + ["--outbound-buffer-bytes", "65536"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        // 500 scalars of 4 bytes each: 2 KB a message, as long as a message gets.
        try await Self.post(daemon, alice, count: 1_000, length: 500, filler: "\u{1F4DE}")
        // A reader as across a network: the kernel does not take the 2 MB answer at once.
        let reader = try await RawLineClient(port: daemon.port, trust: daemon.trust, networkLike: true)
        try await reader.send(Array(#"{"jsonrpc":"2.0","id":1,"method":"session.hello","params":{"token":"\#(alice)"}}"#.utf8))
        _ = try await reader.nextLine()
        try await reader.send(Array(#"{"jsonrpc":"2.0","id":2,"method":"history.fetch","params":{"team":"floor-a","limit":1000}}"#.utf8))
        let line = try #require(try await reader.nextLine(within: .seconds(20)), "the connection ended before the answer")
        FileHandle.standardError.write(Data("figure: history.fetch answer of \(line.count) bytes\n".utf8))
        let fetched = try JSONParser.parse(line)
        #expect(fetched["id"] == 2)
        let events = try #require(fetched["result"]?["events"]?.arrayValue)
        #expect(events.count == 1000)
        let seqs = events.compactMap { $0["seq"]?.intValue }
        #expect(seqs == Array(seqs.first.map { $0...($0 + 999) } ?? 0...0))
        #expect(events.allSatisfy { $0["text"]?.stringValue?.unicodeScalars.count == 500 })
        // The connection is still in order: the request after it is answered, whole.
        try await reader.send(Array(#"{"jsonrpc":"2.0","id":3,"method":"session.ping"}"#.utf8))
        let pong = try #require(try await reader.nextLine())
        #expect(try JSONParser.parse(pong)["id"] == 3)
        reader.close()
        #expect(try await daemon.stop() == 0)
    }
}

import HuddleClient
import HuddleProtocol
import Synchronization
import Testing

@Suite struct DurabilityTests {
    /// Agents change status and post as fast as they can; the daemon is killed with SIGKILL in the
    /// middle. Every change that was acknowledged must be there after a restart, in order, with
    /// statuses and seqs restored.
    @Test func sigkillLosesNoAcknowledgedChange() async throws {
        let daemon = try TestDaemon(arguments: ["--rate-per-s", "100000", "--rate-burst", "100000"])
        try await daemon.addTeam("floor-a")
        var tokens: [String] = []
        for i in 0..<4 { tokens.append(try await daemon.addUser("agent\(i)", role: .agent, teams: ["floor-a"])) }
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        let port = daemon.port

        final class Counter: Sendable { let value = Mutex(0) }
        struct Log: Sendable {
            var agent: String
            var messages: [(String, Int64)] = []
            /// The last status the daemon acknowledged, and the one asked for when it died (which
            /// may or may not have been committed).
            var acknowledged = "offline"
            var inFlight: String?
        }
        let progress = Counter()
        let logs = try await withThrowingTaskGroup(of: Log.self) { group in
            for (index, token) in tokens.enumerated() {
                group.addTask {
                    let peer = try await daemon.session(token)
                    var log = Log(agent: "agent\(index)")
                    for i in 0..<10_000 {
                        do {
                            let text = "agent\(index) message \(i)"
                            let result = try await peer.request("message.send", ["team": "floor-a", "text": .string(text)])
                            if let seq = result["seq"]?.intValue {
                                log.messages.append((text, seq))
                                progress.value.withLock { $0 += 1 }
                            }
                            if i % 10 == 0 {
                                let status = i % 20 == 0 ? "break" : "available"
                                log.inFlight = status
                                _ = try await peer.request("status.set", ["status": .string(status)])
                                log.acknowledged = status
                                log.inFlight = nil
                            }
                        } catch {
                            break
                        }
                    }
                    return log
                }
            }
            // Kill in full flight: once a few hundred changes are acknowledged, whatever the machine's speed.
            let deadline = ContinuousClock.now + .seconds(30)
            while progress.value.withLock({ $0 }) < 300, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            try await daemon.kill9()
            var all: [Log] = []
            for try await log in group { all.append(log) }
            return all
        }
        let acknowledged = logs.flatMap(\.messages)
        #expect(acknowledged.count >= 300, "too few changes before the kill to prove anything")

        try await daemon.start(port: port)
        let reader = try await daemon.session(tokens[0])
        let joined = try await reader.request("team.join", ["team": "floor-a"])
        let lastSeq = try #require(joined["seq"]?.intValue)
        var stored: [Int64: String] = [:]
        var since: Int64 = 0
        while since < lastSeq {
            let page = try await reader.request("history.fetch", ["team": "floor-a", "since": .int(since), "limit": 1000])
            let events = page["events"]?.arrayValue ?? []
            for event in events {
                if let seq = event["seq"]?.intValue {
                    if event["type"] == "message" { stored[seq] = event["text"]?.stringValue }
                    since = seq
                }
            }
            if events.isEmpty { break }
        }
        #expect(since == lastSeq, "history has a gap")
        let missing = acknowledged.filter { stored[$0.1] != $0.0 }
        #expect(missing.isEmpty, "\(missing.count) acknowledged messages lost of \(acknowledged.count)")

        // Every agent's status is the last one acknowledged (or the one in flight at the kill,
        // committed but not yet answered).
        let members = joined["snapshot"]?["members"]?.arrayValue ?? []
        for log in logs {
            let status = members.first { $0["user"] == .string(log.agent) }?["status"]?.stringValue
            #expect(status == log.acknowledged || status == log.inFlight, "\(log.agent): \(status ?? "none")")
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test func statusesAndSeqsSurviveARestart() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        let peer = try await daemon.session(alice)
        _ = try await peer.request("status.set", ["status": "lunch", "note": "back at 1", "expected_s": 1800])
        let before = try await peer.request("team.join", ["team": "floor-a"])
        try await daemon.kill9()
        try await daemon.start()
        let again = try await daemon.session(alice)
        let after = try await again.request("team.join", ["team": "floor-a"])
        #expect(after["epoch"] == before["epoch"])
        #expect((after["seq"]?.intValue ?? 0) >= (before["seq"]?.intValue ?? 0))
        let member = after["snapshot"]?["members"]?.arrayValue?.first
        #expect(member?["status"] == "lunch")
        #expect(member?["note"] == "back at 1")
        #expect(member?["since"] == before["snapshot"]?["members"]?.arrayValue?.first?["since"])
        #expect(member?["expected_until"] != nil)
        #expect(try await daemon.stop() == 0)
    }
}

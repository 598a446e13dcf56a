import HuddleClient
import HuddleProtocol
import Testing

/// Every kind of bad input gets a clear error and costs nothing else.
@Suite struct BadInputTests {
    func orphanError(_ peer: Peer) async throws -> RPCError {
        let found = try await peer.next { if case .orphanError = $0 { return true } else { return false } }
        guard case .orphanError(let error) = found else { throw TestDaemon.Failure(description: "no error") }
        return error
    }

    func expectError(_ code: ErrorCode, param: String? = nil, _ body: () async throws -> JSONValue) async {
        do {
            let result = try await body()
            Issue.record("expected \(code), got \(result)")
        } catch let error as RPCError {
            #expect(error.code == code, "\(error.message)")
            if let param { #expect(error.data?["param"] == .string(param)) }
        } catch {
            Issue.record("expected \(code), got \(error)")
        }
    }

    @Test func malformedLinesAreAnsweredAndTheConnectionGoesOn() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        let peer = try await daemon.session(alice)

        try await peer.connection.sendRaw(Array("{not json\n".utf8))
        #expect(try await orphanError(peer).code == .parseError)
        try await peer.connection.sendRaw([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D, 0x0A])
        #expect(try await orphanError(peer).code == .parseError)
        try await peer.connection.sendRaw(Array("[1,2,3]\n".utf8))
        #expect(try await orphanError(peer).code == .invalidRequest)
        try await peer.connection.sendRaw(Array("{\"jsonrpc\":\"2.0\",\"method\":\"session.ping\"}\n".utf8))
        #expect(try await orphanError(peer).code == .invalidRequest)

        await expectError(.methodNotFound) { try await peer.request("status.teleport") }
        await expectError(.invalidParams, param: "status") { try await peer.request("status.set", ["status": "nap"]) }
        await expectError(.invalidParams, param: "status") { try await peer.request("status.set", ["status": 3]) }
        await expectError(.invalidParams, param: "team") { try await peer.request("message.send", ["text": "hi"]) }
        await expectError(.invalidParams, param: "expected_s") {
            try await peer.request("status.set", ["status": "break", "expected_s": 99999])
        }
        await expectError(.invalidText, param: "note") {
            try await peer.request("status.set", ["status": "break", "note": .string(String(repeating: "x", count: 141))])
        }
        await expectError(.invalidText, param: "note") {
            try await peer.request("status.set", ["status": "break", "note": "red \u{1B}[31malert"])
        }
        await expectError(.invalidText, param: "note") {
            try await peer.request("status.set", ["status": "break", "note": "evil \u{202E}kcab thgir eb"])
        }
        await expectError(.invalidText, param: "text") { try await peer.request("message.send", ["team": "floor-a", "text": ""]) }
        await expectError(.invalidText, param: "text") {
            try await peer.request("message.send", ["team": "floor-a", "text": .string(String(repeating: "y", count: 501))])
        }
        await expectError(.unknownEntity) { try await peer.request("team.join", ["team": "floor-zz"]) }
        await expectError(.forbidden) { try await peer.request("status.force", ["user": "alice", "status": "available"]) }
        await expectError(.forbidden) {
            try await peer.request("policy.set", ["team": "floor-a", "policy": ["max_on_break": 9], "comment": "x"])
        }
        await expectError(.invalidRequest) { try await peer.request("session.hello", ["token": "x", "client": "again"]) }
        // Still alive and well after all of that.
        #expect(try await peer.request("session.ping") == [:])
        let accepted = try await peer.request("status.set", ["status": "break", "note": "ok now ☕"])
        #expect(accepted["decision"] == "granted")
        #expect(try await daemon.stop() == 0)
    }

    @Test func nothingBeforeHelloAndBadTokensAreRefused() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.connect()
        await expectError(.notAuthenticated) { try await peer.request("team.join", ["team": "floor-a"]) }
        await expectError(.notAuthenticated) { try await peer.request("session.ping") }
        await expectError(.notAuthenticated) { try await peer.request("session.hello", ["token": .string("hdl_000000000000_" + String(repeating: "0", count: 64)), "client": "x"]) }
        await expectError(.notAuthenticated) { try await peer.request("session.hello", ["token": .string(alice + "x"), "client": "x"]) }
        await expectError(.invalidParams, param: "token") { try await peer.request("session.hello", ["client": "x"]) }
        let hello = try await peer.request("session.hello", ["token": .string(alice), "client": "x"])
        #expect(hello["user"] == "alice" && hello["role"] == "agent" && hello["protocol"] == 1)
        #expect(hello["teams"] == ["floor-a"])
        #expect(try await daemon.stop() == 0)
    }

    @Test func anOversizedLineIsRefusedAndTheConnectionClosed() async throws {
        let daemon = try TestDaemon(arguments: ["--max-line-bytes", "1024"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.session(alice)
        let long = "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"session.ping\",\"params\":{\"pad\":\"" + String(repeating: "x", count: 2000) + "\"}}\n"
        try await peer.connection.sendRaw(Array(long.utf8))
        let error = try await orphanError(peer)
        #expect(error.code == .invalidRequest)
        #expect(try await peer.waitForEnd() == "line_too_long")
        // Others are unaffected.
        let other = try await daemon.session(alice)
        #expect(try await other.request("session.ping") == [:])
        #expect(try await daemon.stop() == 0)
    }

    /// History reads are the costly requests: one connection may keep only two waiting, and the
    /// ones left behind by a client that hung up are dropped, so nobody else waits for them.
    @Test func historyReadsLeftBehindByClosedClientsDelayNobody() async throws {
        let daemon = try TestDaemon(arguments: ["--rate-per-s", "100000", "--rate-burst", "100000"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    let writer = try await daemon.session(alice)
                    for i in 0..<300 {
                        _ = try await writer.request("message.send", ["team": "floor-a", "text": .string("\(worker)-\(i)")])
                    }
                    await writer.close()
                }
            }
            try await group.waitForAll()
        }
        var fetches = ""
        for i in 0..<40 {
            fetches += #"{"jsonrpc":"2.0","id":\#(i),"method":"history.fetch","params":{"team":"floor-a","since":0,"limit":1000}}"# + "\n"
        }
        // One greedy client that reads its answers: two reads at a time, the rest refused at once.
        let greedy = try await daemon.session(alice)
        try await greedy.connection.sendRaw(Array(fetches.utf8))
        var refused = 0
        var served = 0
        for _ in 0..<40 {
            let answer = try await greedy.next(within: .seconds(30)) { if case .stray = $0 { true } else { false } }
            switch answer {
            case .stray(_, .failure(let error)) where error.code == .rateLimited && error.data?["reason"] == "reads_in_flight":
                refused += 1
            case .stray(_, .success(let result)):
                #expect(result["events"]?.arrayValue?.count == 1000)
                served += 1
            default:
                Issue.record("unexpected answer \(answer)")
            }
        }
        #expect(refused > 0 && served >= 2 && refused + served == 40)
        // Five that ask and hang up at once.
        for _ in 0..<5 {
            let quitter = try await daemon.session(alice)
            try await quitter.connection.sendRaw(Array(fetches.utf8))
            await quitter.close()
        }
        let newcomer = try await daemon.session(alice)
        // Unbounded, the reads left behind would take well over ten seconds on this machine.
        let page = try await TestDaemon.waitFor("a newcomer's history.fetch behind reads left by closed connections", within: .seconds(5)) {
            try await newcomer.request("history.fetch", ["team": "floor-a", "limit": 10])
        }
        #expect(page["events"]?.arrayValue?.count == 10)
        #expect(try await daemon.stop() == 0)
    }

    @Test func aFloodIsRateLimitedWithRetryAfter() async throws {
        let daemon = try TestDaemon(arguments: ["--rate-per-s", "5", "--rate-burst", "5"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let bot = try await daemon.addUser("qbot", role: .bot, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.session(alice)
        // Thirty requests in one write: the bucket (5, refilling at 5/s) cannot keep up, however
        // slow the machine is.
        var lines = ""
        for i in 0..<30 { lines += #"{"jsonrpc":"2.0","id":"f\#(i)","method":"policy.get","params":{"team":"floor-a"}}"# + "\n" }
        try await peer.connection.sendRaw(Array(lines.utf8))
        var limited: RPCError?
        for _ in 0..<30 {
            let answer = try await peer.next { if case .stray = $0 { true } else { false } }
            if case .stray(_, .failure(let error)) = answer, error.code == .rateLimited { limited = error }
        }
        let error = try #require(limited)
        #expect(error.code == .rateLimited)
        #expect((error.data?["retry_after_ms"]?.intValue ?? 0) > 0)
        // Pings are never counted.
        for _ in 0..<20 { #expect(try await peer.request("session.ping") == [:]) }
        // Bots get ten times the rate by default.
        let robot = try await daemon.session(bot)
        for _ in 0..<30 { _ = try await robot.request("policy.get", ["team": "floor-a"]) }
        #expect(try await daemon.stop() == 0)
    }

    @Test func silentConnectionsAreClosed() async throws {
        // The default 10 s to authenticate: the quiet session below must get through its TLS
        // handshake and hello in that time while the whole suite runs beside it (1 s, then 3 s,
        // were once not enough). Heartbeats every 4 s, so a connection that says nothing is cut
        // for that after 12 s; the quiet session starts only once the anonymous one is gone, so
        // the two deadlines never fall due together.
        let daemon = try TestDaemon(arguments: ["--auth-timeout-s", "10", "--heartbeat-s", "4"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let anonymous = try await daemon.connect(keepAlive: false)
        #expect(try await anonymous.waitForEnd(within: .seconds(20)) == "auth_timeout")
        let quiet = try await daemon.session(alice, keepAlive: false)
        _ = try await quiet.next(within: .seconds(10)) { $0 == .heartbeat }
        #expect(try await quiet.waitForEnd(within: .seconds(25)) == "heartbeat_timeout")
        #expect(try await daemon.stop() == 0)
    }

    @Test func sessionsPerUserAreCapped() async throws {
        let daemon = try TestDaemon(arguments: ["--max-sessions-per-user", "2"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let one = try await daemon.session(alice)
        _ = try await daemon.session(alice)
        let third = try await daemon.connect()
        await expectError(.forbidden) { try await third.request("session.hello", ["token": .string(alice), "client": "x"]) }
        await one.close()
        try await Task.sleep(for: .milliseconds(200))
        _ = try await third.request("session.hello", ["token": .string(alice), "client": "x"])
        #expect(try await daemon.stop() == 0)
    }
}

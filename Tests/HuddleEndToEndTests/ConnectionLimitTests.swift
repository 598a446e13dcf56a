import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// The protocol port's admission limits and the HTTP side's request deadline and per-address
/// 401 limit (PROTOCOL.md §14, README "Limits"): what a flood of strangers can hold, and that a
/// newcomer still gets in.
@Suite struct ConnectionLimitTests {
    static let ping = #"{"jsonrpc":"2.0","id":1,"method":"session.ping"}"# + "\n"

    /// Admitted: the connection answers a line (before hello, with an error). Refused: it ends
    /// without a word.
    static func isAdmitted(_ socket: BareSocket) async -> Bool {
        socket.send(ping)
        if case .line = await socket.read() { return true }
        return false
    }

    static func metric(_ daemon: TestDaemon, _ series: String, scheme: String = "https") async throws -> Double? {
        let reply = try await HTTPTests.curl(["--insecure", "\(scheme)://127.0.0.1:\(daemon.httpPort)/metrics"])
        for line in reply.body.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    @Test func oneAddressHoldsOnlyItsShareOfConnectionsThatHaveNotSaidHello() async throws {
        let daemon = try TestDaemon(arguments: ["--max-unauthenticated-per-address", "5"], plaintext: true)
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()

        let held = try (0..<5).map { _ in try BareSocket(port: daemon.port, from: "127.0.0.3") }
        for socket in held { #expect(await Self.isAdmitted(socket)) }
        let sixth = try BareSocket(port: daemon.port, from: "127.0.0.3")
        #expect(await !Self.isAdmitted(sixth), "the sixth connection from one address is refused")
        #expect(await sixth.read() == .ended)
        // Another address is not affected, and a session that said hello no longer counts.
        let other = try BareSocket(port: daemon.port, from: "127.0.0.4")
        #expect(await Self.isAdmitted(other))
        let sessions = try await (0..<6).asyncMap { _ in try await daemon.session(alice) }
        #expect(sessions.count == 6)
        #expect(try await Self.metric(daemon, #"huddle_connections_refused_total{limit="per_address"}"#) == 1)
        #expect(daemon.log.contains("connection refused: the per_address limit is reached"))
        #expect(daemon.log.contains("remote=127.0.0.3"))
        for session in sessions { await session.close() }
        _ = try await daemon.stop()
    }

    @Test func theOldestConnectionWithoutHelloMakesRoomForANewcomer() async throws {
        let daemon = try TestDaemon(arguments: ["--max-unauthenticated", "4"], plaintext: true)
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()

        let stalled = try (2...5).map { try BareSocket(port: daemon.port, from: "127.0.0.\($0)") }
        for socket in stalled { #expect(await Self.isAdmitted(socket)) }
        // The cap is full of strangers; the newcomer still gets in, and the oldest stranger goes.
        let newcomer = try await daemon.session(alice)
        _ = try await newcomer.request("team.join", ["team": "floor-a"])
        _ = try await newcomer.request("session.ping")
        #expect(await stalled[0].read() == .ended, "the oldest connection without hello was closed")
        for socket in stalled.dropFirst() { #expect(await Self.isAdmitted(socket), "the younger ones stay") }
        #expect(try await Self.metric(daemon, "huddle_connections_evicted_total") == 1)
        await newcomer.close()
        _ = try await daemon.stop()
    }

    @Test func pastTheTotalNewConnectionsAreResetUntilOneCloses() async throws {
        let daemon = try TestDaemon(arguments: ["--max-connections", "3"], plaintext: true)
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()

        let first = try await daemon.session(alice)
        let second = try await daemon.session(alice)
        let third = try BareSocket(port: daemon.port, from: "127.0.0.2")
        #expect(await Self.isAdmitted(third))
        let fourth = try BareSocket(port: daemon.port, from: "127.0.0.3")
        #expect(await !Self.isAdmitted(fourth))
        #expect(try await Self.metric(daemon, #"huddle_connections_refused_total{limit="total"}"#) == 1)
        await first.close()
        // The slot is free once the daemon has seen the close.
        var admitted = false
        for _ in 0..<100 where !admitted {
            admitted = await Self.isAdmitted(try BareSocket(port: daemon.port, from: "127.0.0.3"))
            if !admitted { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(admitted, "a connection is admitted again after one closed")
        _ = try await second.request("session.ping")
        await second.close()
        _ = try await daemon.stop()
    }

    @Test func pingsBeforeHelloCostTokensAndASessionsPingsDoNot() async throws {
        let daemon = try TestDaemon(arguments: ["--rate-burst", "5", "--rate-per-s", "1"], plaintext: true)
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()

        let stranger = try BareSocket(port: daemon.port)
        stranger.send(String(repeating: Self.ping, count: 20))
        var codes: [Int64] = []
        while codes.count < 20, case .line(let line) = await stranger.read() {
            codes.append((try JSONParser.parse(line))["error"]?["code"]?.intValue ?? 0)
        }
        #expect(codes.count == 20)
        #expect(codes.filter { $0 == ErrorCode.notAuthenticated.rawValue }.count == 5, "\(codes)")
        #expect(codes.filter { $0 == ErrorCode.rateLimited.rawValue }.count == 15, "\(codes)")

        let session = try BareSocket(port: daemon.port)
        session.send(#"{"jsonrpc":"2.0","id":0,"method":"session.hello","params":{"token":"\#(alice)"}}"# + "\n")
        guard case .line(let hello) = await session.read() else { throw TestDaemon.Failure(description: "no hello answer") }
        #expect(try JSONParser.parse(hello)["result"] != nil)
        session.send(String(repeating: Self.ping, count: 20))
        var answered = 0
        while answered < 20, case .line(let line) = await session.read() {
            if try JSONParser.parse(line)["result"] != nil { answered += 1 }
        }
        #expect(answered == 20, "a session's pings are never rate limited")
        _ = try await daemon.stop()
    }

    @Test func refusedHellosAreLoggedWithTheAddressAtABoundedRate() async throws {
        let daemon = try TestDaemon(arguments: ["--rate-burst", "1000"], plaintext: true)
        try await daemon.start()
        let stranger = try BareSocket(port: daemon.port, from: "127.0.0.7")
        let hello = #"{"jsonrpc":"2.0","id":1,"method":"session.hello","params":{"token":"hud_nobody_0000"}}"# + "\n"
        stranger.send(String(repeating: hello, count: 200))
        var refused = 0
        while refused < 200, case .line = await stranger.read() { refused += 1 }
        #expect(refused == 200)
        #expect(try await Self.metric(daemon, "huddle_hellos_refused_total") == 200)
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("authentication refused") }
        #expect(!lines.isEmpty && lines.count <= 10, "\(lines.count) log lines for 200 refused hellos")
        #expect(lines.allSatisfy { $0.contains("remote=127.0.0.7") })
        _ = try await daemon.stop()
    }

    @Test func anHTTPRequestTrickledByteByByteIsCutAtTheRequestTimeout() async throws {
        let daemon = try TestDaemon(arguments: ["--http-plaintext", "--http-request-timeout-s", "1"])
        try await daemon.addTeam("floor-a")
        let bot = try await daemon.addUser("qbot", role: .bot, teams: ["floor-a"])
        try await daemon.start()

        // A body, then headers, trickled: each connection is gone well before its bytes are.
        let body = "POST /v1/teams/floor-a/queue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(bot)\r\nContent-Length: 400\r\n\r\n"
        for opening in [body, "GET /healthz HTTP/1.1\r\nHost: x\r\n"] {
            let socket = try BareSocket(port: daemon.httpPort, timeout: .milliseconds(100))
            socket.send(opening)
            let started = ContinuousClock.now
            var cut = false
            for _ in 0..<100 where !cut {
                if !socket.send("x") {
                    cut = true
                } else if await socket.read() == .ended {
                    cut = true
                }
            }
            #expect(cut, "the trickled request still held its connection after \(ContinuousClock.now - started)")
        }
        // A keep-alive connection that waits between requests longer than the timeout is not cut.
        let keepAlive = try BareSocket(port: daemon.httpPort, timeout: .seconds(5))
        keepAlive.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(await keepAlive.read() == .line("HTTP/1.1 200 OK\r"))
        try await Task.sleep(for: .milliseconds(1500))
        keepAlive.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(await keepAlive.readAll().text.contains("HTTP/1.1 200 OK"), "the second request on the idle connection is answered")
        #expect(try await Self.metric(daemon, "huddle_http_requests_timed_out_total", scheme: "http") == 2)
        _ = try await daemon.stop()
    }

    @Test func failedBearerTokensAreLimitedPerAddressButAKnownTokenStillWorks() async throws {
        let daemon = try TestDaemon(arguments: ["--http-auth-failures-per-min", "3"])
        try await daemon.addTeam("floor-a")
        let bot = try await daemon.addUser("qbot", role: .bot, teams: ["floor-a"])
        try await daemon.start()
        let url = "https://127.0.0.1:\(daemon.httpPort)/v1/teams/floor-a/queue"
        func post(_ token: String) async throws -> HTTPTests.Reply {
            try await HTTPTests.curl([
                "--insecure", "-X", "POST", "-H", "Authorization: Bearer \(token)", "--data", #"{"calls_waiting":1,"oldest_wait_s":1}"#, url,
            ])
        }
        // Three failures a minute is one token back every 20 s: on a loaded machine the five
        // tries may take long enough for one to come back, and that one may be a 401 again.
        let started = ContinuousClock.now
        let statuses = try await (0..<5).asyncMap { try await post("hud_guess_\($0)").status }
        let refilled = Int((ContinuousClock.now - started) / .seconds(20))
        #expect(Array(statuses.prefix(3)) == [401, 401, 401], "\(statuses)")
        #expect(statuses.last == 429, "\(statuses)")
        #expect(statuses.filter { $0 == 401 }.count <= 3 + refilled, "\(statuses) in \(refilled * 20)+ s")
        #expect(Set(statuses) == [401, 429], "\(statuses)")
        #expect(try await post("hud_guess_9").headers["retry-after"] != nil)
        #expect(try await post(bot).status == 202, "a bot's own token works from a throttled address")
        _ = try await daemon.stop()
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

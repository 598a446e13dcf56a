import Foundation
import HuddleProtocol
import Testing

/// The wallboard's HTTP side against the real daemon (SPEC §11, PROTOCOL.md §22), with curl as
/// the browser: sign-in and its cookie, the page's headers and weight, the event stream and its
/// replay, display links, acknowledgments and their cross-site guard, and the bad input of each.
/// What the page does with all this is `WallboardBrowserTests`, in headless Chromium.
@Suite struct WallboardHTTPTests {
    struct Floor {
        let daemon: TestDaemon
        let agent: String
        let supervisor: String
        var base: String { "https://127.0.0.1:\(daemon.httpPort)" }

        init(arguments: [String] = []) async throws {
            daemon = try TestDaemon(arguments: arguments)
            try await daemon.addTeam("floor-a")
            try await daemon.addTeam("floor-b")
            agent = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
            supervisor = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
            try await daemon.start()
        }

        func curl(_ path: String, _ arguments: [String] = []) async throws -> HTTPTests.Reply {
            try await HTTPTests.curl(["--cacert", daemon.certificate] + arguments + ["\(base)\(path)"])
        }

        /// Signs in as the board's form does; returns the cookie's value.
        func signIn(_ token: String) async throws -> String {
            let reply = try await curl("/login", ["--data-urlencode", "token=\(token)"])
            #expect(reply.status == 303, "\(reply.status) \(reply.body)")
            let cookie = try #require(reply.headers["set-cookie"])
            return try #require(cookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last.map(String.init))
        }

        func stream(team: String = "floor-a", _ headers: [String], query: String = "") throws -> EventStreamClient {
            try EventStreamClient(url: "\(base)/v1/teams/\(team)/events\(query)", headers: headers)
        }

        /// A display link made the way an operator does, and its key.
        func displayKey(_ team: String = "floor-a") async throws -> String {
            let output = try await daemon.admin(["display", "add", team, "--url", base])
            let link = try #require(output.split(separator: "\n").last.map(String.init))
            #expect(link.hasPrefix("\(base)/board/\(team)?display=hdd_") && link.hasSuffix("&tv=1"), "\(link)")
            let key = try #require(link.split(separator: "=").dropFirst().first?.split(separator: "&").first)
            return String(key)
        }
    }

    @Test func signInSetsAStrictCookieAndRefusesAgentsAndBadTokens() async throws {
        let f = try await Floor()
        let reply = try await f.curl("/login", ["--data-urlencode", "token=\(f.supervisor)"])
        #expect(reply.status == 303 && reply.headers["location"] == "/board")
        let cookie = try #require(reply.headers["set-cookie"])
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=43200"] {
            #expect(cookie.contains(attribute), "\(cookie) lacks \(attribute)")
        }
        let value = try await f.signIn(f.supervisor)
        let me = try await f.curl("/v1/board/session", ["-H", "Cookie: huddle_session=\(value)"])
        #expect(me.status == 200 && me.json?["user"] == "sam" && me.json?["role"] == "supervisor")
        #expect(me.json?["teams"] == ["floor-a"] && me.json?["csrf"]?.stringValue?.count == 32)

        let agent = try await f.curl("/login", ["--data-urlencode", "token=\(f.agent)"])
        #expect(agent.status == 403 && agent.body.contains("for supervisors and admins") && agent.headers["set-cookie"] == nil)
        let wrong = try await f.curl("/login", ["--data-urlencode", "token=hdl_000000000000_\(String(repeating: "0", count: 64))"])
        #expect(wrong.status == 401 && wrong.body.contains("not valid") && wrong.headers["set-cookie"] == nil)
        // The sign-in page says why in its own error line, as HTML with the text escaped.
        #expect(wrong.headers["content-type"]?.hasPrefix("text/html") == true && wrong.body.contains(#"role="alert""#))

        for forged in [
            "hds_\(value.dropFirst(4).prefix(12))_\(String(repeating: "f", count: 64))", "garbage", "hdl_x_y", "",
        ] {
            let refused = try await f.curl("/v1/board/session", ["-H", "Cookie: huddle_session=\(forged)"])
            #expect(refused.status == 401, "forged cookie \(forged): \(refused.status)")
        }
        _ = try await f.daemon.stop()
    }

    @Test func everyAnswerCarriesTheCSPAndThePageIsSmallAndScriptFree() async throws {
        let f = try await Floor()
        var total = 0
        for path in ["/board", "/board/floor-a", "/login", "/board/assets/board.js", "/board/assets/board.css"] {
            let reply = try await f.curl(path)
            #expect(reply.status == 200, "\(path): \(reply.status)")
            #expect(reply.headers["content-security-policy"]?.hasPrefix("default-src 'self'") == true, "\(path)")
            #expect(reply.headers["x-content-type-options"] == "nosniff")
            if path != "/board/floor-a" && path != "/login" { total += reply.body.utf8.count }
            if path.hasSuffix(".js") { #expect(reply.headers["content-type"]?.hasPrefix("text/javascript") == true) }
            if !path.contains("assets") {
                // No inline script or handler: every <script> has a src, no on…= attributes.
                #expect(!reply.body.contains("<script>") && reply.body.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil)
            }
        }
        total += try await f.curl("/login").body.utf8.count
        #expect(total <= 150_000, "page, sign-in and assets weigh \(total) bytes")
        // Errors and the stream carry it too.
        #expect(try await f.curl("/v1/teams/floor-a/events").headers["content-security-policy"] != nil)
        #expect(try await f.curl("/board/assets/nothing.js").status == 404)
        _ = try await f.daemon.stop()
    }

    @Test func theStreamOpensWithASnapshotThenCarriesChangesAndReplaysWhatWasMissed() async throws {
        let f = try await Floor()
        let cookie = "Cookie: huddle_session=\(try await f.signIn(f.supervisor))"
        let stream = try f.stream([cookie])
        let opened = try await stream.waitFor("the snapshot") { $0.contains { $0.event == "snapshot" } }
        #expect(stream.status == 200)
        let snapshot = try #require(opened.first { $0.event == "snapshot" })
        let epoch = try #require(snapshot.json?["epoch"]?.stringValue)
        #expect(snapshot.json?["snapshot"]?["members"]?.arrayValue?.count == 2)
        #expect(snapshot.id == "\(epoch):\(snapshot.json?["seq"]?.intValue ?? -1):\(snapshot.json?["supervisors_seq"]?.intValue ?? -1)")

        try await f.daemon.relaxCoverage("floor-a")
        let alice = try await f.daemon.session(f.agent)
        _ = try await alice.request("status.set", ["status": "available", "note": "on the phones"])
        let live = try await stream.waitFor("alice's status") { frames in
            frames.contains { $0.json?["type"] == "status" && $0.json?["user"] == "alice" }
        }
        let status = try #require(live.first { $0.json?["type"] == "status" })
        #expect(status.json?["note"] == "on the phones" && status.json?["stream"] == "team")
        // While the stream is closed, more happens; a reconnect with the last id gets exactly
        // that, in order, and no snapshot (the page's state stands).
        let lastID = try #require(live.last?.id)
        stream.close()
        _ = try await alice.request("message.send", ["team": "floor-a", "text": "anyone for lunch cover?"])
        _ = try await alice.request("status.set", ["status": "break", "note": "15"])
        let resumed = try f.stream([cookie, "Last-Event-ID: \(lastID)"])
        let replayed = try await resumed.waitFor("the missed break") { frames in
            frames.contains { $0.json?["type"] == "status" && $0.json?["status"] == "break" }
        }
        #expect(!replayed.contains { $0.event == "snapshot" }, "a recoverable reconnect got a snapshot")
        let seqs = replayed.compactMap { frame -> Int64? in
            guard frame.json?["stream"] == "team" else { return nil }
            return frame.json?["seq"]?.intValue
        }
        let lastSeq = Int64(lastID.split(separator: ":")[1])!
        #expect(seqs.first == lastSeq + 1 && seqs == Array(seqs.first!...(seqs.last!)), "\(seqs) after \(lastSeq)")
        #expect(replayed.contains { $0.json?["type"] == "message" })
        // An epoch the daemon does not know: a fresh snapshot, never a false recovery.
        let other = try f.stream([cookie, "Last-Event-ID: 0123456789abcdef:1:0"])
        try await other.waitFor("a fresh snapshot") { $0.first?.event == "snapshot" }
        resumed.close()
        other.close()
        _ = try await f.daemon.stop()
    }

    /// Sessions are stored: one signed in before a restart still works after it, and one whose
    /// twelve hours ran out meanwhile is refused (401) and deleted.
    @Test func aSessionSurvivesARestartAndAnExpiredOneIsRefused() async throws {
        let f = try await Floor()
        let kept = try await f.signIn(f.supervisor)
        let expired = try await f.signIn(f.supervisor)
        try await f.daemon.stop()
        let key = try #require(expired.split(separator: "_").dropFirst().first.map(String.init))
        _ = try await TestDaemon.run(
            "/usr/bin/sqlite3", ["\(f.daemon.data)/huddle.sqlite", "UPDATE board_sessions SET expires_at = 1000 WHERE key = '\(key)';"])
        try await f.daemon.start()
        let fine = try await f.curl("/v1/board/session", ["-H", "Cookie: huddle_session=\(kept)"])
        #expect(fine.status == 200, "\(fine.status) \(fine.body)")
        let refused = try await f.curl("/v1/board/session", ["-H", "Cookie: huddle_session=\(expired)"])
        #expect(refused.status == 401, "\(refused.status) \(refused.body)")
        let left = try await TestDaemon.run(
            "/usr/bin/sqlite3", ["\(f.daemon.data)/huddle.sqlite", "SELECT count(*) FROM board_sessions WHERE key = '\(key)';"])
        #expect(left.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        _ = try await f.daemon.stop()
    }

    /// SIGTERM with tabs open: each is told (`closing`, reason `shutdown`, so the page says
    /// "reconnecting" rather than "signed out") and the daemon's exit does not wait for them.
    @Test func aDaemonStoppingWithTabsOpenTellsThemAndExitsPromptly() async throws {
        let f = try await Floor()
        let cookie = "Cookie: huddle_session=\(try await f.signIn(f.supervisor))"
        let tabs = try (0..<3).map { _ in try f.stream([cookie]) }
        for tab in tabs { try await tab.waitFor("the snapshot") { $0.contains { $0.event == "snapshot" } } }
        let started = ContinuousClock.now
        #expect(try await f.daemon.stop() == 0)
        let took = ContinuousClock.now - started
        for tab in tabs {
            let frames = try await tab.waitFor("the closing frame") { $0.contains { $0.event == "closing" } }
            let closing = try #require(frames.last { $0.event == "closing" })
            #expect(closing.json?["reason"] == "shutdown", "\(closing.data)")
            try await tab.waitForEnd()
            tab.close()
        }
        // The daemon's own drain allows 10 s for connections; open streams must not use it up.
        #expect(took < .seconds(8), "stopping with three tabs open took \(took)")
    }

    @Test func badLastEventIDsTeamsAndTokensAreRefusedClearly() async throws {
        let f = try await Floor()
        let cookie = "Cookie: huddle_session=\(try await f.signIn(f.supervisor))"
        for garbage in ["nonsense", "abc:-1", "abc:1:2:3", ":5", "abc:x", "abc:9999999999999999999999"] {
            let reply = try await f.curl("/v1/teams/floor-a/events", ["-H", cookie, "-H", "Last-Event-ID: \(garbage)"])
            #expect(reply.status == 400 && reply.errorMessage.contains("Last-Event-ID"), "\(garbage): \(reply.status)")
        }
        #expect(try await f.curl("/v1/teams/floor-b/events", ["-H", cookie]).status == 403, "a team sam is not in")
        #expect(try await f.curl("/v1/teams/nowhere/events", ["-H", cookie]).status == 403)
        #expect(try await f.curl("/v1/teams/floor-a/events").status == 401)
        #expect(try await f.curl("/v1/teams/floor-a/events", ["-H", "Cookie: huddle_session=hds_nope"]).status == 401)
        // A bearer token works for scripts: an agent reads the team stream.
        let script = try f.stream(["Authorization: Bearer \(f.agent)"])
        let frames = try await script.waitFor("the agent's snapshot") { $0.first?.event == "snapshot" }
        #expect(frames[0].json?["supervisors_seq"] == nil && frames[0].json?["snapshot"]?["alerts"] == nil)
        script.close()
        _ = try await f.daemon.stop()
    }

    @Test func aDisplaySeesWhatAMemberSeesAndCanChangeNothing() async throws {
        let f = try await Floor(arguments: [])
        let key = try await f.displayKey()
        let session = try await f.curl("/v1/board/session?display=\(key)")
        #expect(session.status == 200 && session.json?["display"] == true && session.json?["team"] == "floor-a")
        #expect(session.json?["csrf"] == nil)
        let display = try f.stream([], query: "?display=\(key)")
        let opened = try await display.waitFor("the display's snapshot") { $0.first?.event == "snapshot" }
        #expect(opened[0].json?["snapshot"]?["alerts"] == nil && opened[0].json?["supervisors_seq"] == nil)
        #expect(try await f.curl("/v1/teams/floor-b/events?display=\(key)").status == 403, "another team")

        // A wellbeing break: the display sees "break" with no reason, and no alert.
        let alice = try await f.daemon.session(f.agent)
        _ = try await alice.request("status.set", ["status": "break", "reason": "abusive_call"])
        let frames = try await display.waitFor("alice's break") { frames in
            frames.contains { $0.json?["type"] == "status" && $0.json?["status"] == "break" }
        }
        #expect(!frames.contains { $0.data.contains("abusive") || $0.json?["type"] == "alert" })
        let sam = try await f.daemon.session(f.supervisor)
        let joined = try await sam.request("team.join", ["team": "floor-a"])
        let alert = try #require(joined["snapshot"]?["alerts"]?.arrayValue?.first?["alert"]?.intValue)
        let refused = try await f.curl("/v1/alerts/\(alert)/ack?display=\(key)", ["-X", "POST", "--data", "{}"])
        #expect(refused.status == 403 && refused.errorMessage.contains("read-only"))

        // Removed: the open screen is closed at once, and the link no longer works.
        let id = String(key.split(separator: "_")[1])
        #expect(try await f.daemon.admin(["display", "list"]).contains(id))
        _ = try await f.daemon.admin(["display", "remove", id])
        let closed = try await display.waitFor("the closing frame") { $0.contains { $0.event == "closing" } }
        #expect(closed.last?.json?["reason"] == "token_revoked")
        #expect(try await f.curl("/v1/teams/floor-a/events?display=\(key)").status == 401)
        _ = try await f.daemon.stop()
    }

    @Test func acknowledgingNeedsTheBoardsOwnPageAndReachesEverySupervisor() async throws {
        let f = try await Floor()
        let value = try await f.signIn(f.supervisor)
        let cookie = "Cookie: huddle_session=\(value)"
        let csrf = try #require(try await f.curl("/v1/board/session", ["-H", cookie]).json?["csrf"]?.stringValue)
        let alice = try await f.daemon.session(f.agent)
        _ = try await alice.request("status.set", ["status": "break", "reason": "abusive_call"])
        let other = try await f.daemon.session(try await f.daemon.addUser("lee", role: .supervisor, teams: ["floor-a"]))
        let joined = try await other.request("team.join", ["team": "floor-a"])
        let alert = try #require(joined["snapshot"]?["alerts"]?.arrayValue?.first?["alert"]?.intValue)
        let path = "/v1/alerts/\(alert)/ack"
        let json = ["-X", "POST", "-H", "Content-Type: application/json", "--data", #"{"note":"coming over"}"#]

        let crossSite = try await f.curl(path, json + ["-H", cookie, "-H", "X-Huddle-CSRF: \(csrf)", "-H", "Origin: https://evil.example"])
        #expect(crossSite.status == 403 && crossSite.errorCode == "cross_site")
        let fetchSite = try await f.curl(path, json + ["-H", cookie, "-H", "X-Huddle-CSRF: \(csrf)", "-H", "Sec-Fetch-Site: cross-site"])
        #expect(fetchSite.status == 403 && fetchSite.errorCode == "cross_site")
        let noToken = try await f.curl(path, json + ["-H", cookie, "-H", "Sec-Fetch-Site: same-origin"])
        #expect(noToken.status == 403 && noToken.errorMessage.contains("X-Huddle-CSRF"))
        #expect(try await f.curl(path, json).status == 401)
        #expect(try await f.curl("/v1/alerts/x/ack", json + ["-H", cookie]).status == 404)

        let done = try await f.curl(
            path, json + ["-H", cookie, "-H", "X-Huddle-CSRF: \(csrf)", "-H", "Sec-Fetch-Site: same-origin", "-H", "Origin: \(f.base)"])
        #expect(done.status == 200 && done.json?["supervisors_seq"]?.intValue != nil, "\(done.status) \(done.body)")
        let ack = try await other.nextEvent(type: "alert_ack") { $0.params["alert"]?.intValue == alert }
        #expect(ack.params["by"] == "sam" && ack.params["note"] == "coming over")
        let again = try await f.curl(path, json + ["-H", cookie, "-H", "X-Huddle-CSRF: \(csrf)"])
        #expect(again.status == 404, "an alert is acknowledged once")
        // A script's bearer token needs no CSRF value: it is not a cookie a browser sends by itself.
        _ = try await f.daemon.stop()
    }

    @Test func signOutRotationAndRemovalEndTheSessionAndItsStreams() async throws {
        let f = try await Floor()
        let value = try await f.signIn(f.supervisor)
        let cookie = "Cookie: huddle_session=\(value)"
        let csrf = try #require(try await f.curl("/v1/board/session", ["-H", cookie]).json?["csrf"]?.stringValue)
        let stream = try f.stream([cookie])
        try await stream.waitFor("the snapshot") { $0.first?.event == "snapshot" }
        // A sign-out from another site is refused; from the board it ends the session.
        let forged = try await f.curl("/logout", ["-H", cookie, "-H", "Origin: https://evil.example", "--data", "csrf=\(csrf)"])
        #expect(forged.status == 403)
        let out = try await f.curl("/logout", ["-H", cookie, "-H", "Sec-Fetch-Site: same-origin", "--data", "csrf=\(csrf)"])
        #expect(out.status == 303 && out.headers["set-cookie"]?.contains("Max-Age=0") == true)
        try await stream.waitFor("the stream's end") { $0.contains { $0.event == "closing" } }
        #expect(try await f.curl("/v1/board/session", ["-H", cookie]).status == 401)

        // Rotation: the cookie made with the old token is refused, its open stream closed.
        let second = "Cookie: huddle_session=\(try await f.signIn(f.supervisor))"
        let watching = try f.stream([second])
        try await watching.waitFor("the snapshot") { $0.first?.event == "snapshot" }
        _ = try await f.daemon.admin(["user", "token", "sam"])
        let closed = try await watching.waitFor("token_revoked") { $0.contains { $0.event == "closing" } }
        #expect(closed.last?.json?["reason"] == "token_revoked")
        #expect(try await f.curl("/v1/board/session", ["-H", second]).status == 401)
        #expect(try await f.curl("/v1/teams/floor-a/events", ["-H", second]).status == 401)
        _ = try await f.daemon.stop()
    }

    /// A thousand tabs at once from one sign-in: the first 20 are served, every other one is
    /// a clear 429 with Retry-After, and the daemon goes on serving everyone else.
    @Test func aThousandTabsAtOnceAreCappedWithA429() async throws {
        try await HeavyTests.one {
            let f = try await Floor()
            let cookie = "Cookie: huddle_session=\(try await f.signIn(f.supervisor))"
            let urls = Array(repeating: "\(f.base)/v1/teams/floor-a/events", count: 1000)
            // One curl, a thousand transfers in parallel, each held at most 20 s: on CI's two
            // loaded cores, with 8 s, some 70 transfers had no answer yet ("000": a thousand
            // debug-build TLS handshakes at once, or connects dropped from a full backlog and
            // sent again after 1, 3 and 7 s). Each URL needs
            // its own `-o` (one applies to one URL only): a body on standard output would run
            // into the status codes written after it.
            let output = try await TestDaemon.run(
                "/usr/bin/curl",
                ["-sS", "--cacert", f.daemon.certificate, "-Z", "--parallel-max", "1000", "--max-time", "20", "-H", cookie,
                 "-w", "%{http_code}\n"] + urls.flatMap { ["-o", "/dev/null", $0] }, check: false)
            let codes = output.stdout.split(separator: "\n").map(String.init)
            let served = codes.filter { $0 == "200" }.count
            let refused = codes.filter { $0 == "429" }.count
            #expect(served == 20 && refused == 980, "200: \(served), 429: \(refused), others: \(Set(codes))")
            let limited = try await f.curl("/v1/teams/floor-a/events", ["-H", cookie, "--max-time", "2"])
            #expect(limited.status == 200 || limited.status == 429)
            // Everyone else is served meanwhile, and the daemon is unhurt.
            #expect(try await f.curl("/healthz").status == 200)
            let alice = try await f.daemon.session(f.agent)
            _ = try await alice.request("status.set", ["status": "available"])
            _ = try await f.daemon.stop()
        }
    }

    /// A tab that stops reading is cut once more than the outbound limit waits for it; another
    /// stream of the same team gets every event meanwhile.
    @Test func aStalledTabIsCutAndDelaysNobody() async throws {
        try await HeavyTests.one {
            let f = try await Floor(arguments: [
                "--outbound-buffer-bytes", "65536", "--write-timeout-s", "2", "--rate-per-s", "100000", "--rate-burst", "100000",
                "--max-sessions-per-user", "32",
            ])
            let value = try await f.signIn(f.supervisor)
            let stuck = try await StalledStream.open(port: f.daemon.httpPort, path: "/v1/teams/floor-a/events", cookie: value)
            let reader = try f.stream(["Cookie: huddle_session=\(value)"])
            try await reader.waitFor("the snapshot") { $0.first?.event == "snapshot" }
            // More than the kernel's buffers hold (several MB on loopback), from 8 senders at
            // once, until the daemon says it cut the stalled tab.
            let padding = String(repeating: "x", count: 480)
            let sent = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        let sender = try await f.daemon.session(f.agent)
                        var count = 0
                        for i in 0..<1500 {
                            if i % 50 == 0, f.daemon.log.contains("slow reader of an event stream") { break }
                            _ = try await sender.request(
                                "message.send", ["team": "floor-a", "text": .string("\(worker)-\(i) \(padding)")])
                            count += 1
                        }
                        return count
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(f.daemon.log.contains("disconnecting a slow reader of an event stream"))
            let frames = try await reader.waitFor("all \(sent) messages", within: .seconds(30)) { frames in
                frames.filter { $0.json?["type"] == "message" }.count == sent
            }
            let seqs = frames.compactMap { $0.json?["type"] == "message" ? $0.json?["seq"]?.intValue : nil }
            #expect(seqs == seqs.sorted() && Set(seqs).count == sent)
            #expect(await offThePool { stuck.isClosedByPeer(within: 30) }, "the stalled tab was never cut")
            reader.close()
            #expect(try await f.daemon.stop() == 0)
        }
    }
}

/// A browser tab that asks for the event stream and then never reads (a tiny receive buffer,
/// so that the daemon's side fills quickly).
final class StalledStream: Sendable {
    let process: ChildProcess

    static let script = SlowReaderTests.closedByPeer + #"""
        import socket, ssl, sys
        port, path, cookie = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", port))
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: huddle_session={cookie}\r\n\r\n".encode())
        seen = b""
        while b"event: snapshot" not in seen:
            seen += tls.recv(65536)
        print("open", flush=True)
        print(closed_by_peer(tls, float(sys.stdin.readline())), flush=True)
        """#

    /// Returns once the tab has its snapshot (waiting off the cooperative pool).
    static func open(port: Int, path: String, cookie: String) async throws -> StalledStream {
        let process = try ChildProcess(
            ["/usr/bin/python3", "-c", script, "\(port)", path, cookie], stdin: .pipe, stdout: .pipe, stderr: .pipe)
        let first = await offThePool { String(decoding: process.output?.availableData ?? Data(), as: UTF8.self) }
        guard first.hasPrefix("open") else { throw TestDaemon.Failure(description: "stalled stream: \(first)") }
        return StalledStream(process)
    }

    private init(_ process: ChildProcess) { self.process = process }

    /// Blocking: call it off the cooperative pool.
    func isClosedByPeer(within seconds: Double) -> Bool {
        process.input?.write(Data("\(seconds)\n".utf8))
        // What is left of the "open" line may come first.
        let answer = String(decoding: process.output?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        process.waitUntilExit()
        if !answer.hasPrefix("closed") {
            let errors = String(decoding: process.errors?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
            FileHandle.standardError.write(Data("stalled stream: \(answer) \(process.terminationStatus) \(errors)\n".utf8))
        }
        return answer.hasPrefix("closed")
    }
}

import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// The HTTP side as a bot and a Prometheus server use it: the real daemon, real TLS, the real
/// `curl` (and `promtool` from Debian's `prometheus` package for the metrics format).
@Suite struct HTTPTests {
    /// What `curl -i` printed: the status, the headers (names in lower case) and the body.
    struct Reply {
        var exit: Int32
        var status: Int
        var headers: [String: String]
        var body: String

        var json: JSONValue? { try? JSONParser.parse(body) }
        var errorCode: String? { json?["error"]?["code"]?.stringValue }
        var errorMessage: String { json?["error"]?["message"]?.stringValue ?? "" }
    }

    static func curl(_ arguments: [String]) async throws -> Reply {
        // `Expect:` off: no 100-continue round trip for larger bodies.
        let output = try await TestDaemon.run(
            "/usr/bin/curl", ["-sS", "-i", "--max-time", "10", "-H", "Expect:"] + arguments, check: false)
        let text = output.stdout
        guard let split = text.range(of: "\r\n\r\n") else {
            return Reply(exit: output.status, status: 0, headers: [:], body: output.stderr)
        }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Reply(exit: output.status, status: status, headers: headers, body: String(text[split.upperBound...]))
    }

    /// A running daemon with a team, a bot, an agent and a supervisor; `floor-b` exists too.
    struct Fixture {
        let daemon: TestDaemon
        let bot: String
        let agent: String
        let supervisor: String
        let otherBot: String

        init(arguments: [String] = []) async throws {
            daemon = try TestDaemon(arguments: arguments)
            try await daemon.addTeam("floor-a")
            try await daemon.addTeam("floor-b")
            bot = try await daemon.addUser("qbot", role: .bot, teams: ["floor-a"])
            agent = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
            supervisor = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
            otherBot = try await daemon.addUser("bbot", role: .bot, teams: ["floor-b"])
            try await daemon.start()
        }

        var base: String { "https://127.0.0.1:\(daemon.httpPort)" }

        /// Writes a body to a file of its own and returns its path.
        func body(_ text: String) async throws -> String {
            let path = "\(daemon.directory)/body-\(UUID().uuidString).json"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        /// `POST /v1/teams/TEAM/queue` the way the README tells a bot to.
        func post(team: String = "floor-a", token: String?, bodyFile: String, scheme: String = "https") async throws -> Reply {
            var arguments = ["--cacert", daemon.certificate]
            if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
            arguments += [
                "--data-binary", "@\(bodyFile)", "\(scheme)://127.0.0.1:\(daemon.httpPort)/v1/teams/\(team)/queue",
            ]
            return try await HTTPTests.curl(arguments)
        }
    }

    /// `/metrics` needs no token, so a teammate can read it: a wellbeing break (and anything
    /// else about one person) must not show there, only what concerns the team as a whole.
    @Test func metricsDoNotTellWhoIsOnAWellbeingBreak() async throws {
        let floor = try await Fixture()
        let supervisor = try await floor.daemon.session(floor.supervisor)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let agent = try await floor.daemon.session(floor.agent)
        _ = try await agent.request("status.set", ["status": "break", "reason": "abusive_call"])
        _ = try await supervisor.nextEvent(type: "alert") { $0["kind"] == "wellbeing_break" }
        let text = try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "\(floor.base)/metrics"]).body
        #expect(text.contains("huddle_alerts_open{"), "the team-wide series are there")
        for word in ["wellbeing", "abusive", "escalation", "overdue", "ghost"] {
            #expect(!text.contains(word), "/metrics mentions \(word)")
        }
        // What is there is team-wide (a break may well breach coverage: any break would).
        let kinds = Set(text.split(separator: "\n").filter { $0.hasPrefix("huddle_alerts_open{") }.compactMap {
            $0.firstMatch(of: /kind="([a-z_]+)"/).map { String($0.1) }
        })
        #expect(kinds == Set(Alert.Kind.teamWide.map(\.rawValue)), "\(kinds)")
        #expect(try await floor.daemon.stop() == 0)
    }

    @Test func aBotPostsAQueueReportWithCurlAndTheTeamSeesIt() async throws {
        let floor = try await Fixture()
        let supervisor = try await floor.daemon.session(floor.supervisor)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])

        let body = try await floor.body(#"{"calls_waiting": 7, "oldest_wait_s": 42, "calls_per_hour": 90, "aht_s": 200, "note": "via curl"}"#)
        // The README's one-line form: `-d @FILE`.
        let reply = try await HTTPTests.curl([
            "--cacert", floor.daemon.certificate, "-H", "Authorization: Bearer \(floor.bot)", "-d", "@\(body)",
            "\(floor.base)/v1/teams/floor-a/queue",
        ])
        #expect(reply.status == 202, "\(reply)")
        #expect(reply.headers["content-type"] == "application/json")
        let seq = try #require(reply.json?["seq"]?.intValue)
        let event = try await supervisor.nextEvent(type: "queue")
        #expect(event.seq == seq)
        #expect(event["calls_waiting"] == 7 && event["oldest_wait_s"] == 42 && event["by"] == "qbot" && event["note"] == "via curl")

        // The team in the body may be given, and must match the path.
        let same = try await floor.post(token: floor.bot, bodyFile: floor.body(#"{"team": "floor-a", "calls_waiting": 1, "oldest_wait_s": 1}"#))
        #expect(same.status == 202, "\(same)")
        #expect(try await supervisor.nextEvent(type: "queue").seq == same.json?["seq"]?.intValue)
        // A supervisor of the team may post too.
        #expect(try await floor.post(token: floor.supervisor, bodyFile: body).status == 202)
        #expect(try await floor.daemon.stop() == 0)
    }

    @Test func refusalsAreJSONWithTheRightStatus() async throws {
        let floor = try await Fixture()
        let good = try await floor.body(#"{"calls_waiting": 3, "oldest_wait_s": 10}"#)
        func expectError(_ reply: Reply, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(reply.status == status, "\(reply)", sourceLocation: sourceLocation)
            #expect(reply.errorCode == code, "\(reply.body)", sourceLocation: sourceLocation)
            #expect(reply.headers["content-type"] == "application/json", sourceLocation: sourceLocation)
            #expect(!reply.errorMessage.isEmpty, sourceLocation: sourceLocation)
        }

        // Tokens: none, malformed, well formed but unknown, a rotated one.
        let none = try await floor.post(token: nil, bodyFile: good)
        expectError(none, 401, "unauthorized")
        #expect(none.headers["www-authenticate"] == "Bearer")
        expectError(try await floor.post(token: "nonsense", bodyFile: good), 401, "unauthorized")
        let wrong = "hdl_\(String(repeating: "a", count: 12))_\(String(repeating: "b", count: 64))"
        expectError(try await floor.post(token: wrong, bodyFile: good), 401, "unauthorized")
        let basic = try await HTTPTests.curl([
            "--cacert", floor.daemon.certificate, "-u", "qbot:secret", "--data-binary", "@\(good)",
            "\(floor.base)/v1/teams/floor-a/queue",
        ])
        expectError(basic, 401, "unauthorized")

        // Roles and teams.
        expectError(try await floor.post(token: floor.agent, bodyFile: good), 403, "forbidden")
        expectError(try await floor.post(token: floor.otherBot, bodyFile: good), 403, "forbidden")
        expectError(try await floor.post(team: "floor-b", token: floor.bot, bodyFile: good), 403, "forbidden")
        expectError(try await floor.post(team: "floor-z", token: floor.bot, bodyFile: good), 404, "not_found")

        // Bodies.
        expectError(try await floor.post(token: floor.bot, bodyFile: floor.body(#"{"calls_waiting": 3,"#)), 400, "bad_request")
        expectError(try await floor.post(token: floor.bot, bodyFile: floor.body("")), 400, "bad_request")
        expectError(try await floor.post(token: floor.bot, bodyFile: floor.body("[1, 2]")), 400, "bad_request")
        let invalidUTF8 = "\(floor.daemon.directory)/latin1.json"
        try Data([0x7B, 0x22, 0x6E, 0x6F, 0x74, 0x65, 0x22, 0x3A, 0x22, 0xE9, 0x22, 0x7D]).write(to: URL(fileURLWithPath: invalidUTF8))
        expectError(try await floor.post(token: floor.bot, bodyFile: invalidUTF8), 400, "bad_request")
        let badParam = try await floor.post(token: floor.bot, bodyFile: floor.body(#"{"calls_waiting": "lots", "oldest_wait_s": 10}"#))
        expectError(badParam, 400, "bad_request")
        #expect(badParam.errorMessage.contains("calls_waiting"))
        #expect(badParam.json?["error"]?["param"] == "calls_waiting")
        let missing = try await floor.post(token: floor.bot, bodyFile: floor.body(#"{"calls_waiting": 2}"#))
        expectError(missing, 400, "bad_request")
        #expect(missing.errorMessage.contains("oldest_wait_s"))
        let mismatch = try await floor.post(
            token: floor.bot, bodyFile: floor.body(#"{"team": "floor-b", "calls_waiting": 3, "oldest_wait_s": 10}"#))
        expectError(mismatch, 400, "bad_request")
        #expect(mismatch.errorMessage.contains("team"))
        let control = try await floor.post(
            token: floor.bot, bodyFile: floor.body(#"{"calls_waiting": 3, "oldest_wait_s": 10, "note": "a\u0007b"}"#))
        expectError(control, 400, "bad_request")
        #expect(control.errorMessage.contains("note"))

        // Over the line limit (16 KiB by default): 413, with or without a Content-Length.
        let huge = try await floor.body(
            #"{"calls_waiting": 3, "oldest_wait_s": 10, "note": "\#(String(repeating: "x", count: 20_000))"}"#)
        expectError(try await floor.post(token: floor.bot, bodyFile: huge), 413, "too_large")
        let chunked = try await HTTPTests.curl([
            "--cacert", floor.daemon.certificate, "-H", "Authorization: Bearer \(floor.bot)", "-H", "Transfer-Encoding: chunked",
            "--data-binary", "@\(huge)", "\(floor.base)/v1/teams/floor-a/queue",
        ])
        expectError(chunked, 413, "too_large")

        // Paths and methods.
        let get = try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "\(floor.base)/v1/teams/floor-a/queue"])
        expectError(get, 405, "method_not_allowed")
        #expect(get.headers["allow"] == "POST")
        expectError(try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "\(floor.base)/v1/teams"]), 404, "not_found")
        expectError(try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "\(floor.base)/"]), 404, "not_found")
        let postHealth = try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "-d", "x", "\(floor.base)/healthz"])
        expectError(postHealth, 405, "method_not_allowed")

        // After all that, the bot still gets through, and the health check needs no token.
        let after = try await floor.post(token: floor.bot, bodyFile: good)
        #expect(after.status == 202, "\(after)")
        let health = try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "\(floor.base)/healthz"])
        #expect(health.status == 200)
        #expect(health.json == ["status": "ok"])
        // Every answer, refusals included, is marked as data for programs and keeps the client on TLS.
        for reply in [health, get, postHealth, after] {
            #expect(reply.headers["x-content-type-options"] == "nosniff")
            #expect(reply.headers["cache-control"] == "no-store")
            #expect(reply.headers["strict-transport-security"] == "max-age=31536000")
        }
        #expect(try await floor.daemon.stop() == 0)
    }

    @Test func aFloodIsRateLimitedWithRetryAfter() async throws {
        let floor = try await Fixture(arguments: ["--bot-rate-per-s", "0.5", "--bot-rate-burst", "3"])
        let good = try await floor.body(#"{"calls_waiting": 3, "oldest_wait_s": 10}"#)
        var statuses: [Int] = []
        var limited: Reply?
        for _ in 0..<6 {
            let reply = try await floor.post(token: floor.bot, bodyFile: good)
            statuses.append(reply.status)
            if reply.status == 429 { limited = reply }
        }
        #expect(Array(statuses.prefix(3)) == [202, 202, 202], "\(statuses)")
        let refused = try #require(limited, "no 429 in \(statuses)")
        #expect(refused.errorCode == "rate_limited")
        let retryAfter = try #require(Int(refused.headers["retry-after"] ?? ""))
        #expect((1...2).contains(retryAfter))
        // Another bot has its own bucket.
        #expect(try await floor.post(team: "floor-b", token: floor.otherBot, bodyFile: good).status == 202)
        let metrics = try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "\(floor.base)/metrics"])
        #expect(try HTTPTests.value(metrics.body, #"huddle_rate_limited_total{side="http"}"#) >= 1)
        #expect(try await floor.daemon.stop() == 0)
    }

    /// One sample's value from the text format.
    static func value(_ text: String, _ series: String) throws -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            if let value = Double(line.dropFirst(series.count + 1)) { return value }
        }
        throw TestDaemon.Failure(description: "no sample \(series) in:\n\(text)")
    }

    @Test func metricsPassPromtoolAndShowTheFloor() async throws {
        let floor = try await Fixture()
        let supervisor = try await floor.daemon.session(floor.supervisor)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let agent = try await floor.daemon.session(floor.agent)
        _ = try await agent.request("status.set", ["status": "available"])
        // A hot queue opens a queue_pressure alert.
        let hot = try await floor.body(#"{"calls_waiting": 50, "oldest_wait_s": 900}"#)
        #expect(try await floor.post(token: floor.bot, bodyFile: hot).status == 202)
        _ = try await supervisor.nextEvent(type: "alert") { $0["kind"] == "queue_pressure" }

        let reply = try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "\(floor.base)/metrics"])
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = reply.body

        // Prometheus's own checker reads it without a complaint.
        let promtool = "/usr/bin/promtool"
        if FileManager.default.isExecutableFile(atPath: promtool) {
            let input = "\(floor.daemon.directory)/metrics.txt"
            try text.write(toFile: input, atomically: true, encoding: .utf8)
            let check = try await TestDaemon.run("/bin/sh", ["-c", "\(promtool) check metrics < '\(input)'"], check: false)
            #expect(check.status == 0, "promtool: \(check.stdout)\(check.stderr)")
        } else {
            Issue.record("promtool is missing: apt-get install prometheus (.ci/run does)")
        }

        for name in [
            "huddle_connections", "huddle_sessions", "huddle_events_committed_total", "huddle_deliveries_total",
            "huddle_commit_latency_seconds", "huddle_commit_batch_events", "huddle_slow_reader_disconnects_total",
            "huddle_rate_limited_total", "huddle_team_available", "huddle_team_required", "huddle_team_on_break",
            "huddle_alerts_open",
        ] {
            #expect(text.contains("# HELP \(name) "), "no \(name)")
        }
        #expect(try HTTPTests.value(text, "huddle_connections") >= 2)
        #expect(try HTTPTests.value(text, #"huddle_sessions{role="supervisor"}"#) == 1)
        #expect(try HTTPTests.value(text, #"huddle_sessions{role="agent"}"#) == 1)
        #expect(try HTTPTests.value(text, #"huddle_sessions{role="bot"}"#) == 0)
        #expect(try HTTPTests.value(text, "huddle_events_committed_total") > 0)
        #expect(try HTTPTests.value(text, "huddle_deliveries_total") > 0)
        #expect(try HTTPTests.value(text, "huddle_commit_latency_seconds_count") > 0)
        #expect(try HTTPTests.value(text, "huddle_commit_batch_events_count") > 0)
        #expect(try HTTPTests.value(text, "huddle_slow_reader_disconnects_total") == 0)
        #expect(try HTTPTests.value(text, #"huddle_team_available{team="floor-a"}"#) == 1)
        #expect(try HTTPTests.value(text, #"huddle_team_on_break{team="floor-a"}"#) == 0)
        #expect(try HTTPTests.value(text, #"huddle_team_required{team="floor-a"}"#) == 2)
        #expect(try HTTPTests.value(text, #"huddle_team_available{team="floor-b"}"#) == 0)
        #expect(try HTTPTests.value(text, #"huddle_alerts_open{team="floor-a",kind="queue_pressure"}"#) == 1)
        #expect(try HTTPTests.value(text, #"huddle_alerts_open{team="floor-a",kind="node_outage"}"#) == 0)

        // The figures follow the floor: the agent leaves, the session count drops.
        await agent.close()
        try await Task.sleep(for: .milliseconds(300))
        let after = try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "\(floor.base)/metrics"]).body
        #expect(try HTTPTests.value(after, #"huddle_sessions{role="agent"}"#) == 0)
        #expect(try HTTPTests.value(after, #"huddle_team_available{team="floor-a"}"#) == 0)
        #expect(try await floor.daemon.stop() == 0)
    }

    @Test func plainHTTPWhenAskedFor() async throws {
        let floor = try await Fixture(arguments: ["--http-plaintext"])
        let port = floor.daemon.httpPort
        let health = try await HTTPTests.curl(["http://127.0.0.1:\(port)/healthz"])
        #expect(health.status == 200 && health.json == ["status": "ok"])
        #expect(health.headers["strict-transport-security"] == nil)  // only said over TLS
        let body = try await floor.body(#"{"calls_waiting": 3, "oldest_wait_s": 10}"#)
        #expect(try await floor.post(token: floor.bot, bodyFile: body, scheme: "http").status == 202)
        // TLS is off on that port: a TLS client gets nowhere.
        #expect(try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "https://127.0.0.1:\(port)/healthz"]).status == 0)
        // The protocol port keeps its TLS.
        let session = try await floor.daemon.session(floor.supervisor)
        #expect(try await session.request("session.ping") == [:])
        #expect(try await floor.daemon.stop() == 0)
    }

    @Test func sighupSwapsTheHTTPCertificateToo() async throws {
        let floor = try await Fixture()
        let oldCertificate = "\(floor.daemon.directory)/old-cert.pem"
        try FileManager.default.copyItem(atPath: floor.daemon.certificate, toPath: oldCertificate)
        let tls = "\(floor.daemon.data)/tls"
        _ = try await TestDaemon.run(
            "/usr/bin/openssl",
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(tls)/key.pem",
             "-out", "\(tls)/cert.pem", "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        floor.daemon.signal(SIGHUP)
        let deadline = ContinuousClock.now + .seconds(5)
        while !floor.daemon.log.contains("certificate reloaded") {
            guard ContinuousClock.now < deadline else { throw TestDaemon.Failure(description: "no reload:\n\(floor.daemon.log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await HTTPTests.curl(["--cacert", floor.daemon.certificate, "\(floor.base)/healthz"]).status == 200)
        let stale = try await HTTPTests.curl(["--cacert", oldCertificate, "\(floor.base)/healthz"])
        #expect(stale.status == 0 && stale.exit != 0, "the old certificate must no longer verify")
        #expect(try await floor.daemon.stop() == 0)
    }
}

import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// SPEC §12 against the real daemon and a real HTTP receiver on loopback
/// (`Tests/Receivers/notice_receiver.py`) that fails, hangs, redirects and comes back.
@Suite struct NotifyTests {
    struct Floor {
        let daemon: TestDaemon
        let supervisor: Peer
        let alice: Peer
        let samToken: String

        /// `huddle ARGS` as sam.
        func huddle(_ arguments: [String]) async throws -> TestDaemon.Output {
            try await TestDaemon.run(
                TestDaemon.huddle,
                ["--server", "127.0.0.1:\(daemon.port)", "--token", samToken, "--ca", daemon.certificate] + arguments)
        }
    }

    /// A team with alice (an agent) and sam (its supervisor) signed in, the targets added before
    /// the start; `arguments` are the daemon's.
    func floor(
        targets: [[String]], arguments: [String] = ["--notify-allow-http"], policy: [String: JSONValue] = [:]
    ) async throws -> Floor {
        let daemon = try TestDaemon(arguments: arguments)
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        for target in targets { try await daemon.admin(["notify", "add", "floor-a"] + target) }
        try await daemon.start()
        let supervisor = try await daemon.session(sam)
        var relaxed: [String: JSONValue] = ["min_available": 0, "max_on_break": 5]
        relaxed.merge(policy) { $1 }
        _ = try await supervisor.request("policy.set", ["team": "floor-a", "policy": .object(relaxed), "comment": "test"])
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let agent = try await daemon.session(alice)
        _ = try await agent.request("team.join", ["team": "floor-a"])
        return Floor(daemon: daemon, supervisor: supervisor, alice: agent, samToken: sam)
    }

    /// A wellbeing break: one critical alert, at once. Returns its id.
    @discardableResult
    func wellbeingBreak(_ f: Floor) async throws -> Int64 {
        _ = try await f.alice.request("status.set", ["status": "break", "reason": "abusive_call"])
        let alert = try await f.supervisor.nextEvent(type: "alert") { $0["kind"] == "wellbeing_break" }
        _ = try await f.alice.request("status.set", ["status": "available"])
        return alert["alert"]?.intValue ?? 0
    }

    func log(_ daemon: TestDaemon) -> String { (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? "" }

    /// PROTOCOL.md §23's `verify`, run as a receiver would run it, on a request as received.
    static func verifiedAsProtocolSays(_ request: NoticeReceiver.Request, secret: String) async throws -> Bool {
        let doc = try String(contentsOfFile: "\(Browser.packageRoot)/Protocol/PROTOCOL.md", encoding: .utf8)
        guard let start = doc.range(of: "<!-- verify-begin -->\n```python\n"), let end = doc.range(of: "```\n<!-- verify-end -->")
        else { throw TestDaemon.Failure(description: "PROTOCOL.md has no verify block") }
        let code = String(doc[start.upperBound..<end.lowerBound])
        let headers = String(
            decoding: JSONWriter.encode(.object(request.headers.mapValues(JSONValue.string))), as: UTF8.self)
        let script = code + """

            import json, sys
            print(verify(sys.argv[1], json.loads(sys.argv[2]), base64.b64decode(sys.argv[3])))
            """
        let output = try await TestDaemon.run(
            "/usr/bin/python3", ["-c", script, secret, headers, Data(request.body).base64EncodedString()])
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "True"
    }

    @Test func eachFormatIsDeliveredAndTheJSONSignatureChecksOut() async throws {
        let receiver = try await NoticeReceiver(plan: ["/slack": ["200"], "/teams": ["202"], "/json": ["200"]])
        let secretFile = "\(receiver.directory)/secret"
        let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
        try secret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        let f = try await floor(targets: [
            ["--url", receiver.url("/slack"), "--format", "slack", "--allow-http"],
            ["--url", receiver.url("/teams"), "--format", "teams", "--allow-http"],
            ["--url", receiver.url("/json"), "--format", "json", "--secret-file", secretFile, "--allow-http"],
        ])
        let id = try await wellbeingBreak(f)

        let slack = try #require(try await receiver.wait(for: "/slack").first)
        let text = try #require(slack.json?["text"]?.stringValue)
        #expect(text == "Critical: Wellbeing break in floor-a: alice ended an abusive call and is taking a recovery break (alert \(id))")
        #expect(slack.headers["webhook-id"] == "huddle-\(try await epoch(f))-\(id)-raised-1")

        let teams = try #require(try await receiver.wait(for: "/teams").first)
        let attachment = try #require(teams.json?["attachments"]?.arrayValue?.first)
        #expect(teams.json?["type"] == "message")
        #expect(attachment["contentType"] == "application/vnd.microsoft.card.adaptive")
        #expect(attachment["content"]?["type"] == "AdaptiveCard")
        #expect(attachment["content"]?["body"]?.arrayValue?.first?["text"]?.stringValue == text)
        #expect(teams.headers["webhook-id"] == "huddle-\(try await epoch(f))-\(id)-raised-2")

        let json = try #require(try await receiver.wait(for: "/json").first)
        #expect(json.json?["type"] == "alert.raised")
        #expect(json.json?["data"]?["kind"] == "wellbeing_break")
        #expect(json.json?["data"]?["reason"] == "abusive_call")
        #expect(json.json?["data"]?["alert"]?.intValue == id)
        #expect(json.json?["data"]?["team"] == "floor-a")
        #expect(try await Self.verifiedAsProtocolSays(json, secret: secret))
        // A body changed by one byte, or another secret, does not check out.
        var forged = json
        forged.body[forged.body.count - 2] ^= 1
        #expect(try await !Self.verifiedAsProtocolSays(forged, secret: secret))
        let other = "whsec_" + Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()
        #expect(try await !Self.verifiedAsProtocolSays(json, secret: other))

        // The acknowledgment is notified too, after the raise (in order).
        _ = try await f.supervisor.request("alert.ack", ["alert": .int(id), "note": "calling her now"])
        let both = try await receiver.wait(for: "/json") { $0.count >= 2 }
        #expect(both.map { $0.json?["type"]?.stringValue } == ["alert.raised", "alert.acknowledged"])
        #expect(both[1].json?["data"]?["ack"]?["by"] == "sam")
        #expect(both[1].json?["data"]?["ack"]?["note"] == "calling her now")
        #expect(try await Self.verifiedAsProtocolSays(both[1], secret: secret))
        let acked = try await receiver.wait(for: "/slack") { $0.count >= 2 }
        #expect(acked[1].json?["text"] == .string("Acknowledged by sam: Wellbeing break in floor-a (alert \(id)): calling her now"))

        // `notify list` shows hosts and counts, never a URL or a secret; neither does the log
        // nor /metrics.
        let list = try await f.daemon.admin(["notify", "list"])
        #expect(list.contains("1\tfloor-a\tslack\t127.0.0.1\tall kinds\t>= info\tactive\t0 pending, 2 delivered"))
        let metrics = try await HTTPTests.curl(["--cacert", f.daemon.certificate, "https://127.0.0.1:\(f.daemon.httpPort)/metrics"]).body
        #expect(metrics.contains(#"huddle_notices_total{target="3",outcome="delivered"} 2"#))
        #expect(metrics.contains("huddle_notices_pending 0.0"))
        for text in [list, log(f.daemon), metrics] {
            #expect(!text.contains("/slack") && !text.contains("/json") && !text.contains(secret.dropFirst(6)))
        }
        #expect(try await f.daemon.stop() == 0)
    }

    /// The team's history epoch (part of every webhook-id), as stored.
    func epoch(_ f: Floor) async throws -> String {
        try await TestDaemon.run("/usr/bin/sqlite3", ["\(f.daemon.data)/huddle.sqlite", "SELECT epoch FROM teams WHERE name = 'floor-a'"])
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `notify add` and `notify remove` while the daemon runs take effect on the next alert.
    @Test func targetsAddedAndRemovedWhileTheDaemonRunsTakeEffectAtTheNextAlert() async throws {
        let receiver = try await NoticeReceiver(plan: ["/late": ["200"]])
        let f = try await floor(targets: [])
        try await wellbeingBreak(f)  // no target yet: nothing to send
        try await f.daemon.admin(["notify", "add", "floor-a", "--url", receiver.url("/late"), "--format", "slack", "--allow-http"])
        let id = try await wellbeingBreak(f)
        let got = try await receiver.wait(for: "/late")
        #expect(got.count == 1 && got[0].json?["text"]?.stringValue?.hasSuffix("(alert \(id))") == true)
        try await f.daemon.admin(["notify", "remove", "1"])
        try await wellbeingBreak(f)
        try await Task.sleep(for: .seconds(3))
        #expect(receiver.requests("/late").count == 1)
        #expect(try await f.daemon.admin(["notify", "list"]).isEmpty)
        #expect(try await f.daemon.stop() == 0)
    }

    /// 503 twice, then 200: delivered once, on the third try, each try logged; meanwhile a
    /// receiver that hangs holds up only itself, and a good one gets its notice at once.
    @Test func failuresAreRetriedAndAHangingReceiverHoldsUpNobody() async throws {
        let receiver = try await NoticeReceiver(plan: ["/flaky": ["503", "503", "200"], "/hang": ["hang", "200"], "/good": ["200"]])
        let f = try await floor(targets: [
            ["--url", receiver.url("/hang"), "--format", "json", "--allow-http"],
            ["--url", receiver.url("/flaky"), "--format", "json", "--allow-http"],
            ["--url", receiver.url("/good"), "--format", "json", "--allow-http"],
        ])
        let raisedAt = ContinuousClock.now
        try await wellbeingBreak(f)
        try await receiver.wait(for: "/good", within: .seconds(3))
        let good = ContinuousClock.now - raisedAt
        #expect(good < .seconds(3), "a hanging receiver delayed another target: \(good)")
        // The floor does not wait either: a status change is answered at once.
        let started = ContinuousClock.now
        _ = try await f.alice.request("status.set", ["status": "available", "note": "back"])
        #expect(ContinuousClock.now - started < .seconds(2))

        let flaky = try await receiver.wait(for: "/flaky", within: .seconds(15)) { $0.count >= 3 }
        #expect(flaky.map(\.answer) == ["503", "503", "200"])
        #expect(Set(flaky.map { $0.headers["webhook-id"] ?? "" }).count == 1)  // one notice, tried three times
        // Backoff: about 1 s, then about 2 s (each drawn from the upper half).
        #expect(flaky[1].at - flaky[0].at >= 0.45 && flaky[2].at - flaky[1].at >= 0.95)
        try await Task.sleep(for: .seconds(1))
        #expect(receiver.requests("/flaky").count == 3)  // delivered once: not posted again

        // The hang ends in a timeout (10 s) and a retry that is delivered.
        let hung = try await receiver.wait(for: "/hang", within: .seconds(25)) { $0.count >= 2 }
        #expect(hung.map(\.answer) == ["hang", "200"])

        // Supervisors were told what became of each (`notice` events), in order per target.
        var outcomes: [Int64: [String]] = [:]
        for _ in 0..<5 {
            let event = try await f.supervisor.nextEvent(type: "notice")
            outcomes[event["target"]?.intValue ?? 0, default: []].append(event["outcome"]?.stringValue ?? "")
        }
        #expect(outcomes == [1: ["retrying", "delivered"], 2: ["retrying", "delivered"], 3: ["delivered"]])
        // `huddle alerts` shows it; so does a snapshot (here a fresh join).
        let alerts = try await f.huddle(["alerts"])
        #expect(alerts.stdout.contains("NOTIFIED") && alerts.stdout.contains("json delivered, json delivered, json delivered"), "\(alerts.stdout)")
        let text = log(f.daemon)
        #expect(text.contains("notice not delivered; trying again") && text.contains("outcome=timeout"))
        #expect(text.contains("outcome=503"))
        let list = try await f.daemon.admin(["notify", "list"])
        #expect(list.split(separator: "\n").allSatisfy { $0.contains("0 pending, 1 delivered") })
        #expect(try await f.daemon.stop() == 0)
    }

    /// A receiver down for a while (nothing listens), then back on the same port.
    @Test func aReceiverThatWasDownGetsItsNoticesWhenItComesBack() async throws {
        // A port below the ephemeral range (32768 and up), so that no other test's receiver or
        // daemon, all on port 0, can be given it while this one is down.
        let receiver = try await NoticeReceiver(plan: ["/back": ["200"]], port: Int.random(in: 20_000..<30_000))
        await receiver.stop()
        let f = try await floor(targets: [["--url", receiver.url("/back"), "--format", "slack", "--allow-http"]])
        try await wellbeingBreak(f)
        // Tries fail while it is down.
        do {
            try await TestDaemon.waitFor("a refused try", within: .seconds(10)) {
                while !log(f.daemon).contains("outcome=connection refused") {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        } catch {
            Issue.record("\(error): \(log(f.daemon).suffix(1500))")
            throw error
        }
        try await Task.sleep(for: .seconds(2))
        try await receiver.start(plan: ["/back": ["200"]])
        let got = try await receiver.wait(for: "/back", within: .seconds(20))
        #expect(got.count == 1 && got[0].answer == "200")
        #expect(try await f.daemon.stop() == 0)
    }

    /// SIGKILL with notices pending: every one is delivered after the restart, and a notice
    /// posted twice has the same webhook-id.
    @Test func noticesPendingAtASIGKILLAreDeliveredAfterTheRestart() async throws {
        let receiver = try await NoticeReceiver(plan: ["/hook": ["503"]])
        let f = try await floor(targets: [["--url", receiver.url("/hook"), "--format", "json", "--allow-http"]])
        let first = try await wellbeingBreak(f)
        _ = try await f.supervisor.request("alert.ack", ["alert": .int(first), "note": "seen"])
        let second = try await wellbeingBreak(f)
        try await receiver.wait(for: "/hook", within: .seconds(10)) { $0.count >= 2 }  // failing tries
        try await f.daemon.kill9()
        await receiver.stop()
        try await receiver.start(plan: ["/hook": ["200"]])
        try await f.daemon.start()
        let epoch = try await epoch(f)
        let expected = Set([
            "huddle-\(epoch)-\(first)-raised-1", "huddle-\(epoch)-\(first)-acknowledged-1", "huddle-\(epoch)-\(second)-raised-1",
        ])
        let delivered = try await receiver.wait(for: "/hook", within: .seconds(20), "all three delivered") { requests in
            Set(requests.filter { $0.answer == "200" }.compactMap { $0.headers["webhook-id"] }) == expected
        }
        // In order, each delivered once after the restart.
        let after = delivered.filter { $0.answer == "200" }.compactMap { $0.headers["webhook-id"] }
        #expect(after == ["huddle-\(epoch)-\(first)-raised-1", "huddle-\(epoch)-\(first)-acknowledged-1", "huddle-\(epoch)-\(second)-raised-1"])
        #expect(delivered.allSatisfy { expected.contains($0.headers["webhook-id"] ?? "") })
        // The open alert shows its notice delivered, in a snapshot after the restart.
        let sam = try await f.daemon.session(f.samToken)
        try await TestDaemon.waitFor("the notice in a snapshot", within: .seconds(10)) {
            while true {
                let join = try await sam.request("team.join", ["team": "floor-a"])
                let open = join["snapshot"]?["alerts"]?.arrayValue?.first { $0["alert"]?.intValue == second }
                if open?["notices"] == [["target": 1, "format": "json", "outcome": "delivered"]] { return }
                _ = try await sam.request("team.leave", ["team": "floor-a"])
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(try await f.daemon.stop() == 0)
    }

    /// SIGTERM while a receiver hangs on a post: the daemon still stops at once (the post is
    /// dropped, not waited for), and the notice goes out after the restart.
    @Test func aSIGTERMDuringAHangingPostStopsAtOnceAndTheNoticeFollowsTheRestart() async throws {
        let receiver = try await NoticeReceiver(plan: ["/slow": ["hang"]])
        let f = try await floor(targets: [["--url", receiver.url("/slow"), "--format", "teams", "--allow-http"]])
        try await wellbeingBreak(f)
        try await receiver.wait(for: "/slow", within: .seconds(10))
        let stopping = ContinuousClock.now
        #expect(try await f.daemon.stop() == 0)
        #expect(ContinuousClock.now - stopping < .seconds(5))
        await receiver.stop()
        try await receiver.start(plan: ["/slow": ["202"]])
        try await f.daemon.start()
        let got = try await receiver.wait(for: "/slow", within: .seconds(15)) { $0.contains { $0.answer == "202" } }
        #expect(Set(got.compactMap { $0.headers["webhook-id"] }).count == 1)  // the same notice, tried again
        #expect(try await f.daemon.stop() == 0)
    }

    /// A redirect is not followed (and tried again like any failure); `410 Gone` disables the target.
    @Test func redirectsAreNotFollowedAndGoneDisables() async throws {
        let receiver = try await NoticeReceiver(plan: ["/moved": ["302"], "/gone": ["410"]])
        let f = try await floor(targets: [
            ["--url", receiver.url("/moved"), "--format", "json", "--allow-http"],
            ["--url", receiver.url("/gone"), "--format", "json", "--allow-http"],
        ])
        try await wellbeingBreak(f)
        try await receiver.wait(for: "/moved", within: .seconds(10)) { $0.count >= 2 }
        try await receiver.wait(for: "/gone", within: .seconds(10))
        try await Task.sleep(for: .seconds(1))
        #expect(receiver.requests("/elsewhere").isEmpty)
        #expect(log(f.daemon).contains("outcome=302 redirect (not followed)"))
        try await wellbeingBreak(f)
        try await Task.sleep(for: .seconds(2))
        #expect(receiver.requests("/gone").count == 1)  // disabled: the second alert is not posted
        let list = try await f.daemon.admin(["notify", "list"])
        #expect(list.contains("disabled") && list.contains("(410 gone)"))
        #expect(log(f.daemon).contains("the receiver answered 410 Gone: target disabled"))
        #expect(try await f.daemon.stop() == 0)
    }

    /// `http://` is refused by `notify add` without `--allow-http`, and a daemon without
    /// `--notify-allow-http` posts nothing to one (its notices wait).
    @Test func plainHTTPIsRefusedWithoutTheFlag() async throws {
        let receiver = try await NoticeReceiver(plan: ["/plain": ["200"]])
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let refused = try await TestDaemon.run(
            TestDaemon.huddled, ["notify", "add", "floor-a", "--url", receiver.url("/plain"), "--format", "slack", "--data", daemon.data],
            check: false)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("notices go over https only"))
        try await daemon.admin(["notify", "add", "floor-a", "--url", receiver.url("/plain"), "--format", "slack", "--allow-http"])
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.session(alice)
        _ = try await peer.request("team.join", ["team": "floor-a"])
        _ = try await peer.request("status.set", ["status": "break", "reason": "abusive_call"])
        try await TestDaemon.waitFor("the refusal in the log", within: .seconds(10)) {
            while !((try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? "").contains("without --notify-allow-http") {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(receiver.requests().isEmpty)
        #expect(try await daemon.admin(["notify", "list"]).contains("1 pending"))
        // `notify test` refuses it too, and with --allow-http says what the receiver answered.
        let test = try await TestDaemon.run(TestDaemon.huddled, ["notify", "test", "1", "--data", daemon.data], check: false)
        #expect(test.status != 0)
        let allowed = try await daemon.admin(["notify", "test", "1", "--allow-http"])
        #expect(allowed.contains("delivered: 127.0.0.1 answered 200"))
        #expect(receiver.requests().first?.json?["text"]?.stringValue?.contains("Test notice from huddled") == true)
        #expect(try await daemon.stop() == 0)
    }

    /// `coverage_breach` whatever the cause: here connections that dropped, no agent's own move.
    @Test func droppedConnectionsRaiseACoverageBreachThatIsNotified() async throws {
        let receiver = try await NoticeReceiver(plan: ["/breach": ["200"]])
        let f = try await floor(
            targets: [["--url", receiver.url("/breach"), "--format", "json", "--kinds", "coverage_breach", "--allow-http"]],
            policy: ["min_available": 1, "coverage_breach_after_s": 1])
        _ = try await f.alice.request("status.set", ["status": "available"])
        _ = try await f.supervisor.nextEvent(type: "coverage") { $0["state"] != "breach" }
        await f.alice.close()
        let alert = try await f.supervisor.nextEvent(within: .seconds(10), type: "alert") { $0["kind"] == "coverage_breach" }
        #expect(alert["user"] == nil)
        let posted = try #require(try await receiver.wait(for: "/breach").first)
        #expect(posted.json?["data"]?["kind"] == "coverage_breach")
        #expect(receiver.requests().allSatisfy { $0.json?["data"]?["kind"] == "coverage_breach" })  // --kinds filters
        #expect(try await f.daemon.stop() == 0)
    }
}

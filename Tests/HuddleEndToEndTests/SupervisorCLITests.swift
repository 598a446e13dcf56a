import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// Break coverage from the command line, against the real daemon: a supervisor's policy, alerts,
/// acknowledgments, forced changes and reports; an agent's denials, the queue and the wellbeing
/// break.
@Suite struct SupervisorCLITests {
    /// `huddle` signed in as one user by flags (no stored login).
    struct CLI {
        let daemon: TestDaemon
        let token: String
        let config: String

        init(_ daemon: TestDaemon, _ name: String, token: String) {
            self.daemon = daemon
            self.token = token
            config = "\(daemon.directory)/\(name)-config.json"
        }

        var login: [String] { ["--server", "127.0.0.1:\(daemon.port)", "--token", token, "--ca", daemon.certificate] }

        @discardableResult
        func run(_ arguments: [String]) async throws -> TestDaemon.Output {
            var environment = ProcessInfo.processInfo.environment
            environment["HUDDLE_CONFIG"] = config
            environment["HUDDLE_SERVER"] = nil
            environment["HUDDLE_TOKEN"] = nil
            return try await TestDaemon.run(TestDaemon.huddle, arguments + login, environment: environment, check: false)
        }

        /// Standard output as one JSON document.
        func json(_ arguments: [String]) async throws -> JSONValue {
            let output = try await run(arguments + ["--json"])
            return try JSONParser.parse(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    @Test func coverageFromTheCommandLine() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let aliceToken = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let bobToken = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        let carolToken = try await daemon.addUser("carol", role: .agent, teams: ["floor-a"])
        let samToken = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let started = ClockText.now()
        let alice = CLI(daemon, "alice", token: aliceToken)
        let carol = CLI(daemon, "carol", token: carolToken)
        let sam = CLI(daemon, "sam", token: samToken)

        // Sam follows the floor with `huddle watch` all along.
        let watch = try ChildProcess([TestDaemon.huddle, "watch"] + sam.login, stdout: .pipe)
        defer { watch.terminate() }

        // Policy: set, shown, kept in the history; bad keys and agents are refused.
        let set = try await sam.run([
            "policy", "set", "max_on_break=1", "min_available=1", "wellbeing.escalate_after_s=600",
            "--comment", "Three on shift: one on the phones, one break at a time",
        ])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains("version 2"), "\(set.stdout)")
        #expect(set.stdout.contains("max_on_break: 2 → 1"), "\(set.stdout)")
        #expect(set.stdout.contains("wellbeing.escalate_after_s: 300 → 600"), "\(set.stdout)")
        let history = try await sam.run(["policy", "history"])
        #expect(history.status == 0, "\(history.stderr)")
        let lines = history.stdout.split(separator: "\n").map(String.init)
        let v2 = try #require(lines.firstIndex { $0.hasPrefix("v2 ") }, "\(history.stdout)")
        #expect(lines[v2].contains("sam") && lines[v2].contains("\"Three on shift: one on the phones, one break at a time\""))
        #expect(lines[(v2 + 1)...].contains("    max_on_break: 2 → 1"), "\(history.stdout)")
        #expect(lines[(v2 + 1)...].contains("    min_available: 2 → 1"), "\(history.stdout)")
        #expect(lines.first?.hasPrefix("v1 ") == true)
        let shown = try await alice.run(["policy"])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.split(separator: "\n").contains { $0.split(separator: " ") == ["max_on_break", "1"] }, "\(shown.stdout)")
        #expect(try await alice.json(["policy", "show"])["max_on_break"] == 1)
        let typo = try await sam.run(["policy", "set", "wellbeing.hugs=1", "--comment", "typo"])
        #expect(typo.status == 2)
        #expect(typo.stderr.contains("wellbeing.hugs"), "\(typo.stderr)")
        #expect(try await sam.run(["policy", "set", "max_on_break", "--comment", "no value"]).status == 2)
        #expect(try await alice.run(["policy", "set", "max_on_break=5", "--comment", "please"]).status == 4)

        // Alice and Bob are on the phones (live sessions, so coverage counts them); Bob takes the
        // one break allowed.
        let alicePeer = try await daemon.session(aliceToken)
        let bobPeer = try await daemon.session(bobToken)
        _ = try await bobPeer.request("team.join", ["team": "floor-a"])
        #expect(try await alicePeer.request("status.set", ["status": "available"])["decision"] == "granted")
        #expect(try await bobPeer.request("status.set", ["status": "available"])["decision"] == "granted")
        #expect(try await bobPeer.request("status.set", ["status": "break", "note": "coffee"])["decision"] == "granted")

        // Denials: one sentence from the figures, exit 3.
        let full = try await carol.run(["break", "coffee"])
        #expect(full.status == 3, "\(full.stderr)")
        #expect(
            full.stderr.contains("Break not granted: only 1 may be on break at once and 1 is. Queue with --queue."),
            "\(full.stderr)")
        let lastOne = try await alice.run(["break", "15", "stretch"])
        #expect(lastOne.status == 3, "\(lastOne.stderr)")
        #expect(
            lastOne.stderr.contains("Break not granted: 1 agent must stay Available and only 1 is. Queue with --queue."),
            "\(lastOne.stderr)")
        let scripted = try await alice.run(["break", "--json"])
        #expect(scripted.status == 3)
        let error = try JSONParser.parse(scripted.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["error"]
        #expect(error?["code"] == -32010 && error?["data"]?["rule"] == "min_available", "\(scripted.stdout)")

        // The queue.
        let queued = try await carol.run(["break", "--queue", "coffee"])
        #expect(queued.status == 0, "\(queued.stderr)")
        #expect(
            queued.stdout.hasPrefix(
                "Queued for a break: position 1 on floor-a. You will be told when it is your turn."), "\(queued.stdout)")
        let mine = try await carol.run(["waitlist"])
        #expect(mine.status == 0, "\(mine.stderr)")
        let place = mine.stdout.split(separator: "\n").first { $0.hasPrefix("1 ") }
        #expect(place?.contains("carol (you)") == true && place?.contains("Break") == true, "\(mine.stdout)")
        let seen = try await sam.json(["waitlist"])
        #expect(seen.arrayValue?.first?["user"] == "carol", "\(seen)")
        let left = try await carol.run(["waitlist", "cancel"])
        #expect(left.status == 0 && left.stdout.contains("Left the waitlist of floor-a."), "\(left.stdout)\(left.stderr)")
        #expect(try await carol.run(["waitlist"]).stdout.contains("Nobody is waiting on floor-a."))

        // A wellbeing break: granted whatever the rules, discreet on screen, a plain break for the
        // team, an alert for Sam.
        let abusive = try await carol.run(["break", "--abusive", "need", "a", "minute"])
        #expect(abusive.status == 0, "\(abusive.stderr)")
        #expect(abusive.stdout == "Break started. Take the time you need; your supervisor has been told.\n")
        let plain = try await bobPeer.next { notification in
            if case .event(let event) = notification { return event.type == "status" && event["user"] == "carol" }
            return false
        }
        if case .event(let event) = plain {
            #expect(event["status"] == "break" && event["note"] == "need a minute")
            #expect(event["reason"] == nil)
        }
        // Nothing bob ever received names the reason (not only what came after the match).
        #expect(await bobPeer.allEvents().allSatisfy { $0.stream == .team && $0["reason"] == nil })
        let open = try await sam.run(["alerts"])
        #expect(open.status == 0, "\(open.stderr)")
        #expect(
            open.stdout.split(separator: "\n").contains { $0.contains("wellbeing_break") && $0.contains("carol") },
            "\(open.stdout)")
        let listed = try await sam.json(["alerts"])
        let wellbeing = try #require(
            listed.arrayValue?.first { $0["kind"] == "wellbeing_break" && $0["user"] == "carol" }, "\(listed)")
        let id = try #require(wellbeing["alert"]?.intValue)
        let refused = try await alice.run(["alerts"])
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("Only supervisors see alerts."), "\(refused.stderr)")
        #expect(try await alice.run(["ack", "\(id)"]).status == 4)
        let ack = try await sam.run(["ack", "\(id)", "Coming", "over,", "Carol"])
        #expect(ack.status == 0, "\(ack.stderr)")
        #expect(ack.stdout.contains("Alert #\(id) acknowledged."))
        #expect(try await sam.json(["alerts"]) == [])
        #expect(try await sam.run(["alerts"]).stdout.contains("No open alerts on floor-a."))
        let again = try await sam.run(["ack", "\(id)"])
        #expect(again.status == 1 && again.stderr.contains("no open alert #\(id)"), "\(again.stderr)")

        // A forced change.
        #expect(try await alicePeer.request("status.set", ["status": "after_call_work"])["decision"] == "granted")
        let forced = try await sam.run(["force", "alice", "available", "back", "on", "the", "phones"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stdout.contains("alice is now Available"), "\(forced.stdout)")
        let back = try await bobPeer.next { notification in
            if case .event(let event) = notification {
                return event.type == "status" && event["user"] == "alice" && event["status"] == "available"
            }
            return false
        }
        if case .event(let event) = back { #expect(event["by"] == "sam" && event["note"] == "back on the phones") }
        #expect(try await sam.run(["force", "alice", "napping"]).status == 2)
        #expect(try await alice.run(["force", "bob", "available"]).status == 4)

        // The report.
        let from = started.adding(seconds: -60).rfc3339
        let to = ClockText.now().adding(seconds: 60).rfc3339
        let csv = try await sam.run(["report", "--from", from, "--to", to, "--csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        let rows = csv.stdout.split(separator: "\n").map(String.init)
        #expect(rows.first == "user,status,seconds,count,overruns", "\(csv.stdout)")
        #expect(rows.contains { $0.hasPrefix("bob,break,") }, "\(csv.stdout)")
        #expect(rows.contains { $0.hasPrefix("carol,break,") }, "\(csv.stdout)")
        #expect(rows.contains { $0.hasPrefix("alice,available,") }, "\(csv.stdout)")
        for row in rows.dropFirst() { #expect(row.split(separator: ",").count == 5, "\(row)") }
        let table = try await sam.run(["report", "--from", "yesterday", "--to", "today"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix("USER ") && $0.hasSuffix("OVERRUNS") })
        #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix("bob ") && $0.contains("Break") })
        #expect(try await alice.run(["report", "--from", "today"]).status == 4)
        #expect(try await sam.run(["report", "--from", "tomorrow"]).status == 2)

        // What `huddle watch` showed Sam meanwhile.
        watch.interrupt()
        let text = await offThePool { String(decoding: watch.output?.readDataToEndOfFile() ?? Data(), as: UTF8.self) }
        watch.waitUntilExit()
        let shownLines = text.split(separator: "\n")
        #expect(shownLines.contains { $0.contains("  ALERT  wellbeing_break carol: ") }, "\(text)")
        #expect(shownLines.contains { $0.contains("  sam  acknowledged alert #\(id): Coming over, Carol") }, "\(text)")
        #expect(shownLines.contains { $0.contains("  waitlist  1. carol (Break)") }, "\(text)")
        #expect(shownLines.contains { $0.contains("  coverage  ") && $0.contains(" on break (max 1)") }, "\(text)")
        #expect(!text.contains("\u{1B}"))

        await alicePeer.close()
        await bobPeer.close()
        #expect(try await daemon.stop() == 0)
    }
}

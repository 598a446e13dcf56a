import Foundation
import HuddleProtocol
import Testing

/// The `huddle` CLI as a person or a script uses it, against the real daemon.
@Suite struct CLITests {
    struct CLI {
        let daemon: TestDaemon
        let config: String

        init(_ daemon: TestDaemon, name: String) {
            self.daemon = daemon
            config = "\(daemon.directory)/\(name)-config.json"
        }

        @discardableResult
        func run(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> TestDaemon.Output {
            var environment = ProcessInfo.processInfo.environment
            environment["HUDDLE_CONFIG"] = config
            environment["HUDDLE_SERVER"] = nil
            environment["HUDDLE_TOKEN"] = nil
            for (key, value) in extra { environment[key] = value }
            return try await TestDaemon.run(TestDaemon.huddle, arguments, environment: environment, check: false)
        }
    }

    @Test func loginTakeABreakAndSeeTheTeam() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        let cli = CLI(daemon, name: "alice")

        // Without a TTY the CLI does not trust an unknown certificate silently.
        let refused = try await cli.run(["login", "--server", "127.0.0.1:\(daemon.port)", "--token", alice])
        #expect(refused.status != 0)
        let login = try await cli.run(["login", "--server", "127.0.0.1:\(daemon.port)", "--token", alice, "--accept-new"])
        #expect(login.status == 0, "\(login.stderr)")
        let fingerprint = try String(contentsOfFile: daemon.log.contains("fingerprint") ? daemon.logPath : "", encoding: .utf8)
        #expect(login.stdout.contains("alice") || login.stderr.contains("alice"))
        let stored = try JSONParser.parse(String(contentsOfFile: cli.config, encoding: .utf8))
        let pinned = try #require(stored["fingerprint"]?.stringValue)
        #expect(fingerprint.contains(pinned))
        let mode = try FileManager.default.attributesOfItem(atPath: cli.config)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let watcher = try await daemon.session(sam)
        _ = try await watcher.request("team.join", ["team": "floor-a"])
        #expect(try await cli.run(["back"]).status == 0)
        let breakResult = try await cli.run(["break", "15", "be", "right", "back", "--json"])
        #expect(breakResult.status == 0, "\(breakResult.stderr)")
        #expect(try JSONParser.parse(breakResult.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["decision"] == "granted")
        let seen = try await watcher.nextEvent(type: "status")
        #expect(seen["status"] == "available")
        let onBreak = try await watcher.nextEvent(type: "status")
        #expect(onBreak["status"] == "break" && onBreak["note"] == "be right back")

        let who = try await cli.run(["who"])
        #expect(who.status == 0)
        #expect(who.stdout.contains("alice") && who.stdout.contains("Break") && who.stdout.contains("be right back"))
        #expect(who.stdout.contains("sam"))
        let status = try await cli.run(["status", "--json"])
        #expect(try JSONParser.parse(status.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["status"] == "break")
        #expect(try await cli.run(["say", "back", "in", "15"]).status == 0)
        #expect(try await watcher.nextEvent(type: "message")["text"] == "back in 15")

        #expect(try await cli.run(["logout"]).status == 0)
        #expect(try await cli.run(["status"]).status != 0)
        #expect(try await daemon.stop() == 0)
    }

    /// `huddle policy show | true`: the reader is gone before the first line; the CLI ends with
    /// SIGPIPE's status (141), as `cat` would, instead of trapping (it used to crash, 132).
    @Test func aReaderThatGoesAwayEndsTheCommandQuietly() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let cli = CLI(daemon, name: "alice")
        let login = try await cli.run(["login", "--server", "127.0.0.1:\(daemon.port)", "--token", alice, "--accept-new"])
        #expect(login.status == 0, "\(login.stderr)")
        var environment = ProcessInfo.processInfo.environment
        environment["HUDDLE_CONFIG"] = cli.config
        let shell = try await TestDaemon.run(
            "/bin/bash", ["-c", "\"$0\" policy show | true; echo \"status ${PIPESTATUS[0]}\"", TestDaemon.huddle],
            environment: environment, check: false)
        #expect(shell.stdout.contains("status 141"), "\(shell.stdout) \(shell.stderr)")
        #expect(!shell.stderr.contains("Fatal error"), "\(shell.stderr)")
    }

    @Test func exitCodesTellWhatWentWrong() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let cli = CLI(daemon, name: "codes")
        let server = "127.0.0.1:\(daemon.port)"
        let ca = daemon.certificate

        #expect(try await cli.run(["status", "--server", server, "--token", alice, "--ca", ca]).status == 0)
        // 4: a token the server refuses.
        let refused = try await cli.run(["status", "--server", server, "--token", "hdl_000000000000_" + String(repeating: "0", count: 64), "--ca", ca])
        #expect(refused.status == 4, "\(refused.stderr)")
        // 4: forbidden for the role.
        let forbidden = try await cli.run(["force", "nobody", "offline", "--server", server, "--token", alice, "--ca", ca])
        #expect(forbidden.status == 4, "\(forbidden.stderr)")
        // 2: usage.
        #expect(try await cli.run(["break", "--no-such-flag"]).status == 2)
        // 5: nothing listening.
        let unreachable = try await cli.run(["status", "--server", "127.0.0.1:1", "--token", alice, "--ca", ca])
        #expect(unreachable.status == 5, "\(unreachable.stderr)")
        // 5: a pinned fingerprint that does not match (a changed certificate).
        let wrongPin = String(repeating: "AB:", count: 31) + "AB"
        let mismatch = try await cli.run(["status", "--server", server, "--token", alice, "--fingerprint", wrongPin])
        #expect(mismatch.status == 5)
        #expect(mismatch.stderr.lowercased().contains("fingerprint") || mismatch.stderr.lowercased().contains("certificate"))
        // Environment variables work like the flags.
        let viaEnvironment = try await cli.run(["status", "--ca", ca], environment: ["HUDDLE_SERVER": server, "HUDDLE_TOKEN": alice])
        #expect(viaEnvironment.status == 0, "\(viaEnvironment.stderr)")
        #expect(try await daemon.stop() == 0)
    }

    @Test func aChangedCertificateIsRefusedAfterLogin() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let cli = CLI(daemon, name: "tofu")
        #expect(try await cli.run(["login", "--server", "127.0.0.1:\(daemon.port)", "--token", alice, "--accept-new"]).status == 0)
        #expect(try await cli.run(["status"]).status == 0)
        // The operator (or an attacker) replaces the certificate.
        try await daemon.stop()
        try FileManager.default.removeItem(atPath: "\(daemon.data)/tls")
        try await daemon.start(port: daemon.port)
        let refused = try await cli.run(["status"])
        #expect(refused.status == 5)
        #expect(refused.stderr.contains("huddle login"), "\(refused.stderr)")

        // Signing in again with --accept-new does not trust the changed certificate either (ssh's
        // accept-new): exit 5, the old pin kept, and no token sent. The token here is a wrong one,
        // so had it reached the daemon its log would say the authentication was refused.
        let pinned = try String(contentsOfFile: cli.config, encoding: .utf8)
        let wrong = "hdl_000000000000_" + String(repeating: "0", count: 64)
        for token in [wrong, alice] {
            let again = try await cli.run(["login", "--server", "127.0.0.1:\(daemon.port)", "--token", token, "--accept-new"])
            #expect(again.status == 5, "\(again.stderr)")
            #expect(again.stderr.contains("has changed"), "\(again.stderr)")
        }
        #expect(try String(contentsOfFile: cli.config, encoding: .utf8) == pinned)
        #expect(!daemon.log.contains("authentication refused"), "a token reached a certificate not trusted")

        // Trusting the new certificate on purpose: by the fingerprint the refusal names.
        let named = try #require(refused.stderr.firstMatch(of: /--fingerprint ([0-9A-Fa-f:]+)/)?.1)
        let deliberate = try await cli.run(["login", "--server", "127.0.0.1:\(daemon.port)", "--token", alice, "--fingerprint", String(named)])
        #expect(deliberate.status == 0, "\(deliberate.stderr)")
        #expect(try await cli.run(["status"]).status == 0)
        #expect(try await daemon.stop() == 0)
    }

    @Test func watchPrintsOneReadableLinePerEvent() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        let process = try ChildProcess(
            [TestDaemon.huddle, "watch", "--server", "127.0.0.1:\(daemon.port)", "--token", sam, "--ca", daemon.certificate],
            stdout: .pipe)
        defer { process.terminate() }
        try await Task.sleep(for: .seconds(1))
        let agent = try await daemon.session(alice)
        _ = try await agent.request("status.set", ["status": "lunch", "note": "sandwich"])
        _ = try await agent.request("message.send", ["team": "floor-a", "text": "back at 1"])
        try await Task.sleep(for: .seconds(1))
        process.interrupt()
        let text = await offThePool { String(decoding: process.output?.readDataToEndOfFile() ?? Data(), as: UTF8.self) }
        process.waitUntilExit()
        let lines = text.split(separator: "\n")
        #expect(lines.contains { $0.contains("alice") && $0.contains("Lunch") && $0.contains("sandwich") }, "\(text)")
        #expect(lines.contains { $0.contains("alice") && $0.contains("back at 1") }, "\(text)")
        #expect(!text.contains("\u{1B}"))
        #expect(try await daemon.stop() == 0)
    }
}

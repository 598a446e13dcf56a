import Foundation
import HuddleProtocol
import Testing

/// `huddle board` in a real terminal: tmux (installed by `.ci/run`) runs it in a detached
/// session, the test reads the screen with `capture-pane` and types with `send-keys`.
@Suite struct BoardTests {
    /// One board in its own tmux server and session, killed by `close`.
    final class Pane {
        /// A tmux server of its own, its socket in the daemon's folder (removed with it).
        let socket: String
        let session: String
        /// Everything the board wrote to the terminal, escape sequences included.
        let output: String
        /// The board's exit status, once it has exited.
        let statusFile: String

        /// Starts `huddle board` for `token` in a `width`×`height` window, under a shell that
        /// writes its exit status to `statusFile` and then keeps the pane open, so the terminal
        /// state the board left behind can be read. (tmux's own `remain-on-exit` and
        /// `#{pane_dead_status}` are not used: a tmux server started from the test process now and
        /// then never reaps its pane's process, so the pane never reads as dead.)
        init(_ daemon: TestDaemon, token: String, name: String, width: Int = 120, height: Int = 40) async throws {
            session = "\(name)-\(UUID().uuidString.prefix(6))"
            socket = "\(daemon.directory)/tmux-\(session.suffix(6)).sock"
            output = "\(daemon.directory)/\(session)-output.log"
            statusFile = "\(daemon.directory)/\(session)-status"
            let board = [
                "env", "HUDDLE_CONFIG=\(daemon.directory)/\(session)-config.json", TestDaemon.huddle, "board",
                "--server", "127.0.0.1:\(daemon.port)", "--token", token, "--ca", daemon.certificate,
            ].map(Self.quoted).joined(separator: " ")
            let command = "\(board); echo $? > \(Self.quoted(statusFile)); exec sleep 600"
            try await tmux([
                "new-session", "-d", "-s", session, "-x", "\(width)", "-y", "\(height)", command, ";",
                "pipe-pane", "-t", session, "cat >> " + Self.quoted(output),
            ])
        }

        static func quoted(_ word: String) -> String {
            "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }

        @discardableResult
        func tmux(_ arguments: [String], check: Bool = true) async throws -> TestDaemon.Output {
            try await CleanSpawn.run(["tmux", "-f", "/dev/null", "-S", socket] + arguments, check: check)
        }

        /// The visible screen, one string per row.
        func screen() async throws -> [String] {
            var lines = try await tmux(["capture-pane", "-p", "-t", session]).stdout.components(separatedBy: "\n")
            if lines.last == "" { lines.removeLast() }
            return lines
        }

        /// Polls the screen until `ready` holds; fails with the last screen otherwise.
        @discardableResult
        func waitFor(
            _ what: String, within timeout: Duration = .seconds(5), _ ready: ([String]) -> Bool
        ) async throws -> [String] {
            let deadline = ContinuousClock.now + timeout
            var last: [String] = []
            while ContinuousClock.now < deadline {
                last = try await screen()
                if ready(last) { return last }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestDaemon.Failure(
                description: "the board did not show \(what) within \(timeout):\n" + last.joined(separator: "\n"))
        }

        func waitFor(_ text: String, within timeout: Duration = .seconds(5)) async throws {
            try await waitFor("'\(text)'", within: timeout) { $0.contains { $0.contains(text) } }
        }

        func type(_ text: String) async throws {
            try await tmux(["send-keys", "-t", session, "-l", text])
        }

        /// `#{…}` formats of the pane, e.g. `alternate_on`.
        func pane(_ format: String) async throws -> String {
            try await tmux(["display-message", "-p", "-t", session, format]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// The board's process (the shell's child), while it runs.
        func boardPID() async throws -> Int32? {
            let shell = try await pane("#{pane_pid}")
            let children = (try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)) ?? ""
            return children.split(separator: " ").first.flatMap { Int32($0) }
        }

        /// Waits for the board's process to end; returns its exit status.
        func waitForExit(within timeout: Duration = .seconds(5)) async throws -> Int32 {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let text = try? String(contentsOfFile: statusFile, encoding: .utf8),
                    let status = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
                {
                    return status
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestDaemon.Failure(description: "the board did not exit:\n" + (try await screen()).joined(separator: "\n"))
        }

        /// The board left the terminal as it found it: its last bytes reset the attributes, show
        /// the cursor and leave the alternate screen.
        func restoredTerminal() async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(2)
            while ContinuousClock.now < deadline {
                let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
                if text.hasSuffix("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l") { return true }
                try await Task.sleep(for: .milliseconds(50))
            }
            return false
        }

        /// Synchronous, for `defer`: two tmux commands that answer at once.
        func close() {
            let tmux = ["tmux", "-f", "/dev/null", "-S", socket]
            _ = try? CleanSpawn.runBlocking(tmux + ["kill-session", "-t", session], check: false)
            _ = try? CleanSpawn.runBlocking(tmux + ["kill-server"], check: false)
        }
    }

    func agent(_ daemon: TestDaemon, _ token: String) async throws -> Peer {
        let peer = try await daemon.session(token)
        _ = try await peer.request("status.set", ["status": "available"])
        return peer
    }

    @Test
    func showsBreaksAndAlertsAcknowledgesResizesAndQuits() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let carol = try await daemon.addUser("carol", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        let ann = try await daemon.addUser("ann", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        let alicePeer = try await agent(daemon, alice)
        let carolPeer = try await agent(daemon, carol)
        let annPeer = try await daemon.session(ann)
        _ = try await annPeer.request("team.join", ["team": "floor-a"])

        let pane = try await Pane(daemon, token: sam, name: "board-live")
        defer { pane.close() }
        try await pane.waitFor("the team, live") { screen in
            screen.first?.contains("● live") == true
                && screen.contains { $0.contains("alice") && $0.contains("Available") }
                && screen.contains { $0.contains("ALERTS") && $0.contains("none open") }
        }

        // A break shows within 2 s.
        _ = try await alicePeer.request("status.set", ["status": "break", "note": "coffee run", "expected_s": 600])
        try await pane.waitFor("Alice's break", within: .seconds(2)) { screen in
            screen.contains { $0.contains("alice") && $0.contains("Break") && $0.contains("/10m") && $0.contains("coffee run") }
        }

        // A wellbeing break: the team sees a break, the supervisor the alert.
        _ = try await carolPeer.request("status.set", ["status": "break", "reason": "abusive_call", "note": "need a minute"])
        let raised = try await annPeer.nextEvent(type: "alert")
        let id = try #require(raised["alert"]?.intValue)
        let screen = try await pane.waitFor("the wellbeing alert", within: .seconds(2)) { screen in
            screen.contains { $0.contains("#\(id)") && $0.contains("wellbeing_break") && $0.contains("carol") }
        }
        #expect(screen.contains { $0.contains("ALERTS") && $0.contains("1 open") })
        #expect(screen.contains { $0.contains("carol") && $0.contains("Break") && $0.contains("need a minute") })
        #expect(screen.contains { $0.hasPrefix(" ▶ 1  #\(id)") })

        // 1 selects it, a acknowledges it: the server records the ack and the alert leaves the board.
        try await pane.type("1a")
        let ack = try await annPeer.nextEvent(type: "alert_ack")
        #expect(ack["alert"]?.intValue == id)
        #expect(ack["by"] == "sam")
        try await pane.waitFor("the alert gone", within: .seconds(2)) { screen in
            !screen.contains { $0.contains("wellbeing_break") }
                && screen.contains { $0.contains("ALERTS") && $0.contains("none open") }
        }
        try await pane.waitFor("acknowledged #\(id)")

        // A smaller window: redrawn to fit, header on the first row and keys on the last.
        try await pane.tmux(["resize-window", "-t", pane.session, "-x", "80", "-y", "24"])
        let small = try await pane.waitFor("a redraw at 80x24") { screen in
            screen.count == 24 && screen[0].contains("Huddle board") && screen[0].contains("live")
                && screen[23].contains("q quit") && screen.contains { $0.contains("alice") && $0.contains("coffee run") }
        }
        #expect(small.allSatisfy { $0.count <= 80 })
        #expect(try await pane.pane("#{window_width}x#{window_height}") == "80x24")

        // q quits with status 0 and gives the terminal back.
        try await pane.type("q")
        #expect(try await pane.waitForExit() == 0)
        #expect(try await pane.pane("#{alternate_on} #{cursor_flag}") == "0 1")
        #expect(try await pane.restoredTerminal())

        await alicePeer.close()
        await carolPeer.close()
        await annPeer.close()
        try await daemon.stop()
    }

    @Test
    func showsADisconnectAndRecoversAfterARestart() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        let alicePeer = try await agent(daemon, alice)

        let pane = try await Pane(daemon, token: sam, name: "board-restart")
        defer { pane.close() }
        try await pane.waitFor("the team, live") { screen in
            screen.first?.contains("● live") == true && screen.contains { $0.contains("alice") && $0.contains("Available") }
        }

        let port = daemon.port
        try await daemon.kill9()
        try await pane.waitFor("the drop") { screen in
            screen.first?.contains("disconnected — reconnecting…") == true
                && screen.contains { $0.contains("disconnected — reconnecting… (since") }
        }
        await alicePeer.close()

        try await daemon.start(port: port)
        try await pane.waitFor("the reconnection", within: .seconds(15)) { screen in
            screen.first?.contains("reconnected") == true && screen.contains { $0.contains("reconnected at") }
        }

        // A change made after the restart reaches the board.
        let again = try await daemon.session(alice)
        _ = try await again.request("status.set", ["status": "lunch", "note": "after the restart"])
        try await pane.waitFor("Alice's lunch", within: .seconds(2)) { screen in
            screen.contains { $0.contains("alice") && $0.contains("Lunch") && $0.contains("after the restart") }
        }

        try await pane.type("q")
        #expect(try await pane.waitForExit() == 0)
        #expect(try await pane.pane("#{alternate_on} #{cursor_flag}") == "0 1")
        #expect(try await pane.restoredTerminal())
        await again.close()
        try await daemon.stop()
    }

    @Test
    func anAgentSeesTheFloorAndSigtermRestoresTheTerminal() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        try await daemon.relaxCoverage("floor-a")
        let alicePeer = try await agent(daemon, alice)

        let pane = try await Pane(daemon, token: bob, name: "board-agent", width: 100, height: 30)
        defer { pane.close() }
        let screen = try await pane.waitFor("the team, live") { screen in
            screen.first?.contains("bob (agent)") == true && screen.contains { $0.contains("alice") }
        }
        #expect(!screen.contains { $0.contains("ALERTS") })
        #expect(screen.last?.contains("q quit · r redraw") == true)

        // A queue report with a node out.
        let coach = try await daemon.addUser("bot-1", role: .bot, teams: ["floor-a"])
        let bot = try await daemon.session(coach)
        _ = try await bot.request(
            "queue.report",
            ["team": "floor-a", "calls_waiting": 14, "oldest_wait_s": 400, "nodes_out": [["node": "sbc-2", "city": "Lyon"]]])
        try await pane.waitFor("the queue report", within: .seconds(2)) { screen in
            screen.contains { $0.contains("14 waiting") && $0.contains("oldest 6m") }
                && screen.contains { $0.contains("nodes out: sbc-2 (Lyon)") }
        }

        let pid = try #require(try await pane.boardPID())
        kill(pid, SIGTERM)
        #expect(try await pane.waitForExit() == 0)
        #expect(try await pane.pane("#{alternate_on} #{cursor_flag}") == "0 1")
        #expect(try await pane.restoredTerminal())
        await bot.close()
        await alicePeer.close()
        try await daemon.stop()
    }
}

/// Runs a command to its end with standard output and standard error in one, as a terminal
/// shows them (`ChildProcess`: no inherited descriptor or blocked signal; `tmux new-session`
/// leaves a server behind that keeps whatever it inherited).
enum CleanSpawn {
    /// Off the cooperative pool (see `offThePool`): the wait for the child is a blocking one.
    static func run(_ arguments: [String], check: Bool = true) async throws -> TestDaemon.Output {
        try await offThePool { Result { try runBlocking(arguments, check: check) } }.get()
    }

    static func runBlocking(_ arguments: [String], check: Bool = true) throws -> TestDaemon.Output {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("spawn-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let child = try ChildProcess(arguments, stdout: .file(output), stderr: .output)
        child.waitUntilExit()
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        let result = TestDaemon.Output(status: child.shellStatus, stdout: text, stderr: "")
        if check && result.status != 0 {
            throw TestDaemon.Failure(description: "\(arguments) exited \(result.status): \(text)")
        }
        return result
    }
}

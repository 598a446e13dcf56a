import Foundation
import HuddleProtocol
import Testing

/// The wallboard in a real browser (SPEC §11): headless Chromium (Debian's, driven through
/// `Browser`) against the real daemon, with the CLI and protocol clients as the rest of the
/// floor. Screenshots of the supervisor view, the display and TV mode are kept in
/// `Browser.screenshots` for a person to look at. One browser at a time: each is some 300 MB.
@Suite(.serialized) struct WallboardBrowserTests {
    struct Floor {
        let daemon: TestDaemon
        let alice: String
        let sam: String
        var base: String { "https://127.0.0.1:\(daemon.httpPort)" }

        /// `targets`: `huddled notify add floor-a …` arguments, added before the start (with
        /// `--notify-allow-http`, for a receiver on loopback).
        init(targets: [[String]] = []) async throws {
            daemon = try TestDaemon(arguments: targets.isEmpty ? [] : ["--notify-allow-http"])
            try await daemon.addTeam("floor-a")
            for target in targets { try await daemon.admin(["notify", "add", "floor-a"] + target) }
            alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
            _ = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
            sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
            try await daemon.start()
            try await daemon.relaxCoverage("floor-a")
        }

        /// `huddle …` as alice, the way an agent types it. Spawned clean (`CleanSpawn`): with a
        /// browser's processes about, Foundation's `Process` was seen never to notice its exit.
        func huddle(_ arguments: [String], token: String? = nil) async throws -> TestDaemon.Output {
            try await CleanSpawn.run(
                [TestDaemon.huddle, "--server", "127.0.0.1:\(daemon.port)", "--token", token ?? alice, "--ca", daemon.certificate]
                    + arguments)
        }

        /// `huddled …` (an admin command) on the daemon's data folder, spawned clean too.
        func admin(_ arguments: [String]) async throws -> String {
            try await CleanSpawn.run([TestDaemon.huddled] + arguments + ["--data", daemon.data]).stdout
        }

        /// Signs in through the page's own form.
        func signIn(_ browser: Browser, token: String) async throws {
            try await browser.get("\(base)/login")
            try await browser.type("input[name=token]", token)
            try await browser.submit("input[name=token]")
            try await browser.wait("return document.body.dataset.ready === '1'", timeout: .seconds(15))
        }
    }

    /// A script for `Browser.js`: the text of one cell of a member's row.
    static func row(_ user: String, _ cell: String) -> String {
        "return document.querySelector('tr[data-user=\"\(user)\"] .\(cell)')?.textContent ?? ''"
    }

    /// A script for `Browser.wait`: true once that cell shows `text`.
    static func shows(_ user: String, _ cell: String, _ text: String) -> String {
        "return (document.querySelector('tr[data-user=\"\(user)\"] .\(cell)')?.textContent ?? '').includes('\(text)')"
    }

    @Test func aSupervisorSignsInAndSeesACLIChangeWithinASecond() async throws {
        try await HeavyTests.one {
            let f = try await Floor()
            let browser = try await Browser()
            defer { Task { await browser.quit() } }
            try await f.signIn(browser, token: f.sam)
            #expect(try await browser.js("return location.pathname") == "/board")
            let cookie = try #require(try await browser.cookies().first { $0.name == "huddle_session" })
            #expect(cookie.httpOnly && cookie.secure && cookie.sameSite == "Strict")

            var delays: [Duration] = []
            for (command, shown) in [(["break", "15", "be right back"], "Break"), (["back"], "Available")] {
                _ = try await f.huddle(command)
                // The CLI returns once the change is committed: from there to the page.
                let committed = ContinuousClock.now
                try await browser.wait(Self.shows("alice", "status", shown), timeout: .seconds(5))
                delays.append(ContinuousClock.now - committed)
            }
            #expect(delays.allSatisfy { $0 < .seconds(1) }, "commit to page: \(delays)")
            _ = try await f.huddle(["break", "15", "be right back"])
            try await browser.wait(Self.shows("alice", "note", "be right back"), timeout: .seconds(5))
            // Time in status counts up by itself.
            let first = try await browser.js(Self.row("alice", "time"))
            try await Task.sleep(for: .milliseconds(2100))
            #expect(try await browser.js(Self.row("alice", "time")) != first, "time in status did not move")
            // No CSP violation: nothing inline, nothing from elsewhere.
            let violations = try await browser.console().filter { $0.source == "security" || $0.message.contains("Content Security Policy") }
            #expect(violations.isEmpty, "\(violations)")
            try await browser.screenshot("wallboard-supervisor")
            await browser.quit()
            _ = try await f.daemon.stop()
        }
    }

    /// A script for `Browser.js`: every piece of text on the screen whose contrast with what is
    /// behind it is below WCAG 2's AA level (4.5:1, or 3:1 for large text: 24 px, or 18.66 px
    /// bold), as "ratio text" strings. The background is the nearest ancestors' colours laid
    /// over each other down to an opaque one (white at the root).
    static let contrastFailures = #"""
        const rgba = (c) => { const m = c.match(/[\d.]+/g) || [0, 0, 0, 0]; return [+m[0], +m[1], +m[2], m[3] === undefined ? 1 : +m[3]]; };
        const over = (top, below) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat(1); };
        const lum = (c) => { const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        function background(el) {
          const layers = [];
          for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
            const c = rgba(getComputedStyle(n).backgroundColor);
            if (c[3] > 0) layers.push(c);
            if (c[3] >= 1) break;
          }
          return layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255, 1]);
        }
        const failures = [];
        for (const el of document.body.querySelectorAll('*')) {
          const text = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
          if (!text || !el.checkVisibility({ opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true })) continue;
          const style = getComputedStyle(el);
          const bg = background(el);
          const fg = over(rgba(style.color), bg);
          const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
          const ratio = (hi + 0.05) / (lo + 0.05);
          const size = parseFloat(style.fontSize);
          const large = size >= 24 || (size >= 18.66 && +style.fontWeight >= 700);
          if (ratio < (large ? 3 : 4.5)) failures.push(ratio.toFixed(2) + ' ' + text.slice(0, 40));
        }
        return failures;
        """#

    @Test func anAlertAcknowledgedInTheBrowserReachesACLISupervisor() async throws {
        try await HeavyTests.one {
            // The alert goes to a chat that takes it and to a webhook that keeps failing: the
            // alert says which got it.
            let receiver = try await NoticeReceiver(plan: ["/chat": ["200"], "/hook": ["503"]])
            let f = try await Floor(targets: [
                ["--url", receiver.url("/chat"), "--format", "slack", "--allow-http"],
                ["--url", receiver.url("/hook"), "--format", "json", "--allow-http"],
            ])
            let lee = try await f.daemon.addUser("lee", role: .supervisor, teams: ["floor-a"])
            let other = try await f.daemon.session(lee)
            _ = try await other.request("team.join", ["team": "floor-a"])
            let browser = try await Browser()
            defer { Task { await browser.quit() } }
            try await f.signIn(browser, token: f.sam)
            _ = try await f.huddle(["break", "--abusive"])
            try await browser.wait("return document.querySelectorAll('li.alert').length > 0", timeout: .seconds(5))
            // Supervisors see why (the reason is theirs to see), and the team only "Break".
            #expect(try await browser.js("return document.querySelector('li.alert').textContent.includes('abusive')") == true)
            try await browser.wait(
                "return document.querySelector('li.alert .a-notices')?.textContent === 'Notified Slack: sent · webhook: not sent yet, retrying'",
                timeout: .seconds(10))
            #expect(try await browser.js("return document.querySelector('li.alert .a-notices').classList.contains('failing')") == true)
            try await browser.screenshot("wallboard-supervisor-alert")
            let lowContrast = try await browser.js(Self.contrastFailures)
            #expect(lowContrast.arrayValue?.isEmpty == true, "text below WCAG AA contrast: \(lowContrast)")
            // With the keyboard: Tab to the Acknowledge button, Enter.
            var reached = false
            for _ in 0..<60 {
                try await browser.keys("TAB")
                if let focused = try await browser.focused(), focused.contains("ack") {
                    reached = true
                    break
                }
            }
            #expect(reached, "the Acknowledge button cannot be reached with Tab")
            try await browser.keys("ENTER")
            let ack = try await other.nextEvent(within: .seconds(5), type: "alert_ack")
            #expect(ack.params["by"] == "sam")
            try await browser.wait("return document.querySelectorAll('li.alert').length === 0", timeout: .seconds(5))
            let alerts = try await f.huddle(["alerts"], token: lee)
            #expect(!alerts.stdout.contains("wellbeing"), "\(alerts.stdout)")
            await browser.quit()
            _ = try await f.daemon.stop()
        }
    }

    @Test func thePageReconnectsAfterADaemonRestartAndMissesNothing() async throws {
        try await HeavyTests.one {
            let f = try await Floor()
            let browser = try await Browser()
            defer { Task { await browser.quit() } }
            try await f.signIn(browser, token: f.sam)
            let (port, httpPort) = (f.daemon.port, f.daemon.httpPort)
            // Killed, the harder case: nothing is said to the page, it finds the stream gone.
            try await f.daemon.kill9()
            try await browser.wait(
                "return document.querySelector('#connection').dataset.state === 'reconnecting'", timeout: .seconds(10))
            try await browser.screenshot("wallboard-reconnecting")
            try await f.daemon.start(port: port, httpPort: httpPort)
            // Changes while the page is still away: it must come back with all of them.
            _ = try await f.huddle(["lunch"])
            _ = try await f.huddle(["say", "back in an hour"])
            try await browser.wait(
                "return document.querySelector('#connection').dataset.state === 'live'", timeout: .seconds(40))
            try await browser.wait(Self.shows("alice", "status", "Lunch"), timeout: .seconds(5))
            #expect(try await browser.js("return document.body.textContent.includes('back in an hour')") == true)
            // The page's position is the daemon's: nothing skipped.
            let sam = try await f.daemon.session(f.sam)
            let joined = try await sam.request("team.join", ["team": "floor-a"])
            try await browser.wait(
                "return window.huddleBoard.appliedSeq['floor-a'] === \(joined["seq"]?.intValue ?? -1)", timeout: .seconds(5))
            await browser.quit()
            _ = try await f.daemon.stop()
        }
    }

    @Test func aDisplayLinkSeesNoAlertsNoReasonsAndCannotAcknowledge() async throws {
        try await HeavyTests.one {
            let f = try await Floor()
            let output = try await f.admin(["display", "add", "floor-a", "--url", f.base])
            let link = try #require(output.split(separator: "\n").last.map(String.init))
            _ = try await f.huddle(["break", "--abusive"])
            let browser = try await Browser(width: 1920, height: 1080)
            defer { Task { await browser.quit() } }
            let desk = link.replacingOccurrences(of: "&tv=1", with: "")
            try await browser.get(desk)
            try await browser.wait("return document.body.dataset.ready === '1'", timeout: .seconds(15))
            try await browser.wait(Self.shows("alice", "status", "Break"), timeout: .seconds(5))
            #expect(try await browser.js("return document.body.textContent.includes('abusive')") == false)
            #expect(try await browser.count("li.alert") == 0)
            #expect(try await browser.count("button.ack") == 0)
            // Even asked directly, the daemon refuses the display a POST.
            let key = try #require(link.split(separator: "=").dropFirst().first?.split(separator: "&").first)
            let status = try await browser.js(
                "return fetch('/v1/alerts/1/ack?display=\(key)', {method: 'POST', body: '{}'}).then(r => r.status)")
            #expect(status.intValue == 403, "\(status)")
            try await browser.screenshot("wallboard-display")
            // TV mode: large type and nothing to click.
            try await browser.get(link)
            try await browser.wait("return document.body.dataset.ready === '1'", timeout: .seconds(15))
            #expect(try await browser.js("return document.body.classList.contains('tv')") == true)
            #expect(try await browser.count("button, a[href], input") == 0)
            try await browser.screenshot("wallboard-tv")
            let lowContrast = try await browser.js(Self.contrastFailures)
            #expect(lowContrast.arrayValue?.isEmpty == true, "text below WCAG AA contrast in TV mode: \(lowContrast)")
            await browser.quit()
            _ = try await f.daemon.stop()
        }
    }

    @Test func aCookieIsRefusedOnceTheTokenIsRotated() async throws {
        try await HeavyTests.one {
            let f = try await Floor()
            let browser = try await Browser()
            defer { Task { await browser.quit() } }
            try await f.signIn(browser, token: f.sam)
            _ = try await f.admin(["user", "token", "sam"])
            // The open stream is closed with token_revoked and the page goes to sign-in.
            try await browser.wait("return location.pathname === '/login'", timeout: .seconds(10))
            try await browser.get("\(f.base)/board")
            try await browser.wait("return location.pathname === '/login'", timeout: .seconds(10))
            await browser.quit()
            _ = try await f.daemon.stop()
        }
    }
}

import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct BoardRendererTests {
    typealias F = BoardFixture

    func render(_ state: BoardState, width: Int = 120, height: Int = 40, at seconds: Int64 = 120) -> [BoardLine] {
        BoardRenderer.render(state, width: width, height: height, now: F.time(seconds)) { ClockText.timeOfDay($0) }
    }

    func text(_ lines: [BoardLine]) -> String {
        lines.map(\.plain).joined(separator: "\n")
    }

    func line(_ lines: [BoardLine], containing needle: String) -> BoardLine? {
        lines.first { $0.plain.contains(needle) }
    }

    /// Sam's board after Alice's break, Carol's wellbeing break and a queue report under pressure.
    func busyState() -> BoardState {
        var state = F.state()
        let events = [
            F.event(
                "status", seq: 14,
                ["user": "alice", "status": "break", "note": "15, be right back", "since": F.stamp(60),
                    "expected_until": F.stamp(960), "by": "alice"]),
            F.event("status", seq: 15, ["user": "carol", "status": "break", "note": "need a minute", "since": F.stamp(70)]),
            F.event(
                "coverage", seq: 16, ["available": 1, "required": 1, "on_break": 2, "max_on_break": 1, "state": "at_risk"]),
            F.event(
                "queue", seq: 17,
                ["by": "bot", "calls_waiting": 12, "oldest_wait_s": 310, "nodes_out": [["node": "n3", "city": "Lyon"]],
                    "note": "", "pressure": true, "node_outage": true]),
            F.event("waitlist", seq: 18, ["users": [["user": "bob", "status": "break", "since": F.stamp(80)]]]),
            F.event("alert", seq: 1, stream: "supervisors", F.alert(1)),
        ]
        for event in events { state.apply(.event(event), now: F.time(100)) }
        return state
    }

    @Test func exactlyTheScreenAndNeverWider() {
        let state = busyState()
        for (width, height) in [(120, 40), (80, 24), (40, 10), (12, 5), (1, 1), (0, 0), (200, 3)] {
            let lines = render(state, width: width, height: height)
            #expect(lines.count == height)
            #expect(lines.allSatisfy { $0.width <= width }, "\(width)x\(height)")
        }
    }

    @Test func headerFooterAndSections() {
        let lines = render(busyState())
        let all = text(lines)
        #expect(lines[0].plain.hasPrefix(" Huddle board  sam (supervisor)  floor-a"))
        #expect(lines[0].plain.hasSuffix("● live  09:02:00 "))
        #expect(lines[0].width == 120)
        #expect(lines.last?.plain.contains("q quit · 1-9 select alert") == true)
        #expect(all.contains("ALERTS  1 open"))
        #expect(all.contains("── floor-a ──"))
        #expect(all.contains("Coverage  1 available / 1 required  AT RISK   on break 2 of max 1"))
        #expect(all.contains("Queue     12 waiting · oldest 5m  QUEUE PRESSURE  NODE OUTAGE  (1m ago, by bot)"))
        #expect(all.contains("nodes out: n3 (Lyon)"))
        #expect(all.contains("Waitlist"))
        #expect(all.contains("1. bob  Break  waiting 40s"))
    }

    @Test func coverageColourFollowsTheState() throws {
        var state = F.state()
        var lines = render(state)
        #expect(try #require(line(lines, containing: "Coverage")).style(of: "3 available")?.color == .green)
        #expect(try #require(line(lines, containing: "Coverage")).style(of: "OK")?.color == .green)
        state = busyState()
        lines = render(state)
        #expect(try #require(line(lines, containing: "Coverage")).style(of: "AT RISK")?.color == .amber)
        state.apply(
            .event(F.event("coverage", seq: 19, ["available": 0, "required": 1, "on_break": 2, "max_on_break": 1, "state": "breach"])),
            now: F.time(101))
        lines = render(state)
        let coverage = try #require(line(lines, containing: "Coverage"))
        #expect(coverage.style(of: "0 available / 1 required")?.color == .red)
        #expect(coverage.style(of: "BREACH")?.color == .red)
    }

    @Test func erlangInputsAreShown() {
        var state = F.state()
        state.apply(
            .event(
                F.event(
                    "coverage", seq: 14,
                    ["available": 3, "required": 8, "on_break": 0, "max_on_break": 1, "state": "breach",
                        "required_from": ["calls_per_hour": 60.0, "aht_s": 300.0, "target": 0.8, "within_s": 20]])),
            now: F.time(100))
        let all = text(render(state))
        #expect(all.contains("3 available / 8 required  BREACH"))
        #expect(all.contains("required by Erlang C: 60 calls/h, AHT 300s, 80% answered within 20s"))
    }

    @Test func membersShowStatusNoteTimeAndConnection() throws {
        let lines = render(busyState(), at: 120)
        let alice = try #require(line(lines, containing: "alice"))
        #expect(alice.plain.contains("Break"))
        #expect(alice.plain.contains("1m/15m"))
        #expect(alice.plain.contains("15, be right back"))
        #expect(alice.plain.hasPrefix(" ● alice"))
        #expect(alice.style(of: "1m/15m")?.color != .red)
        let sam = try #require(line(lines, containing: "sam (sup)"))
        #expect(sam.plain.contains("Offline"))
        #expect(sam.style(of: "sam")?.bold == true)  // the viewer
        let header = try #require(line(lines, containing: "USER"))
        #expect(header.plain.contains("STATUS") && header.plain.contains("TIME") && header.plain.contains("NOTE"))
    }

    @Test func overTheLimitOrPlannedReturnIsRed() throws {
        // Alice planned 15 minutes from 09:01 (due 09:16); at 09:17 she is over.
        var lines = render(busyState(), at: 1020)
        let alice = try #require(line(lines, containing: "alice"))
        #expect(alice.style(of: "16m/15m")?.color == .red)
        // Carol has no planned return: the policy's 15 minutes for a break, from 09:01:10.
        let carol = try #require(line(lines, containing: "need a minute"))
        #expect(carol.style(of: "15m/15m")?.color == .red)
        lines = render(busyState(), at: 900)
        #expect(try #require(line(lines, containing: "need a minute")).style(of: "13m/15m")?.color != .red)
        // Available has no limit: no limit shown, never red.
        var state = F.state()
        state.apply(.event(F.event("status", seq: 14, ["user": "bob", "status": "available", "note": "", "since": F.stamp(0)])), now: F.time(0))
        lines = render(state, at: 86_000)
        let bob = try #require(line(lines, containing: "bob"))
        #expect(!bob.plain.contains("/"))
        #expect(bob.style(of: "Available")?.color == .green)
    }

    @Test func alertsAreNumberedAndTheSelectedOneMarked() throws {
        var state = busyState()
        state.apply(
            .event(F.event("alert", seq: 2, stream: "supervisors", F.alert(7, kind: "coverage_breach", severity: "warning", user: "bob"))),
            now: F.time(100))
        var lines = render(state)
        let first = try #require(line(lines, containing: "#1"))
        #expect(first.plain.hasPrefix(" ▶ 1  #1"))
        #expect(first.plain.contains("wellbeing_break"))
        #expect(first.plain.contains("carol ended an abusive call"))
        #expect(first.style(of: "critical")?.color == .red)
        let second = try #require(line(lines, containing: "#7"))
        #expect(second.plain.hasPrefix("   2  #7"))
        #expect(second.style(of: "warning")?.color == .amber)
        _ = state.handle(.character("2"), now: F.time(100))
        lines = render(state)
        #expect(try #require(line(lines, containing: "#7")).plain.hasPrefix(" ▶ 2  #7"))
        #expect(try #require(line(lines, containing: "#1 ")).plain.hasPrefix("   1  #1"))
    }

    @Test func agentsGetNoAlertSectionNorAlertKeys() {
        var state = F.state("bob", role: "agent")
        state.apply(.event(F.event("status", seq: 14, ["user": "alice", "status": "break", "note": "", "since": F.stamp(60)])), now: F.time(60))
        let lines = render(state)
        #expect(!text(lines).contains("ALERTS"))
        #expect(lines.last?.plain.trimmingTrailingSpaces == " q quit · r redraw")
    }

    @Test func connectionBannerTellsDisconnectAndReconnect() throws {
        var state = busyState()
        state.apply(.disconnected(reason: "connection reset"), now: F.time(100))
        var lines = render(state, at: 101)
        #expect(lines[0].plain.contains("disconnected — reconnecting…"))
        let banner = try #require(line(lines, containing: "since 09:01:40"))
        #expect(banner.plain.contains("connection reset"))
        #expect(banner.spans.first?.style.color == .red)
        state.apply(.reconnected(F.join(seq: 18, supervisorsSeq: 1, recovered: true), recovered: true), now: F.time(105))
        state.apply(.event(F.event("status", seq: 18, ["user": "alice", "status": "available"])), now: F.time(105))
        lines = render(state, at: 106)
        #expect(lines[0].plain.contains("● reconnected"))
        #expect(text(lines).contains("reconnected at 09:01:45: caught up on 1 missed event"))
        state.apply(.disconnected(reason: "shutdown"), now: F.time(112))
        state.apply(.reconnected(F.join(seq: 18, supervisorsSeq: 1, recovered: true), recovered: true), now: F.time(113))
        #expect(text(render(state, at: 114)).contains("reconnected at 09:01:53: nothing was missed"))
        state.apply(.disconnected(reason: "shutdown"), now: F.time(114))
        state.apply(.reconnected(F.join(seq: 2, supervisorsSeq: 0, recovered: false), recovered: false), now: F.time(115))
        #expect(text(render(state, at: 116)).contains("what was missed could not be replayed; showing a fresh snapshot"))
        lines = render(state, at: 130)
        #expect(lines[0].plain.contains("● live"))
        #expect(!text(lines).contains("reconnected"))
    }

    @Test func tooManyLinesAreCutWithANote() {
        let lines = render(busyState(), width: 80, height: 12)
        #expect(lines.count == 12)
        #expect(lines[10].plain.contains("more lines: make the window taller"))
        #expect(lines[11].plain.contains("q quit"))
    }

    @Test func heldSlotsAndFlash() {
        var state = busyState()
        state.apply(.event(F.event("waitlist_ready", seq: 19, ["user": "bob", "status": "break", "hold_until": F.stamp(220)])), now: F.time(100))
        state.show("acknowledged #1", .good, now: F.time(118))
        var lines = render(state, at: 120)
        #expect(text(lines).contains("slot held until 09:03:40 (1m left)"))
        #expect(lines[lines.count - 2].plain == " acknowledged #1")
        #expect(lines[lines.count - 2].spans.first?.style.color == .green)
        lines = render(state, at: 230)
        #expect(text(lines).contains("hold expired"))
        #expect(!text(lines).contains("acknowledged #1"))
    }

    @Test func noteEntryReplacesTheFooter() {
        var state = busyState()
        _ = state.handle(.character("n"), now: F.time(100))
        for c in "on my way" { _ = state.handle(.character(c), now: F.time(100)) }
        let lines = render(state)
        #expect(lines.last?.plain.hasPrefix(" Note for #1: on my way▏") == true)
    }

    @Test func otherPeoplesTextCannotDriveTheTerminal() {
        var state = F.state()
        state.apply(
            .event(
                F.event(
                    "status", seq: 14,
                    ["user": "alice", "status": "break", "note": "\u{1B}]0;pwned\u{07}\u{1B}[2J\u{202E}", "since": F.stamp(60)])),
            now: F.time(60))
        state.apply(.event(F.event("message", seq: 15, ["user": "mal\u{1B}[31mlory", "text": "hi\u{9B}31m"])), now: F.time(60))
        let lines = render(state)
        #expect(!lines.contains { $0.plain.unicodeScalars.contains(where: TextRules.isForbidden) })
        let all = text(lines)
        #expect(all.contains("\u{FFFD}]0;pwned\u{FFFD}\u{FFFD}[2J\u{FFFD}"))
    }

    @Test func wideTextIsMeasuredInColumns() {
        #expect(TerminalWidth.of("abc") == 3)
        #expect(TerminalWidth.of("日本") == 4)
        #expect(TerminalWidth.of("e\u{301}") == 1)
        #expect(TerminalWidth.of("👍") == 2)
        #expect(TerminalWidth.of("●─…▶") == 4)
        let cut = BoardLine("日本語のメモ", .plain).fitted(to: 7)
        #expect(cut.plain == "日本語…")
        #expect(cut.width <= 7)
        #expect(BoardLine("short").fitted(to: 10).plain == "short")
        #expect(BoardLine("exactly").fitted(to: 7).plain == "exactly")
        #expect(BoardLine("longer!").fitted(to: 6).plain == "longe…")
        #expect(BoardLine("x").fitted(to: 0).plain == "")
    }

    @Test func framesPlaceEveryRowAndOnlyClearShortOnes() {
        let lines = [BoardLine([BoardSpan("ab", .red)]), BoardLine("wxyz")]
        let frame = BoardFrame.encode(lines, width: 4)
        #expect(frame == "\u{1B}[?25l\u{1B}[1;1H\u{1B}[0;31mab\u{1B}[0m\u{1B}[K\u{1B}[2;1H\u{1B}[0mwxyz\u{1B}[0m")
        #expect(BoardFrame.encode([], width: 4, clear: true) == "\u{1B}[?25l\u{1B}[0m\u{1B}[2J")
        #expect(BoardFrame.enter.contains("\u{1B}[?1049h") && BoardFrame.enter.contains("\u{1B}[?25l"))
        #expect(BoardFrame.leave.contains("\u{1B}[?1049l") && BoardFrame.leave.contains("\u{1B}[?25h"))
        #expect(BoardStyle.amber.with(bold: true, inverse: true).sgr == "\u{1B}[0;1;7;33m")
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}

import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct BoardInputTests {
    typealias F = BoardFixture

    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func decodesCharactersControlsAndArrows() {
        var decoder = BoardKeyDecoder()
        #expect(decoder.decode(bytes("q1a")) == [.character("q"), .character("1"), .character("a")])
        #expect(decoder.decode([0x03, 0x04, 0x0C, 0x0D, 0x7F, 0x09]) == [.interrupt, .endOfInput, .redraw, .enter, .backspace, .other])
        #expect(decoder.decode(bytes("\u{1B}[A\u{1B}[B\u{1B}OA\u{1B}[C")) == [.up, .down, .up, .other])
        #expect(decoder.decode(bytes("\u{1B}")) == [.escape])
        #expect(decoder.decode(bytes("\u{1B}x")) == [.escape, .character("x")])
        #expect(decoder.decode(bytes("é日")) == [.character("é"), .character("日")])
    }

    @Test func sequencesCutBetweenReadsAreCompleted() {
        var decoder = BoardKeyDecoder()
        #expect(decoder.decode([0x1B, UInt8(ascii: "[")]) == [])
        #expect(decoder.decode([UInt8(ascii: "B")]) == [.down])
        let e = Array("é".utf8)
        #expect(decoder.decode([e[0]]) == [])
        #expect(decoder.decode([e[1], UInt8(ascii: "q")]) == [.character("é"), .character("q")])
        #expect(decoder.decode([0xFF]) == [.other])
    }

    func supervisorWithAlerts() -> BoardState {
        var state = F.state()
        state.apply(.event(F.event("alert", seq: 1, stream: "supervisors", F.alert(3))), now: F.time(60))
        state.apply(.event(F.event("alert", seq: 2, stream: "supervisors", F.alert(5, kind: "overdue_status"))), now: F.time(60))
        state.apply(.event(F.event("alert", seq: 3, stream: "supervisors", F.alert(9, kind: "ghost_session"))), now: F.time(60))
        return state
    }

    @Test func quitKeys() {
        var state = F.state("bob", role: "agent")
        for key in [BoardKey.character("q"), .character("Q"), .interrupt, .endOfInput] {
            #expect(state.handle(key, now: F.time(1)) == .quit)
        }
        #expect(state.handle(.character("r"), now: F.time(1)) == .redraw)
        #expect(state.handle(.redraw, now: F.time(1)) == .redraw)
    }

    @Test func digitsSelectAndAAcknowledges() {
        var state = supervisorWithAlerts()
        #expect(state.selectedAlertID == 3)
        #expect(state.handle(.character("a"), now: F.time(61)) == .acknowledge(alert: 3, note: nil))
        #expect(state.shownFlash(at: F.time(61))?.text == "acknowledging #3…")
        #expect(state.handle(.character("2"), now: F.time(61)) == nil)
        #expect(state.selectedAlertID == 5)
        #expect(state.handle(.character("a"), now: F.time(61)) == .acknowledge(alert: 5, note: nil))
        #expect(state.handle(.character("7"), now: F.time(61)) == nil)
        #expect(state.selectedAlertID == 5)
        #expect(state.shownFlash(at: F.time(61))?.text == "there is no alert 7 (3 open)")
    }

    @Test func arrowsAndJKMoveTheSelectionWithinBounds() {
        var state = supervisorWithAlerts()
        _ = state.handle(.down, now: F.time(61))
        #expect(state.selectedAlertID == 5)
        _ = state.handle(.character("j"), now: F.time(61))
        _ = state.handle(.character("j"), now: F.time(61))
        #expect(state.selectedAlertID == 9)
        _ = state.handle(.up, now: F.time(61))
        _ = state.handle(.character("k"), now: F.time(61))
        _ = state.handle(.character("k"), now: F.time(61))
        #expect(state.selectedAlertID == 3)
    }

    @Test func theSelectionFollowsTheAlertNotItsPlace() {
        var state = supervisorWithAlerts()
        _ = state.handle(.character("3"), now: F.time(61))
        #expect(state.selectedAlertID == 9)
        state.apply(.event(F.event("alert_ack", seq: 4, stream: "supervisors", ["alert": 3, "by": "ann", "note": ""])), now: F.time(62))
        #expect(state.selectedAlertID == 9)
        state.apply(.event(F.event("alert_ack", seq: 5, stream: "supervisors", ["alert": 9, "by": "ann", "note": ""])), now: F.time(62))
        #expect(state.selectedAlertID == 5)
    }

    @Test func acknowledgingWithANote() {
        var state = supervisorWithAlerts()
        #expect(state.handle(.character("n"), now: F.time(61)) == nil)
        #expect(state.input == .note(alert: 3, text: ""))
        for c in "On my wayy" { #expect(state.handle(.character(c), now: F.time(61)) == nil) }
        // q is text while typing; Backspace deletes.
        _ = state.handle(.backspace, now: F.time(61))
        #expect(state.input == .note(alert: 3, text: "On my way"))
        #expect(state.handle(.enter, now: F.time(62)) == .acknowledge(alert: 3, note: "On my way"))
        #expect(state.input == .normal)
    }

    @Test func noteEntryCancelsAndRefusesControlCharacters() {
        var state = supervisorWithAlerts()
        _ = state.handle(.character("n"), now: F.time(61))
        _ = state.handle(.character("q"), now: F.time(61))
        _ = state.handle(.character("\u{202E}"), now: F.time(61))
        #expect(state.input == .note(alert: 3, text: "q"))
        for _ in 0..<200 { _ = state.handle(.character("x"), now: F.time(61)) }
        if case .note(_, let text) = state.input { #expect(text.unicodeScalars.count == TextRules.maxNoteScalars) }
        #expect(state.handle(.escape, now: F.time(61)) == nil)
        #expect(state.input == .normal)
        _ = state.handle(.character("n"), now: F.time(61))
        #expect(state.handle(.enter, now: F.time(61)) == .acknowledge(alert: 3, note: nil))
        // Ctrl-C quits from anywhere.
        _ = state.handle(.character("n"), now: F.time(61))
        #expect(state.handle(.interrupt, now: F.time(61)) == .quit)
    }

    @Test func withoutAlertsTheKeysSaySo() {
        var state = F.state()
        #expect(state.handle(.character("a"), now: F.time(61)) == nil)
        #expect(state.shownFlash(at: F.time(61))?.text == "no open alerts")
        #expect(state.handle(.character("n"), now: F.time(61)) == nil)
        #expect(state.input == .normal)
    }

    @Test func agentsCannotAcknowledge() {
        var state = F.state("bob", role: "agent")
        #expect(state.handle(.character("a"), now: F.time(61)) == nil)
        #expect(state.handle(.character("1"), now: F.time(61)) == nil)
        #expect(state.handle(.character("n"), now: F.time(61)) == nil)
        #expect(state.input == .normal)
        #expect(state.flash == nil)
    }
}

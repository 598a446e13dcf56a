import HuddleProtocol
import Testing

@testable import HuddleClient

/// Calls as the CLI shows them: `huddle who`, `huddle status`, the board and `huddle watch`.
@Suite struct CallTextTests {
    typealias F = BoardFixture

    @Test func callEventsMoveTheBoardAndShowOnItsMemberLine() throws {
        var state = F.state()
        state.apply(
            .event(F.event("call", seq: 14, ["user": "alice", "state": "on_hold", "since": F.stamp(60), "muted": false])),
            now: F.time(61))
        let alice = try #require(state.teams["floor-a"]?.members.first { $0.user == "alice" })
        #expect(alice.call?.state == .onHold && alice.call?.since == F.time(60))
        #expect(MemberText.call(alice, now: F.time(240)) == "on hold 3m")
        state.apply(.event(F.event("phone", seq: 1, stream: "supervisors", ["user": "alice", "logged_in": true])), now: F.time(61))
        #expect(state.teams["floor-a"]?.members.first { $0.user == "alice" }?.phoneLoggedIn == true)
        state.apply(
            .event(F.event("call", seq: 15, ["user": "alice", "state": "none", "since": F.stamp(90), "muted": false])),
            now: F.time(91))
        #expect(state.teams["floor-a"]?.members.first { $0.user == "alice" }?.call == nil)
    }

    @Test func whoGainsACallColumnWhenSomeoneIsOnACall() {
        let now = F.time(600)
        var alice = Member(user: "alice", status: .available, since: F.time(0), connected: true)
        let bob = Member(user: "bob", status: .available, since: F.time(0), connected: true)
        #expect(!MemberText.table([alice, bob], now: now).contains("CALL"))
        alice.call = CallRecord(id: "", state: .talking, since: F.time(480), muted: true)
        let table = MemberText.table([alice, bob], now: now)
        #expect(table.split(separator: "\n").first?.contains("CALL") == true)
        #expect(table.contains("talking 2m (muted)"), "\(table)")
        #expect(MemberText.statusLine(alice, now: now, hourMinute: { _ in "" }).hasSuffix(", on the phone: talking 2m (muted)"))
    }

    @Test func watchPrintsCallEvents() {
        let hold = F.event("call", seq: 3, ["user": "alice", "state": "on_hold", "since": F.stamp(60), "muted": false])
        #expect(EventText.line(hold, timeOfDay: { _ in "09:00:00" }).hasSuffix("alice  customer on hold"))
        let ended = F.event("call", seq: 4, ["user": "alice", "state": "none", "since": F.stamp(90), "muted": false])
        #expect(EventText.line(ended, timeOfDay: { _ in "09:00:00" }).hasSuffix("alice  call ended"))
    }

    @Test func theBoardShowsTheCallOnTheMembersLineAHoldInAmber() throws {
        var state = F.state()
        state.apply(
            .event(F.event("call", seq: 14, ["user": "bob", "state": "on_hold", "since": F.stamp(60), "muted": false])),
            now: F.time(61))
        let lines = BoardRenderer.render(state, width: 120, height: 40, now: F.time(240)) { ClockText.timeOfDay($0) }
        let bob = try #require(lines.first { $0.plain.contains(" bob ") })
        #expect(bob.plain.contains("☎ on hold 3m"), "\(bob.plain)")
        #expect(bob.spans.contains { $0.text.contains("on hold") && $0.style.color == .amber })
    }
}

import HuddleProtocol
import Testing

@testable import HuddleCore

/// `report.calls` from stored call events.
@Suite struct CallReportTests {
    let t0 = Timestamp(rfc3339: "2026-12-07T09:00:00.000Z")!

    func change(_ user: String, _ state: CallState, at seconds: Int64) -> CallReport.Change {
        let at = t0.adding(seconds: seconds)
        let call = state == .none ? nil : CallRecord(id: "", state: state, since: at)
        return CallReport.Change(at: at, event: CallEvent(user: user, call: call))
    }

    @Test func callsTalkAndHoldsAreCountedWithinThePeriod() {
        let changes = [
            change("alice", .ringing, at: 0), change("alice", .talking, at: 10), change("alice", .onHold, at: 70),
            change("alice", .talking, at: 270), change("alice", .none, at: 300),
            change("bob", .talking, at: 100), change("bob", .onHold, at: 160), change("bob", .none, at: 220),
            // A call still going: its hold counts up to now.
            change("alice", .talking, at: 600), change("alice", .onHold, at: 620),
        ]
        let rows = CallReport.compute(
            changes: changes, checkin: { _ in 150 }, from: t0, to: t0.adding(seconds: 3600), now: t0.adding(seconds: 700))
        let alice = rows.first { $0.user == "alice" }
        #expect(alice?.calls == 2)
        #expect(alice?.talkSeconds == 110, "60 + 30 + 20")
        #expect(alice?.holdSeconds == 280, "200 + 80")
        #expect(alice?.longestHoldSeconds == 200)
        #expect(alice?.holdsOverCheckin == 1)
        let bob = rows.first { $0.user == "bob" }
        #expect(bob?.calls == 1 && bob?.talkSeconds == 60 && bob?.holdSeconds == 60 && bob?.holdsOverCheckin == 0)
        #expect(rows.first?.json["holds_over_checkin"] == 1)
    }

    @Test func aPeriodCutsTheSecondsButNotAHoldsLength() {
        let changes = [change("alice", .talking, at: 0), change("alice", .onHold, at: 100), change("alice", .none, at: 400)]
        let rows = CallReport.compute(
            changes: changes, checkin: { _ in 150 }, from: t0.adding(seconds: 300), to: t0.adding(seconds: 3600),
            now: t0.adding(seconds: 1000))
        #expect(rows.count == 1)
        #expect(rows[0].calls == 1 && rows[0].talkSeconds == 0 && rows[0].holdSeconds == 100)
        #expect(rows[0].longestHoldSeconds == 300 && rows[0].holdsOverCheckin == 1)
        #expect(
            CallReport.compute(
                changes: changes, checkin: { _ in 150 }, from: t0.adding(seconds: 500), to: t0.adding(seconds: 900),
                now: t0.adding(seconds: 1000)
            ).isEmpty, "a period after the call has none of it")
    }
}

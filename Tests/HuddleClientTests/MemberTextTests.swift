import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct MemberTextTests {
    let now = Timestamp(rfc3339: "2026-11-23T09:27:00.000Z")!

    func at(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    @Test func table() {
        let members = [
            Member(
                user: "bob", status: .available, since: at("2026-11-23T08:00:00.000Z"), connected: false),
            Member(
                user: "alice", status: .onBreak, note: "be right back", since: at("2026-11-23T09:15:00.000Z"),
                expectedUntil: at("2026-11-23T09:30:00.000Z"), connected: true),
        ]
        let expected = """
              USER  STATUS    FOR     NOTE
            ● alice Break     12m/15m be right back
              bob   Available 1h27m
            """
        #expect(MemberText.table(members, now: now) == expected)
    }

    @Test func statusLine() {
        let alice = Member(
            user: "alice", status: .onBreak, note: "be right back", since: at("2026-11-23T09:15:00.000Z"),
            expectedUntil: at("2026-11-23T09:30:00.000Z"), connected: true)
        #expect(
            MemberText.statusLine(alice, now: now) { ClockText.hourMinute($0) }
                == "Break \"be right back\" for 12m (15m planned, back by 09:30)")
        let late = MemberText.statusLine(alice, now: at("2026-11-23T09:33:00.000Z")) { ClockText.hourMinute($0) }
        #expect(late == "Break \"be right back\" for 18m (15m planned, 3m over)")
    }

    @Test func readsSnapshotMembers() throws {
        let member = try #require(
            Member(json: [
                "user": "alice", "role": "agent", "status": "lunch", "note": "", "since": "2026-11-23T09:15:00.000Z",
                "connected": true,
            ]))
        #expect(member.status == .lunch)
        #expect(member.expectedUntil == nil)
        #expect(member.statusLabel == "Lunch")
    }
}

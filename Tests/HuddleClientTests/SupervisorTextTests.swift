import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct SupervisorTextTests {
    let now = Timestamp(rfc3339: "2026-11-23T09:20:00Z")!

    /// A supervisor's snapshot as `team.join` sends it.
    let snapshot: JSONValue = [
        "epoch": "e1", "seq": 24, "supervisors_seq": 1, "recovered": false,
        "snapshot": [
            "members": [],
            "coverage": ["available": 1, "required": 1, "on_break": 2, "max_on_break": 1, "state": "at_risk"],
            "waitlist": [
                ["user": "bob", "status": "break", "since": "2026-11-23T09:12:00.000Z", "hold_until": "2026-11-23T09:21:05.000Z"],
                ["user": "dave", "status": "lunch", "since": "2026-11-23T09:14:30.000Z"],
            ],
            "alerts": [
                [
                    "alert": 7, "kind": "escalation", "severity": "critical", "team": "floor-a", "text": "nobody answered",
                    "created_at": "2026-11-23T09:19:00.000Z", "escalates": 1,
                ],
                [
                    "alert": 1, "kind": "wellbeing_break", "severity": "critical", "team": "floor-a", "user": "carol",
                    "reason": "abusive_call", "text": "carol ended an abusive call and is taking a recovery break",
                    "created_at": "2026-11-23T09:14:00.000Z",
                ],
            ],
        ],
    ]

    @Test func readsTheSnapshot() throws {
        let join = try JoinResult(team: "floor-a", json: snapshot)
        #expect(join.waitlist.map(\.user) == ["bob", "dave"])
        #expect(join.waitlist[0].holdUntil == Timestamp(rfc3339: "2026-11-23T09:21:05Z"))
        #expect(join.waitlist[1].holdUntil == nil)
        let alerts = try #require(join.alerts)
        #expect(alerts.map(\.id) == [1, 7])
        #expect(alerts[0].reason == "abusive_call")
        #expect(alerts[1].escalates == 1)
        #expect(join.coverage?.state == .atRisk)
        // An agent's snapshot has no alerts at all.
        var agentView = snapshot
        if case .object(var top) = agentView, case .object(var inner)? = top["snapshot"] {
            inner["alerts"] = nil
            top["snapshot"] = .object(inner)
            agentView = .object(top)
        }
        #expect(try JoinResult(team: "floor-a", json: agentView).alerts == nil)
    }

    @Test func alertTable() throws {
        let alerts = try #require(try JoinResult(team: "floor-a", json: snapshot).alerts)
        #expect(
            AlertText.table(alerts, now: now) == """
                ID  KIND             SEVERITY  USER   AGE  TEXT
                 1  wellbeing_break  critical  carol  6m   carol ended an abusive call and is taking a recovery break
                 7  escalation       critical  -      1m   nobody answered (escalates #1)
                """)
        let hostile = OpenAlert(
            id: 12, kind: "overdue_status", severity: "warning", team: "floor-\u{1B}b", user: "e\u{202E}ve",
            text: "x\u{1B}[2J", createdAt: nil)
        let text = AlertText.table([hostile], now: now, showTeam: true)
        #expect(!text.unicodeScalars.contains { $0 != "\n" && TextRules.isForbidden($0) })
        #expect(text.hasPrefix("ID  TEAM"))
        #expect(text.contains("12  floor-\u{FFFD}b  overdue_status  warning   e\u{FFFD}ve  ?    x\u{FFFD}[2J"))
    }

    @Test func waitlistTable() throws {
        let join = try JoinResult(team: "floor-a", json: snapshot)
        let text = WaitlistText.table(join.waitlist, now: now, viewer: "dave") { ClockText.timeOfDay($0) }
        #expect(
            text == """
                #  USER        STATUS  WAITING
                1  bob         Break   since 09:12 (8m)  held until 09:21:05
                2  dave (you)  Lunch   since 09:14 (5m)
                """)
    }

    @Test func statusNames() {
        #expect(StatusNames.parse("available") == .available)
        #expect(StatusNames.parse("Available") == .available)
        #expect(StatusNames.parse("back") == .available)
        #expect(StatusNames.parse("acw") == .afterCallWork)
        #expect(StatusNames.parse("after-call-work") == .afterCallWork)
        #expect(StatusNames.parse("After Call Work") == .afterCallWork)
        #expect(StatusNames.parse("break") == .onBreak)
        #expect(StatusNames.parse("catalog training") == .training)
        #expect(StatusNames.parse("training") == .training)
        #expect(StatusNames.parse("nap") == nil)
        #expect(StatusNames.parse("") == nil)
        for status in Status.allCases {
            #expect(StatusNames.parse(status.rawValue) == status)
            #expect(StatusNames.command(for: status).flatMap(StatusNames.parse) == status)
        }
        #expect(StatusNames.request(for: .onBreak) == "a break")
        #expect(StatusNames.request(for: .admin) == "admin time")
    }

    @Test func waitlistedAnswerNamesTheTeam() throws {
        // Protocol/examples/05-coverage.jsonl.
        let result = try StatusSetResult(json: ["decision": "waitlisted", "position": 1, "team": "floor-a"])
        #expect(result.decision == .waitlisted(position: 1))
        #expect(result.team == "floor-a")
        let granted = try StatusSetResult(
            json: ["decision": "granted", "reason": "abusive_call", "seq": 23, "seqs": ["floor-a": 23]])
        #expect(granted.decision == .granted && granted.seq == 23 && granted.team == nil)
    }

    @Test func tables() {
        #expect(TextTable.render([["A", "BB"], ["ccc", "d"]], rightAligned: [1]) == "A    BB\nccc   d")
        #expect(TextTable.render([["A", "", ""], ["b", "c", ""]]) == "A\nb  c")
    }
}

import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct ReportTextTests {
    let rows = [
        ReportRow(user: "bob", status: .onBreak, seconds: 900, count: 1, overruns: 0),
        ReportRow(user: "alice", status: .lunch, seconds: 3725, count: 1, overruns: 1),
        ReportRow(user: "alice", status: .available, seconds: 26 * 3600 + 189, count: 12, overruns: 0),
        ReportRow(user: "alice", status: .onBreak, seconds: 59, count: 2, overruns: 0),
    ]

    @Test func hoursMinutesSeconds() {
        #expect(ReportText.hms(0) == "0:00:00")
        #expect(ReportText.hms(59) == "0:00:59")
        #expect(ReportText.hms(900) == "0:15:00")
        #expect(ReportText.hms(3725) == "1:02:05")
        #expect(ReportText.hms(26 * 3600 + 189) == "26:03:09")
        #expect(ReportText.hms(-5) == "0:00:00")
    }

    @Test func table() {
        #expect(
            ReportText.table(rows) == """
                USER   STATUS         TIME  COUNT  OVERRUNS
                alice  Available  26:03:09     12         0
                alice  Break       0:00:59      2         0
                alice  Lunch       1:02:05      1         1
                bob    Break       0:15:00      1         0
                """)
    }

    @Test func csv() {
        #expect(
            ReportText.csv(rows) == """
                user,status,seconds,count,overruns
                alice,available,93789,12,0
                alice,break,59,2,0
                alice,lunch,3725,1,1
                bob,break,900,1,0
                """)
        #expect(ReportText.csv([]) == "user,status,seconds,count,overruns")
    }

    @Test func csvFieldsAreQuotedAndDefused() {
        #expect(ReportText.csvField("plain") == "plain")
        #expect(ReportText.csvField("a,b") == "\"a,b\"")
        #expect(ReportText.csvField("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(ReportText.csvField(" pad") == "\" pad\"")
        #expect(ReportText.csvField("x\u{1B}[2J\ny") == "x\u{FFFD}[2J\u{FFFD}y")
    }

    @Test func readsTheAnswer() throws {
        let report = try StatusTimeReport(
            json: [
                "rows": [
                    ["user": "carol", "status": "break", "seconds": 120, "count": 1, "overruns": 1],
                    ["user": "carol", "status": "nap", "seconds": 5, "count": 1, "overruns": 0],
                    ["user": "x"],
                ]
            ])
        #expect(report.rows.count == 2)
        #expect(report.rows[0] == ReportRow(user: "carol", status: .onBreak, seconds: 120, count: 1, overruns: 1))
        #expect(report.rows[1].status == nil && report.rows[1].statusLabel == "nap")
        // Unknown statuses sort after the known ones.
        #expect(ReportText.sorted(report.rows.reversed()).map(\.statusName) == ["break", "nap"])
        #expect(throws: UnexpectedAnswer.self) { try StatusTimeReport(json: [:]) }
    }
}

@Suite struct ReportTimeTests {
    // Monday 2026-11-23 15:42:10 UTC.
    let now = Timestamp(rfc3339: "2026-11-23T15:42:10Z")!

    func parse(_ text: String, _ edge: ReportTime.Edge, offset: Int = 0) -> String? {
        ReportTime.parse(text, edge: edge, now: now) { _ in offset }?.rfc3339
    }

    @Test func instants() {
        #expect(parse("2026-11-20T08:00:00Z", .start) == "2026-11-20T08:00:00.000Z")
        #expect(parse("2026-11-20T09:00:00+01:00", .end) == "2026-11-20T08:00:00.000Z")
        #expect(parse("now", .end) == "2026-11-23T15:42:10.000Z")
    }

    @Test func daysInUTC() {
        #expect(parse("2026-11-20", .start) == "2026-11-20T00:00:00.000Z")
        #expect(parse("2026-11-20", .end) == "2026-11-21T00:00:00.000Z")
        #expect(parse("2026-12-31", .end) == "2027-01-01T00:00:00.000Z")
        #expect(parse("today", .start) == "2026-11-23T00:00:00.000Z")
        #expect(parse("today", .end) == "2026-11-24T00:00:00.000Z")
        #expect(parse("yesterday", .start) == "2026-11-22T00:00:00.000Z")
        #expect(parse("Yesterday", .end) == "2026-11-23T00:00:00.000Z")
    }

    @Test func daysInAnotherZone() {
        // At UTC+10 it is already Tuesday the 24th, 01:42.
        #expect(parse("today", .start, offset: 36000) == "2026-11-23T14:00:00.000Z")
        #expect(parse("yesterday", .start, offset: 36000) == "2026-11-22T14:00:00.000Z")
        // At UTC-5 a day starts at 05:00 UTC.
        #expect(parse("2026-11-20", .start, offset: -18000) == "2026-11-20T05:00:00.000Z")
        #expect(parse("2026-11-20", .end, offset: -18000) == "2026-11-21T05:00:00.000Z")
    }

    @Test func daylightSavingChangeThatDay() {
        // A zone at +1 until 2026-03-29T01:00Z and +2 after (Central Europe).
        let cet: (Timestamp) -> Int = { $0 < Timestamp(rfc3339: "2026-03-29T01:00:00Z")! ? 3600 : 7200 }
        #expect(ReportTime.parse("2026-03-29", edge: .start, now: now, offset: cet)?.rfc3339 == "2026-03-28T23:00:00.000Z")
        #expect(ReportTime.parse("2026-03-29", edge: .end, now: now, offset: cet)?.rfc3339 == "2026-03-29T22:00:00.000Z")
    }

    @Test func notTimes() {
        for text in ["", "tomorrow", "2026-13-01", "2026-02-30", "2026-1-5", "23/11/2026", "2026-11-23T25:00:00Z", "1700000000"] {
            #expect(parse(text, .start) == nil, "\(text)")
        }
    }
}

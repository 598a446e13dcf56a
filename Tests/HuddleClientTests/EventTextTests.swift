import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct EventTextTests {
    func event(_ fields: [String: JSONValue], readable: Bool = true) -> EventNotification {
        var params: [String: JSONValue] = [
            "team": "floor-a", "stream": "team", "seq": 7, "at": "2026-11-23T09:15:02.120Z",
        ]
        params.merge(fields) { _, new in new }
        return WireEvents.notification(params, readable: readable)
    }

    func line(_ fields: [String: JSONValue]) -> String {
        EventText.line(event(fields)) { ClockText.timeOfDay($0) }
    }

    @Test func statusWithNoteAndPlannedReturn() {
        let text = line([
            "type": "status", "user": "alice", "status": "break", "note": "be right back",
            "since": "2026-11-23T09:15:02.000Z", "expected_until": "2026-11-23T09:30:02.000Z", "by": "alice",
        ])
        #expect(text == "09:15:02 floor-a  alice  Break \"be right back\" (15m planned)")
    }

    @Test func statusSetBySomeoneElse() {
        let text = line([
            "type": "status", "user": "alice", "status": "offline", "note": "", "since": "2026-11-23T09:15:02.000Z",
            "by": "system",
        ])
        #expect(text == "09:15:02 floor-a  alice  Offline (by system)")
        let forced = line([
            "type": "status", "user": "alice", "status": "available", "note": "", "by": "sam",
        ])
        #expect(forced == "09:15:02 floor-a  alice  Available (set by sam)")
    }

    @Test func escapeSequencesNeverReachTheTerminal() {
        let text = line(["type": "message", "user": "mal\u{1B}[31mlory", "text": "hi \u{1B}]0;pwned\u{07} \u{202E}txt"])
        #expect(!text.unicodeScalars.contains { TextRules.isForbidden($0) })
        #expect(text == "09:15:02 floor-a  mal\u{FFFD}[31mlory  says: hi \u{FFFD}]0;pwned\u{FFFD} \u{FFFD}txt")
    }

    @Test func presenceCoverageWaitlist() {
        #expect(line(["type": "presence", "user": "bob", "connected": false]) == "09:15:02 floor-a  bob  disconnected")
        #expect(
            line(["type": "coverage", "available": 1, "required": 2, "on_break": 2, "max_on_break": 2, "state": "breach"])
                == "09:15:02 floor-a  coverage  1 available (2 required), 2 on break (max 2) — BREACH")
        #expect(
            line(["type": "coverage", "available": 2, "required": 2, "on_break": 1, "max_on_break": 1, "state": "at_risk"])
                == "09:15:02 floor-a  coverage  2 available (2 required), 1 on break (max 1) — at risk")
        #expect(
            line(["type": "coverage", "available": 3, "required": 1, "on_break": 0, "max_on_break": 1, "state": "ok"])
                == "09:15:02 floor-a  coverage  3 available (1 required), 0 on break (max 1)")
        #expect(
            line([
                "type": "coverage", "available": 9, "required": 8, "on_break": 0, "max_on_break": 2, "state": "ok",
                "required_from": ["calls_per_hour": 60, "aht_s": 300, "target": 0.8, "within_s": 20],
            ]) == "09:15:02 floor-a  coverage  9 available (8 required), 0 on break (max 2) (required for 60 calls/h at 300s, 80% within 20s)")
        #expect(
            line([
                "type": "waitlist",
                "users": [
                    ["user": "bob", "status": "break", "since": "2026-11-23T09:00:00.000Z"],
                    ["user": "carol", "status": "lunch", "since": "2026-11-23T09:01:00.000Z"],
                ],
            ]) == "09:15:02 floor-a  waitlist  1. bob (Break), 2. carol (Lunch)")
        #expect(line(["type": "waitlist", "users": []]) == "09:15:02 floor-a  waitlist  empty")
    }

    @Test func aHeldSlotSpeaksToItsOwner() {
        let fields: [String: JSONValue] = [
            "type": "waitlist_ready", "user": "bob", "status": "break", "hold_until": "2026-11-23T18:42:05.000Z",
        ]
        let mine = EventText.line(event(fields), viewer: "bob") { ClockText.timeOfDay($0) }
        #expect(mine == "09:15:02 floor-a  bob  your break slot is held until 18:42:05; run huddle break to take it")
        let theirs = EventText.line(event(fields), viewer: "sam") { ClockText.timeOfDay($0) }
        #expect(theirs == "09:15:02 floor-a  bob  break slot held until 18:42:05")
        #expect(line(fields) == "09:15:02 floor-a  bob  break slot held until 18:42:05")
    }

    @Test func reminders() {
        let params: JSONValue = [
            "status": "break", "since": "2026-11-23T09:00:00.000Z", "due": "2026-11-23T09:15:00.000Z",
            "text": "Your Break is past its time; please update your status.",
        ]
        #expect(
            EventText.reminderLine(params) { ClockText.timeOfDay($0) }
                == "Reminder: your Break is past its time (due 09:15:00)")
        let unknown: JSONValue = ["status": "nap", "text": "Your nap\u{1B}[2J is over"]
        #expect(EventText.reminderLine(unknown) { ClockText.timeOfDay($0) } == "Reminder: Your nap\u{FFFD}[2J is over")
    }

    @Test func queueAndAlert() {
        #expect(
            line([
                "type": "queue", "by": "pbx-bot", "calls_waiting": 12, "oldest_wait_s": 95,
                "nodes_out": [["node": "pbx-2", "city": "Lyon"]], "note": "",
            ]) == "09:15:02 floor-a  pbx-bot  queue: 12 waiting, oldest 1m, nodes out: pbx-2 (Lyon)")
        #expect(
            line([
                "stream": "supervisors", "type": "alert", "alert": 42, "kind": "overdue_status", "severity": "warning",
                "user": "alice", "text": "Break is 3m over",
            ]) == "09:15:02 floor-a  ALERT  overdue_status alice: Break is 3m over (warning, #42)")
        // As the transcript sends it (Protocol/examples/05-coverage.jsonl).
        #expect(
            line([
                "stream": "supervisors", "type": "alert", "alert": 1, "kind": "wellbeing_break", "severity": "critical",
                "user": "carol", "reason": "abusive_call", "created_at": "2026-11-23T09:15:02.120Z",
                "text": "carol ended an abusive call and is taking a recovery break",
            ])
                == "09:15:02 floor-a  ALERT  wellbeing_break carol: carol ended an abusive call and is taking a recovery break (critical, #1)")
        #expect(
            line([
                "stream": "supervisors", "type": "alert", "alert": 3, "kind": "escalation", "severity": "critical",
                "text": "nobody acknowledged", "escalates": 1,
            ]) == "09:15:02 floor-a  ALERT  escalation: nobody acknowledged (critical, #3, escalates #1)")
        #expect(
            line(["stream": "supervisors", "type": "alert_ack", "alert": 1, "by": "sam", "note": "Coming over, Carol"])
                == "09:15:02 floor-a  sam  acknowledged alert #1: Coming over, Carol")
    }

    /// A newer server's status or alert kind reads as sent; an unknown type by its name.
    @Test func aNewerServersEventsReadAsSent() {
        #expect(
            EventText.line(event(["type": "status", "user": "bob", "status": "on_call", "note": "", "by": "bob"], readable: false)) {
                ClockText.timeOfDay($0)
            } == "09:15:02 floor-a  bob  on_call")
        #expect(
            EventText.line(
                event(
                    [
                        "stream": "supervisors", "type": "alert", "alert": 5, "kind": "long_hold", "severity": "warning",
                        "user": "bob", "text": "on hold for 4m",
                    ], readable: false)
            ) { ClockText.timeOfDay($0) } == "09:15:02 floor-a  ALERT  long_hold bob: on hold for 4m (warning, #5)")
        #expect(
            EventText.line(event(["type": "call", "user": "bob", "state": "hold"], readable: false)) {
                ClockText.timeOfDay($0)
            } == "09:15:02 floor-a  bob  call")
    }

    @Test func decodesCommonFields() throws {
        let e = event(["type": "message", "user": "bob", "text": "hi"])
        #expect(e.team == "floor-a")
        #expect(e.stream == .team)
        #expect(e.seq == 7)
        #expect(e.at == Timestamp(rfc3339: "2026-11-23T09:15:02.120Z"))
        #expect(EventNotification(params: ["team": "a", "seq": 1, "type": "x"]) == nil)
    }

    @Test func notificationKinds() {
        #expect(ServerNotification(method: "heartbeat", params: [:]) == .heartbeat)
        #expect(ServerNotification(method: "session.closing", params: ["reason": "shutdown"]) == .closing(reason: "shutdown"))
        #expect(ServerNotification(method: "event", params: ["nonsense": true]) == .other(method: "event", params: ["nonsense": true]))
    }
}

@Suite struct JSONTextTests {
    @Test func escapesWhatATerminalWouldActOn() throws {
        let value: JSONValue = ["note": "hi \u{202E}there \u{9B}31m \u{1B}[2J", "n": 1]
        let text = JSONText.line(value)
        #expect(text == #"{"n":1,"note":"hi \u202ethere \u009b31m \u001b[2J"}"#)
        #expect(try JSONParser.parse(text) == value)
    }
}

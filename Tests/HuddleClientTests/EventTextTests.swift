import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct EventTextTests {
    func event(_ fields: [String: JSONValue]) -> EventNotification {
        var params: [String: JSONValue] = [
            "team": "floor-a", "stream": "team", "seq": 7, "at": "2026-11-23T09:15:02.120Z",
        ]
        params.merge(fields) { _, new in new }
        return EventNotification(params: .object(params))!
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
                == "09:15:02 floor-a  coverage  1 available, 2 required; 2 on break (max 2): BREACH")
        #expect(
            line(["type": "waitlist", "users": [["user": "bob", "status": "lunch", "since": "2026-11-23T09:00:00.000Z"]]])
                == "09:15:02 floor-a  waitlist  bob (Lunch)")
        #expect(line(["type": "waitlist", "users": []]) == "09:15:02 floor-a  waitlist  empty")
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
            ]) == "09:15:02 floor-a  ALERT  [warning] overdue_status #42 alice: Break is 3m over")
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

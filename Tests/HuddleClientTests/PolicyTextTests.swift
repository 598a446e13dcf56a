import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct PolicyAssignmentTests {
    @Test func dottedKeysBecomeNestedObjects() throws {
        let patch = try PolicyAssignments.parse([
            "max_on_break=1", "limits.break=600", "limits.lunch=2700", "wellbeing.escalate_after_s=120",
        ])
        #expect(
            JSONValue.object(patch)
                == ["max_on_break": 1, "limits": ["break": 600, "lunch": 2700], "wellbeing": ["escalate_after_s": 120]])
    }

    @Test func everyKindOfValue() throws {
        let patch = try PolicyAssignments.parse([
            "min_available=auto", "queue_report_every_s=null", "service_level.target=0.9", "a=true", "b=false",
            "c=-3", "d=0",
        ])
        #expect(patch["min_available"] == .string("auto"))
        #expect(patch["queue_report_every_s"] == .null)
        #expect(patch["service_level"] == ["target": .double(0.9)])
        #expect(patch["a"] == .bool(true))
        #expect(patch["b"] == .bool(false))
        #expect(patch["c"] == .int(-3))
        #expect(patch["d"] == .int(0))
        // It goes on the wire as JSON numbers, null and the string "auto".
        #expect(
            JSONText.line(.object(try PolicyAssignments.parse(["service_level.target=0.9", "min_available=auto"])))
                == #"{"min_available":"auto","service_level":{"target":0.9}}"#)
    }

    @Test func valuesThatAreNotValues() {
        for text in ["", "ten", "1e5", "0x10", "+5", "1.", ".5", "1.2.3", "nan", "inf", "Auto", "NULL", "9223372036854775808", "- 1", "15m"] {
            #expect(PolicyAssignments.value(text) == nil, "\(text)")
        }
        #expect(PolicyAssignments.value("9223372036854775807") == .int(Int64.max))
        #expect(PolicyAssignments.value("-0.25") == .double(-0.25))
    }

    func failure(_ words: [String]) -> String? {
        do {
            _ = try PolicyAssignments.parse(words)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func mistakesAreExplained() {
        #expect(failure([]) == "nothing to change: give KEY=VALUE, e.g. max_on_break=1")
        #expect(failure(["max_on_break"]) == "'max_on_break' is not KEY=VALUE (e.g. limits.break=600)")
        #expect(failure(["=1"]) == "a key is missing before '='")
        #expect(failure(["limits..break=1"]) == "'limits..break' has an empty part between dots")
        #expect(failure([".limits=1"]) == "'.limits' has an empty part between dots")
        #expect(failure(["limits.=1"]) == "'limits.' has an empty part between dots")
        #expect(
            failure(["limits.after-call-work=1"])
                == "'limits.after-call-work' is not a policy key: use letters, digits and _ separated by dots (e.g. limits.break)")
        #expect(
            failure(["max_on_break=lots"])
                == "max_on_break: 'lots' is not a value; use a whole number, a decimal (0.9), auto, null, true or false")
        #expect(
            failure(["max_on_break="])
                == "max_on_break: '' is not a value; use a whole number, a decimal (0.9), auto, null, true or false")
        #expect(failure(["max_on_break=1", "max_on_break=2"]) == "max_on_break is given more than once")
        #expect(failure(["limits=5", "limits.break=600"]) == "limits is given a value and also has limits.break set inside it")
        #expect(failure(["limits.break=600", "limits=5"]) == "limits is given a value and also has keys set inside it")
        #expect(
            failure(["limits.break=600", "limits.break.extra=1"])
                == "limits.break is given a value and also has limits.break.extra set inside it")
    }

    @Test func escapeSequencesInMistakesAreDefused() throws {
        let message = try #require(failure(["x=\u{1B}[2J"]))
        #expect(!message.unicodeScalars.contains { TextRules.isForbidden($0) })
    }

    @Test func anEqualsSignInTheValueIsPartOfTheValue() {
        #expect(
            failure(["a=b=c"]) == "a: 'b=c' is not a value; use a whole number, a decimal (0.9), auto, null, true or false")
    }
}

@Suite struct PolicyTextTests {
    static let v1: JSONValue = [
        "ghost_after_s": 120,
        "limits": ["admin": 1800, "after_call_work": 120, "break": 900, "lunch": 3600, "meeting": 3600, "training": 7200],
        "max_on_break": 2, "min_available": 2, "overdue_grace_s": 120, "presence_grace_s": 10,
        "queue_pressure": ["calls_waiting": 10, "oldest_wait_s": 300], "queue_report_every_s": nil,
        "service_level": ["target": 0.8, "within_s": 20], "shrinkage_floor": 1, "version": 1,
        "wellbeing": ["escalate_after_s": 300],
    ]

    static func changed(_ edits: [String: JSONValue], version: Int64) -> JSONValue {
        var policy = v1.objectValue ?? [:]
        for (key, value) in edits {
            let parts = key.split(separator: ".").map(String.init)
            if parts.count == 2, var inner = policy[parts[0]]?.objectValue {
                inner[parts[1]] = value
                policy[parts[0]] = .object(inner)
            } else {
                policy[key] = value
            }
        }
        policy["version"] = .int(version)
        return .object(policy)
    }

    @Test func oneKeyPerLine() {
        let lines = PolicyText.lines(Self.v1)
        #expect(lines.count == 18)
        #expect(lines.first == "ghost_after_s                 120   (2m)")
        #expect(lines.contains("limits.lunch                  3600  (1h00m)"))
        #expect(lines.contains("max_on_break                  2"))
        #expect(lines.contains("queue_report_every_s          null"))
        #expect(lines.contains("service_level.target          0.8"))
        #expect(lines.contains("presence_grace_s              10"))
        #expect(!lines.contains { $0.hasPrefix("version") })
        #expect(PolicyText.flatten(["min_available": "auto"]).map(\.key) == ["min_available"])
        #expect(PolicyText.render(.string("auto")) == "auto")
    }

    @Test func whatChangedBetweenVersions() {
        let v2 = Self.changed(
            ["max_on_break": 1, "min_available": "auto", "limits.break": 600, "queue_report_every_s": 60,
             "service_level.target": 0.9], version: 2)
        #expect(
            PolicyText.changes(from: Self.v1, to: v2) == [
                "limits.break: 900 → 600",
                "max_on_break: 2 → 1",
                "min_available: 2 → auto",
                "queue_report_every_s: null → 60",
                "service_level.target: 0.8 → 0.9",
            ])
        #expect(PolicyText.changes(from: Self.v1, to: Self.changed([:], version: 7)).isEmpty)
        // A key only one side has (a newer server's).
        #expect(PolicyText.changes(from: ["a": 1], to: ["a": 1, "b": ["c": true]]) == ["b.c: (none) → true"])
        #expect(PolicyText.changes(from: ["a": 1], to: ["a": 1.0]).isEmpty)
    }

    @Test func history() {
        let at = Timestamp(rfc3339: "2026-11-23T09:00:00Z")
        let later = Timestamp(rfc3339: "2026-11-23T09:15:00Z")
        let versions = [
            PolicyVersion(
                version: 2, at: later, by: "sam", comment: "Two agents out sick today",
                policy: Self.changed(["max_on_break": 1, "wellbeing.escalate_after_s": 120], version: 2)),
            PolicyVersion(version: 1, at: at, by: "system", comment: "default policy", policy: Self.v1),
            PolicyVersion(
                version: 3, at: later, by: "e\u{1B}[31mve", comment: "same again",
                policy: Self.changed(["max_on_break": 1, "wellbeing.escalate_after_s": 120], version: 3)),
        ]
        let text = PolicyHistoryText.render(versions) { ClockText.dateTime($0) }
        #expect(
            text == """
                v1  2026-11-23 09:00  system  "default policy"
                v2  2026-11-23 09:15  sam  "Two agents out sick today"
                    max_on_break: 2 → 1
                    wellbeing.escalate_after_s: 300 → 120
                v3  2026-11-23 09:15  e\u{FFFD}[31mve  "same again"
                    (no value changed)
                """)
        #expect(PolicyHistoryText.render([]) { ClockText.dateTime($0) } == "No policy versions.")
    }

    @Test func readsTheHistoryAnswer() throws {
        let answer: JSONValue = [
            "versions": [
                ["version": 2, "at": "2026-11-23T09:15:00.000Z", "by": "sam", "comment": "c", "policy": ["max_on_break": 1]],
                ["version": 1, "at": "2026-11-23T09:00:00.000Z", "by": "system", "comment": "default policy", "policy": ["max_on_break": 2]],
                ["version": 3, "policy": "not an object"],
            ]
        ]
        let history = try PolicyHistory(json: answer)
        #expect(history.versions.map(\.version) == [1, 2])
        #expect(history.versions[1].by == "sam")
        #expect(history.versions[1].at == Timestamp(rfc3339: "2026-11-23T09:15:00Z"))
        #expect(throws: UnexpectedAnswer.self) { try PolicyHistory(json: ["nope": 1]) }
    }
}

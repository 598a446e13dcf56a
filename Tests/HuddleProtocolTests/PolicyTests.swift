import Testing

@testable import HuddleProtocol

@Suite struct PolicyTests {
    @Test func defaultsHaveTheSpecShape() throws {
        let json = Policy().json
        #expect(json["min_available"] == 2)
        #expect(json["max_on_break"] == 2)
        #expect(json["limits"]?["break"] == 900)
        #expect(json["limits"]?["after_call_work"] == 120)
        #expect(json["limits"]?.objectValue?.count == 6)
        #expect(json["queue_pressure"] == ["calls_waiting": 10, "oldest_wait_s": 300])
        #expect(json["wellbeing"] == ["escalate_after_s": 300])
        #expect(json["queue_report_every_s"] == .null)
        #expect(json["queue_report_by"] == "bots")
        #expect(json["queue_report_grace_s"] == 300)
        #expect(json["service_level"] == ["target": 0.8, "within_s": 20])
        #expect(json["presence_grace_s"] == 10)
        #expect(
            json["calls"]
                == [
                    "acw_after_call": true, "hold_checkin_s": 150, "hold_alert_after_s": 600, "mute_remind_after_s": 30,
                    "phone_logout_grace_s": 300,
                ])
        #expect(json.objectValue?.count == 16)
        #expect(try Policy.decode(json) == Policy())
    }

    @Test func theRotaKeysMergeAndRefuseWhatTheyCannotTake() throws {
        let merged = try Policy().merging(["queue_report_by": "agents", "queue_report_grace_s": 120, "queue_report_every_s": 1800])
        #expect(merged.queueReportBy == .agents && merged.queueReportGraceS == 120 && merged.queueReportEveryS == 1800)
        for (patch, param) in [
            (["queue_report_by": "humans"] as [String: JSONValue], "policy.queue_report_by"),
            (["queue_report_by": 1], "policy.queue_report_by"),
            (["queue_report_grace_s": 0], "policy.queue_report_grace_s"),
        ] {
            #expect(throws: RPCError.self) { try Policy().merging(patch) }
            do {
                _ = try Policy().merging(patch)
            } catch {
                #expect(error.code == .invalidParams && error.data?["param"]?.stringValue == param)
            }
        }
        // A policy stored before these keys existed reads with their defaults.
        var stored = Policy().json.objectValue ?? [:]
        stored["queue_report_by"] = nil
        stored["queue_report_grace_s"] = nil
        #expect(try Policy.decode(.object(stored)) == Policy())
    }

    @Test func theCallKeysMergeAndAStoredPolicyFromBeforeThemTakesTheirDefaults() throws {
        let merged = try Policy().merging(["calls": ["hold_checkin_s": 120, "acw_after_call": false]])
        #expect(merged.calls.holdCheckinS == 120 && !merged.calls.acwAfterCall && merged.calls.holdAlertAfterS == 600)
        for (patch, param) in [
            (["calls": ["hold_checkin_s": 0]] as [String: JSONValue], "policy.calls.hold_checkin_s"),
            (["calls": ["acw_after_call": 1]], "policy.calls.acw_after_call"),
            (["calls": ["hugs": 1]], "policy.calls.hugs"),
            (["calls": 5], "policy.calls"),
        ] {
            do {
                _ = try Policy().merging(patch)
                Issue.record("accepted \(patch)")
            } catch {
                #expect(error.data?["param"]?.stringValue == param)
            }
        }
        var old = Policy().json.objectValue ?? [:]
        old["calls"] = nil
        #expect(try Policy.decode(.object(old)).calls == Policy.Calls())
    }

    @Test func mergesNestedKeysOneByOne() throws {
        let merged = try Policy().merging(["limits": ["break": 600], "queue_pressure": ["calls_waiting": 5], "min_available": "auto"])
        #expect(merged.limits[.onBreak] == 600)
        #expect(merged.limits[.lunch] == 3600)
        #expect(merged.queuePressureCallsWaiting == 5)
        #expect(merged.queuePressureOldestWaitS == 300)
        #expect(merged.minAvailable == .auto)
    }

    static let badPatches: [(patch: String, path: String)] = [
        (#"{"wellbeing":{"hugs":1}}"#, "policy.wellbeing.hugs"),
        (#"{"limits":{"available":5}}"#, "policy.limits.available"),
        (#"{"limits":{"break":0}}"#, "policy.limits.break"),
        (#"{"overdue_grace_s":1.5}"#, "policy.overdue_grace_s"),
        (#"{"max_on_break":"two"}"#, "policy.max_on_break"),
        (#"{"version":9}"#, "policy.version"),
        (#"{"colour":"red"}"#, "policy.colour"),
        (#"{"service_level":{"target":1.5}}"#, "policy.service_level.target"),
        (#"{"queue_pressure":3}"#, "policy.queue_pressure"),
        (#"{"presence_grace_s":true}"#, "policy.presence_grace_s"),
    ]

    @Test(arguments: badPatches)
    func refusesWithTheDottedPath(_ patch: String, _ path: String) throws {
        let object = try JSONParser.parse(patch).objectValue ?? [:]
        do {
            _ = try Policy().merging(object)
            Issue.record("accepted \(patch)")
        } catch {
            #expect(error.code == .invalidParams)
            #expect(error.data?["param"] == .string(path))
        }
    }
}

import HuddleProtocol
import Testing

@testable import HuddleCore

/// The phone rules of SPEC §10, decided by the core with a manual clock.
@Suite struct CallTests {
    let clock = ManualWallClock()

    /// Four agents available and connected in team `t` (minimum 1), a supervisor, and a bridge.
    func floor(agents: Int = 4) -> Floor {
        var floor = CoverageRulesTests.floor(agents: agents, minAvailable: 1, maxOnBreak: 1)
        for name in floor.users.keys { floor.users[name]?.status.since = clock.now() }
        floor.users["bridge"] = UserState(name: "bridge", role: .bot, teams: ["t"], status: .initial(at: clock.now()))
        floor.teams["t"]?.members.insert("bridge")
        floor.live = CoverageRulesTests.live(agents)
        _ = floor.settle(["t"], now: clock.now())  // the figures as the team has seen them
        return floor
    }

    func update(_ user: String, _ state: String? = nil, id: String = "c1", muted: Bool = false, loggedIn: Bool? = nil)
        -> PhoneUpdate
    {
        let call: PhoneUpdate.Call =
            switch state {
            case nil: .unchanged
            case "ended": .ended(id: id)
            case let name?: .live(id: id, state: CallState(rawValue: name) ?? .ringing, muted: muted)
            }
        return PhoneUpdate(user: user, loggedIn: loggedIn, call: call)
    }

    func phone(_ floor: inout Floor, _ update: PhoneUpdate) throws -> [Event] {
        var events = try floor.updatePhone(by: "bridge", update, now: clock.now())
        events += floor.settle(events.map(\.team), now: clock.now())
        return events
    }

    @Test func aCallFromRingingToTheEndPutsTheAgentInAfterCallWork() throws {
        var floor = floor()
        let ringing = try phone(&floor, update("a1", "ringing"))
        #expect(ringing.map(\.payload.type) == ["call", "coverage"])
        #expect(ringing[0].params["state"] == "ringing")
        #expect(ringing[0].params["call"] == nil && ringing[0].params["id"] == nil, "the call id never reaches the wire")
        #expect(floor.coverage(of: "t")?.onCall == 1)
        clock.advance(seconds: 5)
        let talking = try phone(&floor, update("a1", "talking"))
        #expect(talking.map(\.payload.type) == ["call"])
        #expect(floor.users["a1"]?.phone.call?.since == clock.now())
        clock.advance(seconds: 200)
        let ended = try phone(&floor, update("a1", "ended"))
        #expect(ended.map(\.payload.type) == ["call", "status", "coverage"])
        #expect(ended[0].params["state"] == "none")
        #expect(ended[1].params["status"] == "after_call_work" && ended[1].params["by"] == "system")
        #expect(floor.users["a1"]?.phone.call == nil)
        #expect(floor.coverage(of: "t")?.onCall == 0)
        // After Call Work runs out at its limit, as for one the agent chose.
        let limit = floor.teams["t"]?.policy.limit(for: .afterCallWork) ?? 0
        clock.advance(seconds: limit)
        var reminded: [String: Timestamp] = [:]
        let back = floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).events
        #expect(back.first?.params["status"] == "available")
    }

    @Test func noAutomaticAfterCallWorkWhenThePolicySaysNoOrTheAgentIsNotAvailable() throws {
        var floor = floor()
        floor.teams["t"]?.policy.calls.acwAfterCall = false
        _ = try phone(&floor, update("a1", "talking"))
        #expect(try phone(&floor, update("a1", "ended")).map(\.payload.type) == ["call", "coverage"])
        #expect(floor.users["a1"]?.status.status == .available)

        floor.teams["t"]?.policy.calls.acwAfterCall = true
        _ = try floor.setOwnStatus(user: "a2", StatusRequest(status: .admin), now: clock.now())
        _ = try phone(&floor, update("a2", "talking", id: "c2"))
        #expect(try phone(&floor, update("a2", "ended", id: "c2")).map(\.payload.type) == ["call"])
        #expect(floor.users["a2"]?.status.status == .admin)
    }

    @Test func aWellbeingBreakDuringTheCallWinsOverAfterCallWork() throws {
        var floor = floor()
        _ = try phone(&floor, update("a1", "talking"))
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak, reason: .abusiveCall), now: clock.now())
        let ended = try phone(&floor, update("a1", "ended"))
        #expect(!ended.contains { $0.payload.type == "status" })
        #expect(floor.users["a1"]?.status.status == .onBreak && floor.users["a1"]?.status.reason == .abusiveCall)

        // Right after the call: the automatic After Call Work gives way to the break at once,
        // whatever the coverage (a2 to a4 are all away).
        for name in ["a2", "a3", "a4"] {
            _ = try floor.setOwnStatus(user: name, StatusRequest(status: .offline), now: clock.now())
        }
        floor.users["a1"]?.status = StatusRecord(status: .available, note: "", since: clock.now(), expectedUntil: nil, by: "a1")
        _ = try phone(&floor, update("a1", "talking", id: "c2"))
        _ = try phone(&floor, update("a1", "ended", id: "c2"))
        #expect(floor.users["a1"]?.status.status == .afterCallWork)
        let (decision, _) = try floor.setOwnStatus(
            user: "a1", StatusRequest(status: .onBreak, reason: .abusiveCall), now: clock.now())
        #expect(decision == .granted)
        #expect(floor.users["a1"]?.status.reason == .abusiveCall)
    }

    @Test func repeatsLateUpdatesAndUnknownEndsChangeNothing() throws {
        var floor = floor()
        #expect(try phone(&floor, update("a1", "ended", id: "nobody-knows")).isEmpty, "an end for an unknown call")
        _ = try phone(&floor, update("a1", "talking"))
        #expect(try phone(&floor, update("a1", "talking")).isEmpty, "the same state again")
        #expect(try phone(&floor, update("a1", "ended", id: "other")).isEmpty, "an end for another call")
        #expect(try phone(&floor, update("a1")).isEmpty, "nothing said of the call")
        _ = try phone(&floor, update("a1", "ended"))
        #expect(try phone(&floor, update("a1", "on_hold")).isEmpty, "an update for a call that ended")
        #expect(floor.users["a1"]?.phone.call == nil)
        #expect(try phone(&floor, PhoneUpdate(user: "a1", call: .endedAny)).isEmpty, "call: null with no call")
    }

    @Test func updatesWithoutAnIdAreForTheCallInProgressOrStartOne() throws {
        var floor = floor()
        _ = try phone(&floor, PhoneUpdate(user: "a1", call: .live(id: nil, state: .talking, muted: false)))
        let first = try #require(floor.users["a1"]?.phone.call)
        clock.advance(seconds: 10)
        _ = try phone(&floor, PhoneUpdate(user: "a1", call: .live(id: nil, state: .onHold, muted: false)))
        #expect(floor.users["a1"]?.phone.call?.id == first.id, "the same call, now on hold")
        _ = try phone(&floor, PhoneUpdate(user: "a1", call: .endedAny))
        clock.advance(seconds: 10)
        _ = try phone(&floor, PhoneUpdate(user: "a1", call: .live(id: nil, state: .talking, muted: false)))
        #expect(floor.users["a1"]?.phone.call?.id != first.id, "a new call")
    }

    @Test func aSecondCallIdReplacesTheFirstWithoutAfterCallWork() throws {
        var floor = floor()
        _ = try phone(&floor, update("a1", "talking", id: "c1"))
        let second = try phone(&floor, update("a1", "talking", id: "c2"))
        #expect(second.map(\.payload.type) == ["call"])
        #expect(floor.users["a1"]?.phone.call?.id == "c2")
        #expect(floor.users["a1"]?.status.status == .available)
        #expect(try phone(&floor, update("a1", "talking", id: "c1")).isEmpty, "the replaced call is over")
    }

    @Test func holdsAreCheckedInOnAndAlertedAndTheAlertClosesWithTheHold() throws {
        var floor = floor()
        var reminded = CallReminders()
        _ = try phone(&floor, update("a1", "talking"))
        _ = try phone(&floor, update("a1", "on_hold"))
        let holdStart = clock.now()
        clock.advance(seconds: 149)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).reminders.isEmpty)
        clock.advance(seconds: 1)
        var run = floor.runCallTimers(reminded: &reminded, now: clock.now())
        #expect(run.reminders.map(\.about) == [.hold])
        #expect(run.reminders.first?.since == holdStart)
        #expect(run.reminders.first?.json["about"] == "hold" && run.reminders.first?.json["status"] == nil)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).reminders.isEmpty, "once per check-in")
        clock.advance(seconds: 150)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).reminders.count == 1, "every 150 s")
        clock.advance(seconds: 300)
        run = floor.runCallTimers(reminded: &reminded, now: clock.now())
        #expect(run.events.map(\.payload.type) == ["alert"])
        #expect(run.events.first?.params["kind"] == "long_hold")
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).events.isEmpty, "one alert per hold")
        // The supervisor acknowledges it; the same hold does not raise it again.
        let id = try #require(run.events.first?.params["alert"]?.intValue)
        _ = try floor.acknowledgeAlert(id, by: "sup", note: "", now: clock.now())
        clock.advance(seconds: 60)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).events.isEmpty)

        // A second hold alerts again, and taking the customer back closes it by itself.
        _ = try phone(&floor, update("a1", "talking"))
        _ = try phone(&floor, update("a1", "on_hold"))
        clock.advance(seconds: 600)
        run = floor.runCallTimers(reminded: &reminded, now: clock.now())
        #expect(run.events.first?.params["kind"] == "long_hold")
        let back = try phone(&floor, update("a1", "talking"))
        #expect(back.map(\.payload.type) == ["call", "alert_ack"])
        #expect(back[1].params["by"] == "system")
        #expect(floor.teams["t"]?.openAlerts.isEmpty == true)
    }

    @Test func aHoldThatBeganBeforeARestartIsCheckedInFromItsStart() throws {
        var floor = floor()
        _ = try phone(&floor, update("a1", "on_hold"))
        let start = clock.now()
        // A restart: the floor is what was stored, the reminders' memory is empty.
        clock.advance(seconds: 320)
        var reminded = CallReminders()
        let run = floor.runCallTimers(reminded: &reminded, now: clock.now())
        #expect(run.reminders.map(\.due) == [start.adding(seconds: 300)], "the check-in that was due, once")
    }

    @Test func muteIsRemindedOncePerMute() throws {
        var floor = floor()
        var reminded = CallReminders()
        _ = try phone(&floor, update("a1", "talking", muted: true))
        clock.advance(seconds: 29)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).reminders.isEmpty)
        clock.advance(seconds: 1)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).reminders.map(\.about) == [.mute])
        clock.advance(seconds: 60)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).reminders.isEmpty)
        _ = try phone(&floor, update("a1", "talking", muted: false))
        _ = try phone(&floor, update("a1", "talking", muted: true))
        clock.advance(seconds: 30)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).reminders.map(\.about) == [.mute])
    }

    @Test func anAgentOfflineWithThePhoneLoggedInIsRemindedAndSupervisorsAlerted() throws {
        var floor = floor()
        var reminded = CallReminders()
        let login = try phone(&floor, update("a1", loggedIn: true))
        #expect(login.map(\.payload.type) == ["phone"])
        #expect(login.first?.stream == .supervisors)
        #expect(try phone(&floor, update("a1", loggedIn: true)).isEmpty)
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .offline), now: clock.now())
        _ = floor.settle(["t"], now: clock.now())
        clock.advance(seconds: 299)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).events.isEmpty)
        clock.advance(seconds: 1)
        let run = floor.runCallTimers(reminded: &reminded, now: clock.now())
        #expect(run.events.first?.params["kind"] == "phone_still_logged_in")
        #expect(run.reminders.map(\.about) == [.phoneLogout])
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).events.isEmpty)
        // Logging out of the phone closes it.
        let logout = try phone(&floor, update("a1", loggedIn: false))
        #expect(logout.map(\.payload.type) == ["phone", "alert_ack"])

        // So does coming back: at the next tick.
        _ = try phone(&floor, update("a1", loggedIn: true))
        clock.advance(seconds: 300)
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).events.first?.params["kind"] == "phone_still_logged_in")
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .available), now: clock.now())
        #expect(floor.runCallTimers(reminded: &reminded, now: clock.now()).events.map(\.payload.type) == ["alert_ack"])
    }

    @Test func aLogoutEndsTheCall() throws {
        var floor = floor()
        _ = try phone(&floor, update("a1", "talking", loggedIn: true))
        let events = try phone(&floor, update("a1", loggedIn: false))
        #expect(events.map(\.payload.type).prefix(2) == ["phone", "call"])
        #expect(floor.users["a1"]?.phone.call == nil)
    }

    @Test func onlyABridgeOfTheAgentsTeamsMayUpdateThem() throws {
        var floor = floor()
        floor.users["elsewhere"] = UserState(name: "elsewhere", role: .bot, teams: ["u"], status: .initial(at: clock.now()))
        floor.teams["u"] = TeamState(name: "u", epoch: "e2", members: ["elsewhere"])
        #expect(throws: RPCError.self) { try floor.updatePhone(by: "elsewhere", update("a1", "talking"), now: clock.now()) }
        #expect(throws: RPCError.self) { try floor.updatePhone(by: "a2", update("a1", "talking"), now: clock.now()) }
        do {
            _ = try floor.updatePhone(by: "bridge", update("nobody", "talking"), now: clock.now())
            Issue.record("an unknown user was accepted")
        } catch {
            #expect(error.code == .forbidden, "one answer for names that do not exist and agents elsewhere")
        }
        #expect(throws: RPCError.self) { try floor.updatePhone(by: "bridge", update("sup", "talking"), now: clock.now()) }
        // A supervisor may, for tests.
        #expect(try floor.updatePhone(by: "sup", update("a1", "talking"), now: clock.now()).count == 1)
    }

    @Test(arguments: [
        (#"{"user":"a1","call":{"id":"c1","state":"dialing"}}"#, "call.state"),
        (#"{"user":"a1","call":{"id":7,"state":"talking"}}"#, "call.id"),
        (#"{"user":"a1","call":{"id":"","state":"talking"}}"#, "call.id"),
        (#"{"user":"a1","call":{"id":"c\u0007","state":"talking"}}"#, "call.id"),
        (#"{"user":"a1","call":{"id":"c1","state":"talking","muted":"yes"}}"#, "call.muted"),
        (#"{"user":"a1","call":"talking"}"#, "call"),
        (#"{"user":"a1","logged_in":"yes"}"#, "logged_in"),
        (#"{"call":null}"#, "user"),
    ])
    func badParamsNameTheParam(_ text: String, _ param: String) throws {
        let params = Params(try #require(try JSONParser.parse(text).objectValue))
        do {
            _ = try PhoneUpdate(params: params)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.code == .invalidParams)
            #expect(error.data?["param"]?.stringValue == param)
        }
    }

    @Test func coverageCountsAvailableAgentsOnCallsAndFollowsConnections() throws {
        var floor = floor()
        _ = try phone(&floor, update("a1", "ringing"))
        _ = try phone(&floor, update("a2", "on_hold", id: "c2"))
        #expect(floor.coverage(of: "t")?.onCall == 2)
        floor.setLive("a2", false)
        #expect(floor.coverage(of: "t")?.onCall == 1)
        floor.setLive("a2", true)
        #expect(floor.coverage(of: "t")?.onCall == 2)
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .afterCallWork), now: clock.now())
        #expect(floor.coverage(of: "t")?.onCall == 1)
        // The index agrees with a count from scratch.
        #expect(floor.coverage(of: "t") == { var fresh = floor; fresh.users = floor.users; return fresh.coverage(of: "t") }())
        #expect(floor.coverage(of: "t")?.json["on_call"] == 1)
    }

    @Test func thePhoneStateSurvivesItsStoredForm() throws {
        let state = PhoneState(
            call: CallRecord(id: "c-9", state: .onHold, since: clock.now(), muted: true, mutedSince: clock.now()),
            endedCall: "c-8", loggedIn: true, loggedInSince: clock.now(), holdAlertedSince: clock.now())
        #expect(PhoneState(json: try JSONParser.parse(JSONWriter.encode(state.json))) == state)
        #expect(PhoneState(json: ["call": ["id": "x", "state": "none", "since": 1, "muted": false]]) == nil)
    }
}

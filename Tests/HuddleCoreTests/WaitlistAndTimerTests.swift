import HuddleProtocol
import Testing

@testable import HuddleCore

@Suite struct WaitlistAndTimerTests {
    let clock = ManualWallClock()

    func floor(agents: Int, minAvailable: Int64 = 1, maxOnBreak: Int64 = 1) -> Floor {
        var floor = CoverageRulesTests.floor(agents: agents, minAvailable: minAvailable, maxOnBreak: maxOnBreak)
        for name in floor.users.keys { floor.users[name]?.status.since = clock.now() }
        return floor
    }

    func live(_ n: Int) -> Set<String> { CoverageRulesTests.live(n) }

    @Test func queuedRequestsAreServedFirstComeFirstServedWithAHeldSlot() throws {
        var floor = floor(agents: 4)
        let live = live(4)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak), now: clock.now())
        let (d2, _) = try floor.setOwnStatus(user: "a2", StatusRequest(status: .onBreak, queue: true), now: clock.now())
        let (d3, _) = try floor.setOwnStatus(user: "a3", StatusRequest(status: .lunch, queue: true), now: clock.now())
        #expect(d2 == .waitlisted(position: 1))
        #expect(d3 == .waitlisted(position: 2))
        // Asking again keeps the place.
        let (again, _) = try floor.setOwnStatus(user: "a2", StatusRequest(status: .onBreak, note: "tea", queue: true), now: clock.now())
        #expect(again == .waitlisted(position: 1))
        // Nothing moves while a1 is out.
        #expect(floor.settle(["t"], now: clock.now()).filter { $0.payload.type == "waitlist_ready" }.isEmpty)

        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .available), now: clock.now())
        let ready = floor.settle(["t"], now: clock.now()).filter { $0.payload.type == "waitlist_ready" }
        #expect(ready.map { $0.params["user"] } == ["a2"])  // only the head: a3 would exceed max_on_break
        // The held slot is taken: a3 cannot jump in, a4 cannot either.
        #expect(floor.check("a4", to: .onBreak, now: clock.now())?.rule == .maxOnBreak)
        // a2 takes it.
        let (taken, events) = try floor.setOwnStatus(user: "a2", StatusRequest(status: .onBreak), now: clock.now())
        #expect(taken == .granted)
        #expect(events.contains { $0.payload.type == "waitlist" })
        #expect(floor.teams["t"]?.waitlist.map(\.user) == ["a3"])
    }

    @Test func anUnusedHoldExpiresAndTheNextInLineGetsTheSlot() throws {
        var floor = floor(agents: 4)
        let live = live(4)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak), now: clock.now())
        _ = try floor.setOwnStatus(user: "a2", StatusRequest(status: .onBreak, queue: true), now: clock.now())
        _ = try floor.setOwnStatus(user: "a3", StatusRequest(status: .onBreak, queue: true), now: clock.now())
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .available), now: clock.now())
        _ = floor.settle(["t"], now: clock.now())
        clock.advance(seconds: Floor.holdSeconds - 1)
        #expect(floor.settle(["t"], now: clock.now()).isEmpty)
        clock.advance(seconds: 1)
        let events = floor.settle(["t"], now: clock.now())
        #expect(events.map(\.payload.type) == ["waitlist", "waitlist_ready"])
        #expect(events.last?.params["user"] == "a3")
        #expect(floor.teams["t"]?.waitlist.map(\.user) == ["a3"])
    }

    @Test func cancellingLeavesTheQueue() throws {
        var floor = floor(agents: 3)
        let live = live(3)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak), now: clock.now())
        _ = try floor.setOwnStatus(user: "a2", StatusRequest(status: .onBreak, queue: true), now: clock.now())
        #expect(try floor.cancelWaitlist("a2", team: "t", now: clock.now()).count == 1)
        #expect(floor.teams["t"]?.waitlist.isEmpty == true)
        #expect(try floor.cancelWaitlist("a2", team: "t", now: clock.now()).isEmpty)
    }

    @Test func afterCallWorkReturnsToAvailableBySystemOnTime() throws {
        var floor = floor(agents: 3)
        let live = live(3)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .afterCallWork), now: clock.now())
        var reminded: [String: Timestamp] = [:]
        clock.advance(seconds: 119)
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).events.isEmpty)
        clock.advance(seconds: 1)
        let events = floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).events
        #expect(events.first?.params["status"] == "available")
        #expect(events.first?.params["by"] == "system")
        #expect(floor.users["a1"]?.status.status == .available)
    }

    @Test func plannedReturnRemindsThenAlertsOnceAfterTheGrace() throws {
        var floor = floor(agents: 3)
        let live = live(3)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak, expectedSeconds: 300), now: clock.now())
        var reminded: [String: Timestamp] = [:]
        clock.advance(seconds: 300)
        var run = floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now())
        #expect(run.reminders.map(\.user) == ["a1"])
        #expect(run.events.isEmpty)
        clock.advance(seconds: 60)
        run = floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now())
        #expect(run.reminders.isEmpty)  // once per status period
        clock.advance(seconds: 60)  // planned return + overdue_grace_s (120)
        run = floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now())
        #expect(run.events.map { $0.params["kind"] } == ["overdue_status"])
        clock.advance(seconds: 60)
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).events.isEmpty)
    }

    @Test func aGhostIsSetOfflineBySystemWithAnAlert() throws {
        var floor = floor(agents: 3)
        var reminded: [String: Timestamp] = [:]
        let gone = live(3).subtracting(["a1"])
        let since = clock.now()
        clock.advance(seconds: 119)
        floor.live = gone
        #expect(floor.runTimers(absentSince: ["a1": since], reminded: &reminded, now: clock.now()).events.isEmpty)
        clock.advance(seconds: 1)
        let events = floor.runTimers(absentSince: ["a1": since], reminded: &reminded, now: clock.now()).events
        #expect(events.map(\.payload.type) == ["status", "alert"])
        #expect(events[0].params["status"] == "offline" && events[0].params["by"] == "system")
        #expect(events[1].params["kind"] == "ghost_session")
    }

    @Test func anUnacknowledgedWellbeingAlertEscalatesOnceAndAnAckStopsIt() throws {
        var floor = floor(agents: 3)
        let live = live(3)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak, reason: .abusiveCall), now: clock.now())
        var reminded: [String: Timestamp] = [:]
        clock.advance(seconds: 299)
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).events.isEmpty)
        clock.advance(seconds: 1)
        let escalation = floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).events
        #expect(escalation.map { $0.params["kind"] } == ["escalation"])
        #expect(escalation.first?.stream == .supervisors)
        clock.advance(seconds: 60)
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).events.isEmpty)
        // Acknowledging the wellbeing alert answers its escalation too.
        let acks = try floor.acknowledgeAlert(1, by: "sup", note: "here", now: clock.now())
        #expect(acks.count == 2)
        #expect(floor.teams["t"]?.openAlerts.isEmpty == true)

        // A second wellbeing alert acknowledged in time never escalates.
        _ = try floor.setOwnStatus(user: "a2", StatusRequest(status: .onBreak, reason: .abusiveCall), now: clock.now())
        let id = floor.lastAlertID
        _ = try floor.acknowledgeAlert(id, by: "sup", note: "on my way", now: clock.now())
        #expect(throws: RPCError.self) { try floor.acknowledgeAlert(id, by: "sup", note: "", now: clock.now()) }
        #expect(throws: RPCError.self) { try floor.acknowledgeAlert(1, by: "a3", note: "", now: clock.now()) }
        clock.advance(seconds: 600)
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).events.isEmpty)
    }

    @Test func timersComeBackFromStoredTimestampsAfterARestart() throws {
        // A break that started before a restart still ends on time: the timers are derived from
        // the stored `since`, so a floor loaded afresh (a copy here) behaves the same.
        var floor = floor(agents: 3)
        let live = live(3)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .afterCallWork), now: clock.now())
        var restarted = floor
        var reminded: [String: Timestamp] = [:]
        clock.advance(seconds: 120)
        restarted.live = live
        let events = restarted.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).events
        #expect(events.first?.params["status"] == "available")
    }

    @Test func coverageIsAnnouncedOnlyWhenItChanges() throws {
        var floor = floor(agents: 3)
        let live = live(3)
        floor.live = live
        #expect(floor.refreshCoverage(of: "t", now: clock.now()) != nil)
        #expect(floor.refreshCoverage(of: "t", now: clock.now()) == nil)
        let fewer = live.subtracting(["a3"])
        floor.live = fewer
        let announced = floor.refreshCoverage(of: "t", now: clock.now())
        let event = try #require(announced)
        #expect(event.params["available"] == 2)
        #expect(event.params["state"] == "ok")
    }

    @Test func figuresOfATeamWhoseCoverageEventIsUncommittedAreFoldedNotAnnouncedAgain() throws {
        var floor = floor(agents: 3)
        let live = live(3)
        floor.live = live
        #expect(floor.settle(["t"], now: clock.now()).contains { $0.payload.type == "coverage" })
        // a3 drops while the team's coverage event still waits for its commit: no second event,
        // the new figures come back for that event, and they count as announced.
        let fewer = live.subtracting(["a3"])
        floor.live = fewer
        let (events, folded) = floor.settle(["t"], now: clock.now(), folding: ["t": clock.now()])
        #expect(!events.contains { $0.payload.type == "coverage" })
        #expect(folded["t"]?.available == 2)
        #expect(floor.settle(["t"], now: clock.now()).isEmpty)
        // Without the fold, the next change is an event again.
        floor.live = live
        #expect(floor.settle(["t"], now: clock.now()).contains { $0.payload.type == "coverage" })
    }

    @Test func timeInStatusReportCountsSecondsPeriodsAndOverruns() {
        let t = Timestamp(milliseconds: 1_795_420_800_000)  // 2026-11-23T08:00:00Z
        func change(_ minutes: Int64, _ user: String, _ status: Status, since: Int64? = nil, planned: Int64? = nil) -> TimeInStatusReport.Change {
            let at = t.adding(seconds: minutes * 60)
            let start = t.adding(seconds: (since ?? minutes) * 60)
            return TimeInStatusReport.Change(
                at: at,
                event: StatusEvent(
                    user: user, status: status, note: "", since: start,
                    expectedUntil: planned.map { start.adding(seconds: $0 * 60) }, by: user))
        }
        let changes = [
            change(0, "alice", .available),
            change(60, "alice", .onBreak, planned: 15),  // 20 minutes: an overrun of the plan
            change(70, "alice", .onBreak, since: 60),  // a note change: same period
            change(80, "alice", .available),
            change(120, "alice", .lunch),  // 30 minutes, within 60
            change(150, "alice", .available),
        ]
        let rows = TimeInStatusReport.compute(
            changes: changes, limit: { status, _ in status.defaultLimitSeconds }, from: t.adding(seconds: 30 * 60),
            to: t.adding(seconds: 180 * 60), now: t.adding(seconds: 600 * 60))
        let byStatus = Dictionary(uniqueKeysWithValues: rows.map { ($0.status, $0) })
        #expect(byStatus[.onBreak]?.seconds == Int64(1200))
        #expect(byStatus[.onBreak]?.count == 1)
        #expect(byStatus[.onBreak]?.overruns == 1)
        #expect(byStatus[.lunch]?.seconds == Int64(1800))
        #expect(byStatus[.lunch]?.overruns == 0)
        // Available: 30 (clipped from 08:30) + 40 + 30 minutes (clipped at the end of the window).
        #expect(byStatus[.available]?.seconds == Int64(6000))
        #expect(byStatus[.available]?.count == 3)
    }
}

extension WaitlistAndTimerTests {
    @Test func aHeldSlotIsHonouredEvenIfAWellbeingBreakCameMeanwhile() throws {
        var floor = floor(agents: 4)
        let live = live(4)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak), now: clock.now())
        _ = try floor.setOwnStatus(user: "a2", StatusRequest(status: .onBreak, queue: true), now: clock.now())
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .available), now: clock.now())
        _ = floor.settle(["t"], now: clock.now())
        // a3 ends an abusive call: always granted, over max_on_break.
        _ = try floor.setOwnStatus(user: "a3", StatusRequest(status: .onBreak, reason: .abusiveCall), now: clock.now())
        #expect(floor.check("a4", to: .onBreak, now: clock.now())?.held == 1)
        let (decision, _) = try floor.setOwnStatus(user: "a2", StatusRequest(status: .onBreak), now: clock.now())
        #expect(decision == .granted)
    }
}

extension WaitlistAndTimerTests {
    @Test func updatingTheCurrentStatusIsNotSubjectToTheRules() throws {
        var floor = floor(agents: 2)
        let live = live(2)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak), now: clock.now())
        floor.teams["t"]?.queuePressure = true
        let (decision, _) = try floor.setOwnStatus(
            user: "a1", StatusRequest(status: .onBreak, note: "5 more minutes", expectedSeconds: 600), now: clock.now())
        #expect(decision == .granted)
        // A planned return past the limit is a bad param, not a denial, even with queue: true.
        #expect(throws: RPCError.invalidParam("expected_s", "expected_s must be at most the lunch limit (3600 s)")) {
            try floor.setOwnStatus(user: "a2", StatusRequest(status: .lunch, expectedSeconds: 5000, queue: true), now: clock.now())
        }
    }

    @Test func aSecondWellbeingRequestRaisesNoSecondAlert() throws {
        var floor = floor(agents: 2)
        let live = live(2)
        floor.live = live
        let (_, first) = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak, reason: .abusiveCall), now: clock.now())
        let (_, second) = try floor.setOwnStatus(
            user: "a1", StatusRequest(status: .onBreak, note: "still here", reason: .abusiveCall), now: clock.now())
        #expect(first.filter { $0.payload.type == "alert" }.count == 1)
        #expect(second.filter { $0.payload.type == "alert" }.isEmpty)
        // The agent sees their own reason; a teammate does not.
        let own = floor.members(of: "t", viewer: .agent, viewerName: "a1").first { $0["user"] == "a1" }
        #expect(own?["reason"] == "abusive_call")
        let other = floor.members(of: "t", viewer: .agent, viewerName: "a2").first { $0["user"] == "a1" }
        #expect(other?["reason"] == nil)
    }

    @Test func remindersWaitForTheAgentToBeThere() throws {
        var floor = floor(agents: 2)
        let live = live(2)
        floor.live = live
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak, expectedSeconds: 60), now: clock.now())
        var reminded: [String: Timestamp] = [:]
        clock.advance(seconds: 61)
        let away = live.subtracting(["a1"])
        floor.live = away
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).reminders.isEmpty)
        floor.live = live
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).reminders.count == 1)
        // A new planned return is a new due time, reminded again when it passes.
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak, expectedSeconds: 300), now: clock.now())
        clock.advance(seconds: 301)
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: clock.now()).reminders.count == 1)
    }
}

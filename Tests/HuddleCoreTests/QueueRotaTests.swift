import HuddleProtocol
import Testing

@testable import HuddleCore

/// SPEC §14: the queue report asked of agents on a rota, with a manual clock (each step passes
/// `now`; `settle` is what the server runs after every change and at every tick).
@Suite struct QueueRotaTests {
    let t0 = Timestamp(milliseconds: 1_795_425_302_120)

    /// Three agents a1-a3 (all Available and connected), a supervisor and a bot; reports every
    /// 30 minutes from agents, with the default grace of 300 s.
    func floor(agents: Int = 3) -> Floor {
        var floor = CoverageRulesTests.floor(agents: agents, minAvailable: 0, maxOnBreak: 3)
        floor.users["qbot"] = UserState(name: "qbot", role: .bot, teams: ["t"], status: .initial(at: t0))
        floor.teams["t"]?.members.insert("qbot")
        floor.teams["t"]?.policy.queueReportBy = .agents
        floor.teams["t"]?.policy.queueReportEveryS = 1800
        floor.teams["t"]?.policySince = t0
        floor.live = CoverageRulesTests.live(agents)
        // The first coverage figures, announced before the test begins.
        _ = floor.settle(["t"], now: t0)
        return floor
    }

    func at(_ seconds: Int64) -> Timestamp { t0.adding(seconds: seconds) }

    func report(by user: String, at time: Timestamp) -> QueueReport {
        QueueReport(by: user, at: time, callsWaiting: 4, oldestWaitSeconds: 95, nodesOut: [.init(node: "sw-3", city: "Lyon")])
    }

    /// The asks in `events`: `a1 no_answer`, `nobody due`.
    func asks(_ events: [Event]) -> [String] {
        events.compactMap { event in
            guard case .queueReportAsked(let ask) = event.payload else { return nil }
            return "\(ask.user ?? "nobody") \(ask.reason.rawValue)"
        }
    }

    func alerts(_ events: [Event]) -> [String] {
        events.compactMap { event in
            guard case .alert(let alert) = event.payload else { return nil }
            return alert.kind.rawValue
        }
    }

    @Test func askedEveryIntervalOfTheLeastRecentlyAskedAgent() throws {
        var floor = floor()
        #expect(floor.settle(["t"], now: at(1799)).isEmpty)
        let first = floor.settle(["t"], now: at(1800))
        #expect(asks(first) == ["a1 due"])
        guard case .queueReportAsked(let ask)? = first.first?.payload else {
            Issue.record("no ask")
            return
        }
        #expect(first.first?.stream == .supervisors)
        #expect(ask.dueBy == at(2100) && ask.requestAt == at(1800))
        // Nothing more while the request waits within its grace.
        #expect(floor.settle(["t"], now: at(2099)).isEmpty)
        // a1 answers: the same queue event as a bot's, by a1; the request closes.
        let events = try floor.reportQueue(report(by: "a1", at: at(1900)), team: "t", now: at(1900))
        guard case .queue(let posted)? = events.first?.payload else {
            Issue.record("no queue event")
            return
        }
        #expect(posted.by == "a1" && posted.nodeOutage)
        #expect(floor.teams["t"]?.rota.request == nil)
        // The next request opens an interval after that report, and goes to a2, then a3, then a1.
        #expect(floor.settle(["t"], now: at(3699)).isEmpty)
        #expect(asks(floor.settle(["t"], now: at(3700))) == ["a2 due"])
        _ = try floor.reportQueue(report(by: "a2", at: at(3710)), team: "t", now: at(3710))
        #expect(asks(floor.settle(["t"], now: at(5510))) == ["a3 due"])
        _ = try floor.reportQueue(report(by: "a3", at: at(5520)), team: "t", now: at(5520))
        #expect(asks(floor.settle(["t"], now: at(7320))) == ["a1 due"])
    }

    @Test func onlyTheAskedAgentMayReportAndOnlyOnce() throws {
        var floor = floor()
        _ = floor.settle(["t"], now: at(1800))
        // a2 was not asked.
        #expect(throws: RPCError.forbidden("you were not asked for this queue report (a1 was)")) {
            try floor.reportQueue(report(by: "a2", at: at(1810)), team: "t", now: at(1810))
        }
        _ = try floor.reportQueue(report(by: "a1", at: at(1820)), team: "t", now: at(1820))
        // A second report for the same request.
        #expect(throws: RPCError.forbidden("no queue report is asked for in t now (the last one came from a1)")) {
            try floor.reportQueue(report(by: "a1", at: at(1830)), team: "t", now: at(1830))
        }
        // Bots and supervisors may still report at any time.
        _ = try floor.reportQueue(report(by: "qbot", at: at(1840)), team: "t", now: at(1840))
        _ = try floor.reportQueue(report(by: "sup", at: at(1850)), team: "t", now: at(1850))
        // With reports from bots, agents are refused as before.
        floor.teams["t"]?.policy.queueReportBy = .bots
        #expect(throws: RPCError.forbidden("queue reports come from bots and supervisors")) {
            try floor.reportQueue(report(by: "a1", at: at(1860)), team: "t", now: at(1860))
        }
    }

    @Test func noAnswerWithinTheGraceAsksTheNextAndTellsSupervisorsOnce() throws {
        var floor = floor()
        _ = floor.settle(["t"], now: at(1800))
        let late = floor.settle(["t"], now: at(2100))
        #expect(alerts(late) == ["queue_report_missing"])
        #expect(asks(late) == ["a2 no_answer"])
        // a2 does not answer either: a3 is asked, and no second alert for the same request.
        let later = floor.settle(["t"], now: at(2400))
        #expect(alerts(later).isEmpty && asks(later) == ["a3 no_answer"])
        // Anyone asked for the request may still answer it; the report clears the alert.
        let answered = try floor.reportQueue(report(by: "a1", at: at(2450)), team: "t", now: at(2450))
        #expect(answered.contains { if case .alertAck = $0.payload { true } else { false } })
        // The next request is a new one: its silence alerts again.
        _ = floor.settle(["t"], now: at(4250))
        #expect(alerts(floor.settle(["t"], now: at(4550))) == ["queue_report_missing"])
    }

    @Test func anAskedAgentWhoGoesOnBreakOrAwayIsReplacedAtOnce() throws {
        var floor = floor()
        _ = floor.settle(["t"], now: at(1800))
        // a1 takes a break: the change that made them unavailable asks a2 (the server settles
        // after every change).
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak), now: at(1810))
        #expect(asks(floor.settle(["t"], now: at(1810))) == ["a2 unavailable"])
        // a2's last session ends: a2 keeps the turn through the presence grace, and a3 is
        // asked when a2's presence turns false.
        let connected = floor.live
        floor.teams["t"]?.announcedConnected = connected
        floor.setLive("a2", false)
        #expect(asks(floor.settle(["t"], now: at(1811))).isEmpty)
        _ = floor.setPresence(user: "a2", connected: false, now: at(1811))
        #expect(asks(floor.settle(["t"], now: at(1811))) == ["a3 unavailable"])
        // a3 goes on a call: nobody else is Available, connected and off a call.
        _ = try floor.updatePhone(
            by: "sup", PhoneUpdate(user: "a3", loggedIn: true, call: .live(id: "c1", state: .talking, muted: false)), now: at(1812))
        let nobody = floor.settle(["t"], now: at(1812))
        #expect(asks(nobody) == ["nobody unavailable"] && alerts(nobody) == ["queue_report_missing"])
        #expect(floor.teams["t"]?.rota.request?.asked == nil)
        // Those asked before may still answer, the first back is asked again.
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .available), now: at(1900))
        #expect(asks(floor.settle(["t"], now: at(1900))) == ["a1 available"])
    }

    @Test func aTeamWithNoAvailableAgentTellsSupervisors() throws {
        var floor = floor(agents: 2)
        floor.live = ["sup"]
        _ = floor.settle(["t"], now: t0)
        let events = floor.settle(["t"], now: at(1800))
        #expect(asks(events) == ["nobody due"])
        #expect(alerts(events) == ["queue_report_missing"])
        guard case .alert(let alert)? = events.last?.payload else { return }
        #expect(alert.text.contains("nobody to ask"))
        // Told once; a supervisor may answer (and closes the request and the alert).
        #expect(floor.settle(["t"], now: at(1900)).isEmpty)
        let answered = try floor.reportQueue(report(by: "sup", at: at(1950)), team: "t", now: at(1950))
        #expect(answered.contains { if case .alertAck = $0.payload { true } else { false } })
        #expect(floor.teams["t"]?.rota.request == nil)
    }

    @Test func offThePhonesIsSkipped() throws {
        var floor = floor()
        // a1's phone is logged out; a2 is on a call.
        _ = try floor.updatePhone(by: "sup", PhoneUpdate(user: "a1", loggedIn: false, call: .unchanged), now: at(10))
        _ = try floor.updatePhone(
            by: "sup", PhoneUpdate(user: "a2", loggedIn: true, call: .live(id: "c", state: .onHold, muted: false)), now: at(10))
        #expect(asks(floor.settle(["t"], now: at(1800))) == ["a3 due"])
    }

    @Test func theRotaFollowsTheEventsSoACopyAppliedFromThemAgrees() throws {
        var floor = floor()
        let before = floor
        var events = floor.settle(["t"], now: at(1800))
        events += floor.settle(["t"], now: at(2100))
        var copy = before
        for event in events { copy.apply(event) }
        #expect(copy.teams["t"]?.rota == floor.teams["t"]?.rota)
        #expect(floor.teams["t"]?.rota.request?.everAsked == ["a1", "a2"])
        #expect(floor.teams["t"]?.rota.lastAsked == ["a1": at(1800), "a2": at(2100)])
        // The stored form reads back the same.
        let rota = try #require(floor.teams["t"]?.rota)
        #expect(QueueReportRota(stored: rota.storedJSON) == rota)
        // And FloorChanges carries it for the store.
        #expect(before.changes(applying: events).teams.first?.rota == rota)
    }

    @Test func backToBotsWithdrawsTheRequest() throws {
        var floor = floor()
        _ = floor.settle(["t"], now: at(1800))
        var policy = try #require(floor.teams["t"]?.policy)
        policy.queueReportBy = .bots
        floor.apply(Event(team: "t", seq: 99, at: at(1810), payload: .policy(version: 2, by: "sup", comment: "", policy: policy)))
        #expect(floor.teams["t"]?.rota.request == nil)
        #expect(floor.settle(["t"], now: at(9000)).filter { if case .queueReportAsked = $0.payload { true } else { false } }.isEmpty)
    }

    @Test func theWireShapeReadsBack() throws {
        let ask = QueueReportAsk(user: "a1", requestAt: at(1800), dueBy: at(2100), reason: .noAnswer)
        let event = Event(team: "t", seq: 4, at: at(1800), payload: .queueReportAsked(ask))
        #expect(try Event(params: event.params) == event)
        let nobody = Event(team: "t", seq: 5, at: at(1800), payload: .queueReportAsked(.init(user: nil, requestAt: at(1800), dueBy: nil, reason: .due)))
        #expect(try Event(params: nobody.params) == nobody)
        #expect(event.params["user"] == "a1" && nobody.params["user"] == .null)
    }
}

import HuddleProtocol
import Testing

@testable import HuddleCore

@Suite struct ErlangCTests {
    @Test func theSpecsCheckFigures() {
        #expect(ErlangC.agentsRequired(callsPerHour: 60, ahtSeconds: 300, target: 0.8, withinSeconds: 20) == 8)
        // 360 calls per 30 minutes is 720 an hour.
        #expect(ErlangC.agentsRequired(callsPerHour: 720, ahtSeconds: 240, target: 0.8, withinSeconds: 15) == 55)
    }

    @Test func edgeCases() {
        // No calls: nobody is needed for the queue (the shrinkage floor still applies elsewhere).
        #expect(ErlangC.agentsRequired(callsPerHour: 0, ahtSeconds: 300, target: 0.8, withinSeconds: 20) == 0)
        // Always more agents than the load in erlangs (N > A), even for a lax target.
        let lax = ErlangC.agentsRequired(callsPerHour: 120, ahtSeconds: 180, target: 0.01, withinSeconds: 600) ?? 0
        #expect(lax > 6)
        // Missing or nonsensical inputs give no figure.
        #expect(ErlangC.agentsRequired(callsPerHour: 60, ahtSeconds: 0, target: 0.8, withinSeconds: 20) == nil)
        #expect(ErlangC.agentsRequired(callsPerHour: -1, ahtSeconds: 300, target: 0.8, withinSeconds: 20) == nil)
        #expect(ErlangC.agentsRequired(callsPerHour: 60, ahtSeconds: 300, target: 1, withinSeconds: 20) == nil)
        #expect(ErlangC.agentsRequired(callsPerHour: .nan, ahtSeconds: 300, target: 0.8, withinSeconds: 20) == nil)
        // A stricter target never needs fewer agents; a big floor stays numerically stable.
        let a = ErlangC.agentsRequired(callsPerHour: 600, ahtSeconds: 300, target: 0.8, withinSeconds: 20) ?? 0
        let b = ErlangC.agentsRequired(callsPerHour: 600, ahtSeconds: 300, target: 0.95, withinSeconds: 20) ?? 0
        #expect(b >= a)
        let big = ErlangC.agentsRequired(callsPerHour: 20_000, ahtSeconds: 300, target: 0.8, withinSeconds: 20) ?? 0
        #expect(big > 1667 && big < 1800)
        #expect(ErlangC.serviceLevel(agents: 5, load: 5, ahtSeconds: 300, withinSeconds: 20) == 0)
    }
}

@Suite struct QueueReportTests {
    let t0 = Timestamp(milliseconds: 1_795_425_302_120)

    func floor() -> Floor {
        var floor = CoverageRulesTests.floor(agents: 6, minAvailable: 1, maxOnBreak: 3)
        floor.users["qbot"] = UserState(name: "qbot", role: .bot, teams: ["t"], status: .initial(at: t0))
        floor.teams["t"]?.members.insert("qbot")
        return floor
    }

    func report(_ waiting: Int64, _ oldest: Int64, nodes: [QueueReport.NodeOut] = [], cph: Double? = nil, aht: Double? = nil)
        -> QueueReport
    {
        QueueReport(by: "qbot", at: t0, callsWaiting: waiting, oldestWaitSeconds: oldest, callsPerHour: cph, ahtSeconds: aht, nodesOut: nodes)
    }

    func kinds(_ events: [Event]) -> [String] {
        events.compactMap { event in
            switch event.payload {
            case .alert(let alert): "raise \(alert.kind.rawValue)"
            case .alertAck(_, let by, _, _): "clear by \(by)"
            default: nil
            }
        }
    }

    @Test func pressureHasHysteresis() throws {
        var floor = floor()
        // Default thresholds: 10 waiting or 300 s; clears below 8 and 240.
        let sequence: [(Int64, Int64, Bool, [String])] = [
            (9, 200, false, []),
            (10, 0, true, ["raise queue_pressure"]),
            (9, 250, true, []),  // below the threshold but not by the margin: still on
            (7, 250, true, []),  // oldest still at or above 80%
            (7, 239, false, ["clear by system"]),
            (9, 299, false, []),  // below the threshold again: stays off
            (3, 300, true, ["raise queue_pressure"]),
        ]
        for (waiting, oldest, expected, alerts) in sequence {
            let events = try floor.reportQueue(report(waiting, oldest), team: "t", now: t0)
            #expect(floor.teams["t"]?.queuePressure == expected, "\(waiting) waiting, \(oldest) s")
            #expect(kinds(events) == alerts, "\(waiting) waiting, \(oldest) s")
            #expect(events.first?.params["pressure"] == .bool(expected))
        }
    }

    @Test func pressureHoldsBreaksButNotMeetings() throws {
        var floor = floor()
        _ = try floor.reportQueue(report(12, 0), team: "t", now: t0)
        let live = CoverageRulesTests.live(6)
        floor.live = live
        let denial = floor.check("a1", to: .onBreak, now: t0)
        #expect(denial?.rule == .queuePressure)
        #expect(denial?.rpcError.data?["queue"]?["calls_waiting"] == 12)
        #expect(floor.check("a1", to: .meeting, now: t0) == nil)
    }

    @Test func aNodeOutageFreezesTimeOffThePhonesUntilItClears() throws {
        var floor = floor()
        let live = CoverageRulesTests.live(6)
        let out = try floor.reportQueue(report(0, 0, nodes: [.init(node: "sw-3", city: "Lyon")]), team: "t", now: t0)
        #expect(kinds(out) == ["raise node_outage"])
        for status in [Status.onBreak, .lunch, .meeting, .training, .admin] {
            floor.live = live
            #expect(floor.check("a1", to: status, now: t0)?.rule == .nodeOutage)
        }
        #expect(floor.check("a1", to: .afterCallWork, now: t0) == nil)
        // Still out: no second alert.
        #expect(kinds(try floor.reportQueue(report(0, 0, nodes: [.init(node: "sw-3", city: "Lyon")]), team: "t", now: t0)).isEmpty)
        // A queued break waits through the outage and is served when it clears.
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak, queue: true), now: t0)
        #expect(floor.settle(["t"], now: t0).filter { $0.payload.type == "waitlist_ready" }.isEmpty)
        let back = try floor.reportQueue(report(0, 0), team: "t", now: t0)
        #expect(kinds(back) == ["clear by system"])
        #expect(floor.check("a2", to: .onBreak, now: t0) == nil)
        #expect(floor.settle(["t"], now: t0).contains { $0.payload.type == "waitlist_ready" })
    }

    @Test func onlyBotsAndSupervisorsOfTheTeamReport() throws {
        var floor = floor()
        var byAgent = report(1, 1)
        byAgent.by = "a1"
        #expect(throws: RPCError.self) { try floor.reportQueue(byAgent, team: "t", now: t0) }
        var bySupervisor = report(1, 1)
        bySupervisor.by = "sup"
        _ = try floor.reportQueue(bySupervisor, team: "t", now: t0)
        #expect(throws: RPCError.self) { try floor.reportQueue(report(1, 1), team: "nope", now: t0) }
    }

    @Test func autoMinimumFollowsErlangCAndNeverGoesBelowTheFloor() throws {
        var floor = floor()
        floor.teams["t"]?.policy.minAvailable = .auto
        floor.teams["t"]?.policy.shrinkageFloor = 2
        let live = CoverageRulesTests.live(6)
        floor.live = live
        #expect(floor.coverage(of: "t")?.required == 2)  // no report yet: the floor
        _ = try floor.reportQueue(report(0, 0, cph: 60, aht: 300), team: "t", now: t0)
        let figures = floor.coverage(of: "t")
        #expect(figures?.required == 8)
        #expect(figures?.requiredFrom == .init(callsPerHour: 60, ahtSeconds: 300, target: 0.8, withinSeconds: 20))
        #expect(figures?.json["required_from"]?["aht_s"]?.doubleValue == 300)
        _ = try floor.reportQueue(report(0, 0, cph: 0, aht: 300), team: "t", now: t0)
        #expect(floor.coverage(of: "t")?.required == 2)
    }

    @Test func missingReportsRaiseOnceAndClearWithTheNextReport() throws {
        var floor = floor()
        floor.teams["t"]?.policy.queueReportEveryS = 60
        floor.teams["t"]?.policySince = t0
        var reminded: [String: Timestamp] = [:]
        let live = CoverageRulesTests.live(6)
        floor.live = live
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: t0.adding(seconds: 89)).events.isEmpty)
        let missing = floor.runTimers(absentSince: [:], reminded: &reminded, now: t0.adding(seconds: 90)).events
        #expect(kinds(missing) == ["raise queue_report_missing"])
        #expect(floor.runTimers(absentSince: [:], reminded: &reminded, now: t0.adding(seconds: 200)).events.isEmpty)
        #expect(kinds(try floor.reportQueue(report(0, 0), team: "t", now: t0.adding(seconds: 201))) == ["clear by system"])
    }
}

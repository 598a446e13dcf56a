import HuddleProtocol
import Testing

@testable import HuddleCore

/// `coverage_breach` (SPEC §12): raised once a team has been in breach for
/// `coverage_breach_after_s`, whatever put it there; one open per team; closed by itself.
@Suite struct CoverageBreachTests {
    let clock = ManualWallClock()

    /// Two agents, both needed.
    func floor(after seconds: Int64 = 60) -> Floor {
        var floor = CoverageRulesTests.floor(agents: 2, minAvailable: 2)
        floor.teams["t"]?.policy.coverageBreachAfterS = seconds
        floor.live = CoverageRulesTests.live(2)
        _ = floor.settle(["t"], now: clock.now())
        return floor
    }

    func breaches(_ events: [Event]) -> [Alert] {
        events.compactMap { if case .alert(let alert) = $0.payload, alert.kind == .coverageBreach { alert } else { nil } }
    }

    @Test func anAgentsOwnMoveAlertsOnlyOnceTheBreachHasLasted() throws {
        var floor = floor()
        let (_, moved) = try floor.setOwnStatus(user: "a1", StatusRequest(status: .afterCallWork), now: clock.now())
        #expect(breaches(moved).isEmpty)
        #expect(breaches(floor.settle(["t"], now: clock.now())).isEmpty)
        #expect(floor.teams["t"]?.breachSince == clock.now())
        clock.advance(seconds: 59)
        #expect(breaches(floor.settle(["t"], now: clock.now())).isEmpty)
        clock.advance(seconds: 1)
        let raised = breaches(floor.settle(["t"], now: clock.now()))
        #expect(raised.count == 1)
        #expect(raised.first?.user == nil)  // about the team, not whoever moved last
        #expect(raised.first?.text == "coverage breached for 60 s: 1 available, 2 required")
        clock.advance(seconds: 300)
        #expect(breaches(floor.settle(["t"], now: clock.now())).isEmpty)  // one open per team
    }

    @Test func droppedConnectionsBreachLikeAnyMove() {
        var floor = floor()
        floor.setLive("a1", false)
        floor.setLive("a2", false)
        _ = floor.settle(["t"], now: clock.now())
        clock.advance(seconds: 60)
        #expect(breaches(floor.settle(["t"], now: clock.now())).count == 1)
    }

    @Test func aForcedChangeAndAPolicyChangeBreachToo() throws {
        var forced = floor()
        _ = try forced.forceStatus(by: "sup", target: "a1", status: .meeting, note: "", now: clock.now())
        _ = forced.settle(["t"], now: clock.now())
        var raised = breaches(forced.settle(["t"], now: clock.now().adding(seconds: 60)))
        #expect(raised.count == 1)

        var stricter = floor()
        _ = try stricter.setPolicy(by: "sup", team: "t", patch: ["min_available": 3], comment: "peak", now: clock.now())
        _ = stricter.settle(["t"], now: clock.now())
        raised = breaches(stricter.settle(["t"], now: clock.now().adding(seconds: 60)))
        #expect(raised.count == 1)
    }

    @Test func leavingBreachStopsTheClockAndClosesTheAlert() throws {
        var floor = floor()
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .offline), now: clock.now())
        _ = floor.settle(["t"], now: clock.now())
        clock.advance(seconds: 30)
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .available), now: clock.now())
        _ = floor.settle(["t"], now: clock.now())
        #expect(floor.teams["t"]?.breachSince == nil)
        // Back in breach: the clock starts again from here.
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .offline), now: clock.now())
        _ = floor.settle(["t"], now: clock.now())
        clock.advance(seconds: 45)
        #expect(breaches(floor.settle(["t"], now: clock.now())).isEmpty)
        clock.advance(seconds: 15)
        let alert = try #require(breaches(floor.settle(["t"], now: clock.now())).first)
        // Out of breach: the system closes it.
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .available), now: clock.now())
        let closed = floor.settle(["t"], now: clock.now())
        #expect(closed.contains { if case .alertAck(alert.id, "system", _, _) = $0.payload { true } else { false } })
        #expect(floor.teams["t"]?.openAlerts.isEmpty == true)
    }

    @Test func zeroSecondsAlertsAtTheAnnouncement() throws {
        var floor = floor(after: 0)
        _ = try floor.setOwnStatus(user: "a2", StatusRequest(status: .offline), now: clock.now())
        let events = floor.settle(["t"], now: clock.now())
        #expect(events.map(\.payload.type) == ["coverage", "alert"])
    }

    @Test func foldedFiguresKeepTheTimeOfTheirEvent() throws {
        var floor = floor()
        let made = clock.now()
        _ = try floor.setOwnStatus(user: "a1", StatusRequest(status: .offline), now: made)
        clock.advance(seconds: 5)
        // The coverage event made at `made` has not been committed: new figures fold into it.
        let (_, folded) = floor.settle(["t"], now: clock.now(), folding: ["t": made])
        #expect(folded["t"]?.state == .breach)
        #expect(floor.teams["t"]?.breachSince == made)
    }
}

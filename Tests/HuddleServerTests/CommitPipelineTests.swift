import HuddleCore
import HuddleProtocol
import Testing

@testable import HuddleServer

/// The commit pipeline without sockets or a database: changes are decided on `working`,
/// submitted, taken in batches, and completed or failed by hand, in the order a test chooses.
@Suite struct CommitPipelineTests {
    typealias Pipeline = CommitPipeline<String>
    let clock = ManualWallClock()

    /// floor-a with agents alice, bob and carol, `available` but not connected; a policy that
    /// grants every break (coverage is not what these tests are about).
    func makePipeline() -> Pipeline {
        var floor = Floor()
        floor.teams["floor-a"] = TeamState(name: "floor-a", epoch: "e1", members: ["alice", "bob", "carol"])
        floor.teams["floor-a"]?.policy.minAvailable = .fixed(0)
        floor.teams["floor-a"]?.policy.maxOnBreak = 10
        for name in ["alice", "bob", "carol"] {
            floor.users[name] = UserState(
                name: name, role: .agent, teams: ["floor-a"],
                status: StatusRecord(status: .available, note: "", since: clock.now(), expectedUntil: nil, by: name))
        }
        var pipeline = Pipeline()
        pipeline.load(floor, absences: [:], now: clock.now())
        return pipeline
    }

    /// A status change decided on `working` with what follows from it, as the hub does.
    func decide(_ pipeline: inout Pipeline, _ user: String, _ status: Status) throws -> [Event] {
        var (_, events) = try pipeline.working.setOwnStatus(user: user, StatusRequest(status: status), now: clock.now())
        events += pipeline.settle(events.map(\.team), now: clock.now())
        return events
    }

    func submit(_ pipeline: inout Pipeline, _ events: [Event], _ reply: String) -> Pipeline.Submitted {
        pipeline.submit(events, reply: reply)
    }

    @Test func changesQueuedBehindACommitGoTogetherInTheNextBatch() throws {
        var pipeline = makePipeline()
        let first = try decide(&pipeline, "alice", .onBreak)
        let submitted1 = submit(&pipeline, first, "a")
        #expect(isStart(submitted1))
        let inFlight = try take(&pipeline, 100)
        let second = pipeline.nextBatch(maxEvents: 100)
        #expect(second == nil, "one transaction at a time")
        let submitted2 = submit(&pipeline, try decide(&pipeline, "bob", .lunch), "b")
        #expect(isQueued(submitted2))
        let submitted3 = submit(&pipeline, try decide(&pipeline, "carol", .meeting), "c")
        #expect(isQueued(submitted3))

        let done = pipeline.committed(inFlight)
        #expect(done.published.compactMap(\.reply) == ["a"])
        #expect(done.more)
        let next = try take(&pipeline, 100)
        #expect(next.changes.compactMap(\.reply) == ["b", "c"])
        // The state it leaves is read off `committed` with the batch applied: bob's and carol's.
        #expect(next.state.users.map(\.name) == ["bob", "carol"])
        #expect(next.state.users.map(\.status.status) == [.lunch, .meeting])
        let last = pipeline.committed(next)
        #expect(!last.more && pipeline.isIdle)
        #expect(pipeline.committed.users == pipeline.working.users)
        #expect(pipeline.committed.teams["floor-a"]?.seq == pipeline.working.teams["floor-a"]?.seq)
    }

    @Test func aBatchStopsAtTheEventLimitButNeverSplitsAChange() throws {
        var pipeline = makePipeline()
        _ = submit(&pipeline, try decide(&pipeline, "alice", .onBreak), "a")
        let inFlight = try take(&pipeline, 1)
        _ = submit(&pipeline, try decide(&pipeline, "bob", .lunch), "b")
        _ = submit(&pipeline, try decide(&pipeline, "carol", .lunch), "c")
        _ = pipeline.committed(inFlight)
        let next = try take(&pipeline, 1)
        #expect(next.changes.compactMap(\.reply) == ["b"], "one change per batch at a limit of one event")
        #expect(next.events.count >= 1)
        _ = pipeline.committed(next)
        let third = try take(&pipeline, 1)
        #expect(third.changes.compactMap(\.reply) == ["c"])
    }

    @Test func anAnswerWithNothingToCommitWaitsForWhatIsAheadOfIt() throws {
        var pipeline = makePipeline()
        guard case .answerNow("ping") = submit(&pipeline, [], "ping") else {
            Issue.record("an idle pipeline answers at once")
            return
        }
        _ = submit(&pipeline, try decide(&pipeline, "alice", .onBreak), "a")
        let inFlight = try take(&pipeline, 100)
        // A read that follows a change must not overtake it.
        let submitted4 = submit(&pipeline, [], "read")
        #expect(isQueued(submitted4))
        _ = pipeline.committed(inFlight)
        let next = try take(&pipeline, 100)
        #expect(next.changes.compactMap(\.reply) == ["read"])
        #expect(next.events.isEmpty)
    }

    @Test func aFailedCommitRefusesItsBatchAndEverythingBehindItAndRollsBack() throws {
        var pipeline = makePipeline()
        _ = submit(&pipeline, try decide(&pipeline, "alice", .onBreak), "a")
        let inFlight = try take(&pipeline, 100)
        _ = submit(&pipeline, try decide(&pipeline, "bob", .lunch), "b")
        #expect(pipeline.working.users["alice"]?.status.status == .onBreak)

        let failed = pipeline.failed(inFlight)
        #expect(failed.refused.compactMap(\.reply) == ["a", "b"])
        #expect(failed.published.isEmpty && !failed.more && pipeline.isIdle)
        #expect(pipeline.working.users["alice"]?.status.status == .available)
        #expect(pipeline.working.users["bob"]?.status.status == .available)
        #expect(pipeline.working.teams["floor-a"]?.seq == 0)

        // The next change starts from what is committed: its seq is 1 again.
        let again = try decide(&pipeline, "carol", .lunch)
        #expect(again.first?.seq == 1)
        let submitted5 = submit(&pipeline, again, "c")
        #expect(isStart(submitted5))
    }

    @Test func coverageWaitingInTheQueueTakesLaterFiguresInsteadOfANewEvent() throws {
        var pipeline = makePipeline()
        let now = clock.now()
        _ = submit(&pipeline, try decide(&pipeline, "alice", .onBreak), "x")
        let inFlight = try take(&pipeline, 100)

        let bob = pipeline.arrived("bob", now: now)
        #expect(bob.contains { if case .coverage = $0.payload { true } else { false } })
        _ = pipeline.submit(bob, reply: nil)
        let carol = pipeline.arrived("carol", now: now)
        #expect(!carol.contains { if case .coverage = $0.payload { true } else { false } }, "folded")
        _ = pipeline.submit(carol, reply: nil)

        _ = pipeline.committed(inFlight)
        let next = try take(&pipeline, 100)
        let coverage = next.events.compactMap { event -> CoverageFigures? in
            if case .coverage(let figures) = event.payload { figures } else { nil }
        }
        #expect(coverage.map(\.available) == [2], "one coverage event, with both agents counted")
        // What the store writes as current state is the folded figure too.
        #expect(next.state.teams.first { $0.team == "floor-a" }?.coverage?.available == 2)
        _ = pipeline.committed(next)
        #expect(pipeline.committed.teams["floor-a"]?.coverage?.available == 2)
    }

    @Test func seqsRiseInSubmitOrderAcrossBatches() throws {
        var pipeline = makePipeline()
        var published: [Int64] = []
        var inFlight: Pipeline.Batch?
        for (index, status) in [Status.onBreak, .available, .lunch, .available, .meeting].enumerated() {
            _ = submit(&pipeline, try decide(&pipeline, "alice", status), "\(index)")
            if inFlight == nil { inFlight = pipeline.nextBatch(maxEvents: 100) }
            if index.isMultiple(of: 2), let batch = inFlight {
                published += pipeline.committed(batch).published.flatMap(\.events).map(\.seq)
                inFlight = pipeline.nextBatch(maxEvents: 100)
            }
        }
        while let batch = inFlight {
            published += pipeline.committed(batch).published.flatMap(\.events).map(\.seq)
            inFlight = pipeline.nextBatch(maxEvents: 100)
        }
        #expect(published == Array(1...Int64(published.count)))
        #expect(pipeline.isIdle)
    }

    @Test func presenceTurnsFalseAfterTheGraceUnlessTheUserIsBack() throws {
        var pipeline = makePipeline()
        let grace = pipeline.working.presenceGrace(of: "alice")
        _ = pipeline.arrived("alice", now: clock.now())
        _ = pipeline.arrived("bob", now: clock.now())
        _ = pipeline.left("alice", now: clock.now())
        _ = pipeline.left("bob", now: clock.now())
        #expect(!pipeline.working.live.contains("alice"), "coverage stops counting at the drop")

        clock.advance(seconds: grace - 1)
        let early = pipeline.tick(now: clock.now()) { _ in false }
        #expect(presence(early.events).isEmpty)
        clock.advance(seconds: 1)
        // bob has a session again (the hub knows it); alice does not.
        let tick = pipeline.tick(now: clock.now()) { $0 == "bob" }
        let due = presence(tick.events)
        #expect(due.count == 1 && due.first?.user == "alice" && due.first?.connected == false)
        let later = pipeline.tick(now: clock.now()) { _ in false }
        #expect(presence(later.events).isEmpty, "once")
    }

    /// The next batch, which must exist.
    private func take(_ pipeline: inout Pipeline, _ maxEvents: Int) throws -> Pipeline.Batch {
        let batch = pipeline.nextBatch(maxEvents: maxEvents)
        return try #require(batch)
    }

    private func presence(_ events: [Event]) -> [(user: String, connected: Bool)] {
        events.compactMap { if case .presence(let user, let connected) = $0.payload { (user, connected) } else { nil } }
    }

    private func isStart(_ submitted: Pipeline.Submitted) -> Bool {
        if case .startCommit = submitted { true } else { false }
    }

    private func isQueued(_ submitted: Pipeline.Submitted) -> Bool {
        if case .queued = submitted { true } else { false }
    }
}

extension CommitPipelineTests {
    /// `coverage_breach` from the pipeline's own clock (its tick), whatever made the breach: here
    /// connections that dropped. The committed floor keeps the same breach clock as `working`.
    @Test func aBreachThatLastsIsAlertedByTheTick() throws {
        var pipeline = makePipeline()
        pipeline.working.teams["floor-a"]?.policy.minAvailable = .fixed(1)
        pipeline.working.teams["floor-a"]?.policy.coverageBreachAfterS = 1
        var events = pipeline.arrived("alice", now: clock.now())
        _ = pipeline.submit(events, reply: nil)
        var batch = try take(&pipeline, 100)
        _ = pipeline.committed(batch)
        events = pipeline.left("alice", now: clock.now())
        #expect(events.contains { if case .coverage(let c) = $0.payload { c.state == .breach } else { false } })
        _ = pipeline.submit(events, reply: nil)
        batch = try take(&pipeline, 100)
        _ = pipeline.committed(batch)
        clock.advance(milliseconds: 500)
        #expect(!pipeline.tick(now: clock.now(), isLive: { _ in false }).events.contains { $0.payload.type == "alert" })
        clock.advance(milliseconds: 500)
        let raised = pipeline.tick(now: clock.now(), isLive: { _ in false }).events
        #expect(raised.contains { if case .alert(let a) = $0.payload { a.kind == .coverageBreach } else { false } })
        #expect(pipeline.committed.teams["floor-a"]?.breachSince == pipeline.working.teams["floor-a"]?.breachSince)
    }
}

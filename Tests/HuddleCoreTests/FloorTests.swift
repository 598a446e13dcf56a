import HuddleProtocol
import Testing

@testable import HuddleCore

@Suite struct FloorTests {
    let clock = ManualWallClock()

    func makeFloor() -> Floor {
        let t0 = clock.now()
        var floor = Floor()
        floor.teams["floor-a"] = TeamState(name: "floor-a", epoch: "e1", members: ["alice", "bob", "sam", "qbot"])
        floor.teams["floor-b"] = TeamState(name: "floor-b", epoch: "e2", members: ["bob"])
        // These tests are about changes, not coverage: a lenient policy (the rules have their own suite).
        for team in ["floor-a", "floor-b"] {
            floor.teams[team]?.policy.minAvailable = .fixed(0)
            floor.teams[team]?.policy.maxOnBreak = 10
        }
        for (name, role, teams) in [
            ("alice", Role.agent, ["floor-a"]), ("bob", .agent, ["floor-a", "floor-b"]), ("sam", .supervisor, ["floor-a"]),
            ("qbot", .bot, ["floor-a"]), ("root", .admin, []),
        ] {
            floor.users[name] = UserState(name: name, role: role, teams: teams, status: .initial(at: t0))
        }
        return floor
    }

    @Test func ownStatusChangeReachesEveryTeamWithRisingSeqs() throws {
        var floor = makeFloor()
        let (decision, events) = try floor.setOwnStatus(user: "bob", StatusRequest(status: .onBreak, note: "15, be right back", expectedSeconds: 900), now: clock.now())
        #expect(decision == .granted)
        #expect(events.map(\.team) == ["floor-a", "floor-b"])
        #expect(events.map(\.seq) == [1, 1])
        #expect(floor.users["bob"]?.status.status == .onBreak)
        #expect(floor.users["bob"]?.status.expectedUntil == clock.now().adding(seconds: 900))
        let (_, again) = try floor.setOwnStatus(user: "bob", StatusRequest(status: .available), now: clock.now())
        #expect(again.map(\.seq) == [2, 2])
    }

    @Test func sameStatusKeepsItsSince() throws {
        var floor = makeFloor()
        _ = try floor.setOwnStatus(user: "alice", StatusRequest(status: .onBreak), now: clock.now())
        let started = clock.now()
        clock.advance(seconds: 60)
        _ = try floor.setOwnStatus(user: "alice", StatusRequest(status: .onBreak, note: "coffee"), now: clock.now())
        #expect(floor.users["alice"]?.status.since == started)
        #expect(floor.users["alice"]?.status.note == "coffee")
    }

    @Test func plannedReturnIsBoundedByTheLimit() {
        var floor = makeFloor()
        #expect(throws: RPCError.self) {
            try floor.setOwnStatus(user: "alice", StatusRequest(status: .onBreak, expectedSeconds: 901), now: clock.now())
        }
        #expect(throws: RPCError.self) {
            try floor.setOwnStatus(user: "alice", StatusRequest(status: .available, expectedSeconds: 60), now: clock.now())
        }
        #expect(floor.teams["floor-a"]?.seq == 0)
    }

    @Test func botsAndAdminsHaveNoStatus() {
        var floor = makeFloor()
        #expect(throws: RPCError.self) { try floor.setOwnStatus(user: "qbot", StatusRequest(status: .onBreak), now: clock.now()) }
        #expect(throws: RPCError.self) { try floor.setOwnStatus(user: "root", StatusRequest(status: .onBreak), now: clock.now()) }
    }

    @Test func onlySupervisorsForceAndOnlyTheirTeams() throws {
        var floor = makeFloor()
        #expect(throws: RPCError.self) {
            try floor.forceStatus(by: "alice", target: "bob", status: .available, note: "", now: clock.now())
        }
        let events = try floor.forceStatus(by: "sam", target: "alice", status: .available, note: "back to phones", now: clock.now())
        guard case .status(let change) = events[0].payload else { throw RPCError.internalError }
        #expect(change.by == "sam")
        floor.teams["floor-c"] = TeamState(name: "floor-c", epoch: "e3", members: ["carol"])
        floor.users["carol"] = UserState(name: "carol", role: .agent, teams: ["floor-c"], status: .initial(at: clock.now()))
        #expect(throws: RPCError.self) {
            try floor.forceStatus(by: "sam", target: "carol", status: .available, note: "", now: clock.now())
        }
    }

    @Test func presenceIsAnnouncedOncePerChange() {
        var floor = makeFloor()
        #expect(floor.setPresence(user: "bob", connected: true, now: clock.now()).count == 2)
        #expect(floor.setPresence(user: "bob", connected: true, now: clock.now()).isEmpty)
        #expect(floor.setPresence(user: "bob", connected: false, now: clock.now()).count == 2)
        #expect(floor.setPresence(user: "root", connected: true, now: clock.now()).isEmpty)
        #expect(floor.setPresence(user: "qbot", connected: true, now: clock.now()).isEmpty)
    }

    @Test func messagesAreCheckedAndScoped() throws {
        var floor = makeFloor()
        let event = try floor.sendMessage(user: "qbot", team: "floor-a", text: "queue is calm", now: clock.now())
        #expect(event.seq == 1)
        #expect(throws: RPCError.self) { try floor.sendMessage(user: "alice", team: "floor-b", text: "hi", now: clock.now()) }
        #expect(throws: RPCError.self) { try floor.sendMessage(user: "alice", team: "nowhere", text: "hi", now: clock.now()) }
        #expect(throws: RPCError.self) {
            try floor.sendMessage(user: "alice", team: "floor-a", text: String(repeating: "x", count: 501), now: clock.now())
        }
    }

    @Test func policyChangesAreVersionedAndSupervisorOnly() throws {
        var floor = makeFloor()
        #expect(throws: RPCError.self) {
            try floor.setPolicy(by: "alice", team: "floor-a", patch: ["max_on_break": 3], comment: "more", now: clock.now())
        }
        let event = try floor.setPolicy(
            by: "sam", team: "floor-a", patch: ["max_on_break": 3], comment: "busy day", now: clock.now())
        #expect(floor.teams["floor-a"]?.policy.version == 2)
        #expect(floor.teams["floor-a"]?.policy.maxOnBreak == 3)
        guard case .policy(let version, _, let comment, _) = event.payload else { throw RPCError.internalError }
        #expect(version == 2 && comment == "busy day")
    }

    @Test func applyingCommittedEventsReproducesTheWorkingFloor() throws {
        var working = makeFloor()
        var committed = working
        var events: [Event] = []
        events += try working.setOwnStatus(user: "alice", StatusRequest(status: .lunch, note: "lunch"), now: clock.now()).1
        events += working.setPresence(user: "alice", connected: true, now: clock.now())
        events.append(try working.setPolicy(by: "sam", team: "floor-a", patch: ["min_available": 1], comment: "c", now: clock.now()))
        for event in events { committed.apply(event) }
        #expect(committed == working)
    }

    @Test func snapshotShowsTheFloorButNeverBotsOrAlertsToAgents() {
        var floor = makeFloor()
        _ = floor.setPresence(user: "alice", connected: true, now: clock.now())
        floor.live = ["alice"]
        let agentView = floor.snapshot(of: "floor-a", viewer: .agent)
        let members = agentView["members"]?.arrayValue ?? []
        #expect(members.compactMap { $0["user"]?.stringValue } == ["alice", "bob", "sam"])
        #expect(members.first?["connected"] == true)
        #expect(agentView["alerts"] == nil)
        floor.live = []
        #expect(floor.snapshot(of: "floor-a", viewer: .supervisor)["alerts"] == [])
    }

    @Test func coverageCountsConnectedAvailableAgents() throws {
        var floor = makeFloor()
        floor.teams["floor-a"]?.policy = Policy()
        _ = try floor.setOwnStatus(user: "alice", StatusRequest(status: .available), now: clock.now())
        _ = try floor.setOwnStatus(user: "bob", StatusRequest(status: .available), now: clock.now())
        _ = try floor.setOwnStatus(user: "sam", StatusRequest(status: .available), now: clock.now())
        floor.live = ["alice", "bob", "sam"]
        #expect(floor.coverage(of: "floor-a")?.available == 2)
        floor.live = ["alice", "bob"]
        #expect(floor.coverage(of: "floor-a")?.state == .atRisk)
        floor.live = ["alice"]
        #expect(floor.coverage(of: "floor-a")?.state == .breach)
    }

    @Test func reconcileKeepsStatusesAndTakesMembership() throws {
        var floor = makeFloor()
        _ = try floor.setOwnStatus(user: "alice", StatusRequest(status: .lunch), now: clock.now())
        var loaded = makeFloor()
        loaded.users["alice"]?.teams = ["floor-a", "floor-b"]
        loaded.teams["floor-b"]?.members.insert("alice")
        loaded.users["bob"] = nil
        loaded.teams["floor-a"]?.members.remove("bob")
        loaded.teams["floor-b"]?.members.remove("bob")
        floor.reconcileStructure(with: loaded)
        #expect(floor.users["alice"]?.status.status == .lunch)
        #expect(floor.users["alice"]?.teams == ["floor-a", "floor-b"])
        #expect(floor.users["bob"] == nil)
        #expect(floor.teams["floor-a"]?.seq == 1)
    }
}

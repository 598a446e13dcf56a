import HuddleProtocol
import Testing

@testable import HuddleCore

/// The decisions of SPEC §3, as a table: every rule, its edge, and every exemption.
@Suite struct CoverageRulesTests {
    static let t0 = Timestamp(milliseconds: 1_795_425_302_120)

    /// A team of agents a1…aN (all `available` and connected unless said otherwise) and a supervisor.
    static func floor(agents: Int, minAvailable: Int64 = 2, maxOnBreak: Int64 = 2, statuses: [String: Status] = [:])
        -> Floor
    {
        var floor = Floor()
        var team = TeamState(name: "t", epoch: "e")
        team.policy.minAvailable = .fixed(minAvailable)
        team.policy.maxOnBreak = maxOnBreak
        for i in 1...agents {
            let name = "a\(i)"
            team.members.insert(name)
            var record = StatusRecord.initial(at: t0)
            record.status = statuses[name] ?? .available
            floor.users[name] = UserState(name: name, role: .agent, teams: ["t"], status: record)
        }
        team.members.insert("sup")
        floor.users["sup"] = UserState(name: "sup", role: .supervisor, teams: ["t"], status: .initial(at: t0))
        floor.teams["t"] = team
        return floor
    }

    static func live(_ n: Int) -> Set<String> { Set((1...n).map { "a\($0)" } + ["sup"]) }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var agents: Int
        var minAvailable: Int64 = 2
        var maxOnBreak: Int64 = 2
        var statuses: [String: Status] = [:]
        var offline: Set<String> = []
        var queuePressure = false
        var nodeOutage = false
        var target: Status
        var expected: CoverageDenial.Rule?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "break with enough cover", agents: 4, target: .onBreak, expected: nil),
        Case(name: "break leaving exactly the minimum", agents: 3, target: .onBreak, expected: nil),
        Case(name: "break going below the minimum", agents: 2, target: .onBreak, expected: .minAvailable),
        Case(name: "lunch going below the minimum", agents: 2, target: .lunch, expected: .minAvailable),
        Case(
            name: "break at max_on_break", agents: 6, statuses: ["a5": .onBreak, "a6": .lunch], target: .onBreak,
            expected: .maxOnBreak),
        Case(name: "break one under max_on_break", agents: 6, statuses: ["a6": .lunch], target: .onBreak, expected: nil),
        Case(name: "meeting ignores max_on_break", agents: 6, statuses: ["a5": .onBreak, "a6": .lunch], target: .meeting, expected: nil),
        Case(name: "meeting below the minimum", agents: 2, target: .meeting, expected: .minAvailable),
        Case(name: "training below the minimum", agents: 2, target: .training, expected: .minAvailable),
        Case(name: "admin below the minimum", agents: 2, target: .admin, expected: .minAvailable),
        Case(name: "after-call work is always granted", agents: 1, target: .afterCallWork, expected: nil),
        Case(name: "offline is always granted", agents: 1, target: .offline, expected: nil),
        Case(name: "available is always granted", agents: 1, statuses: ["a1": .onBreak], target: .available, expected: nil),
        Case(name: "queue pressure stops breaks", agents: 5, queuePressure: true, target: .onBreak, expected: .queuePressure),
        Case(name: "queue pressure stops lunches", agents: 5, queuePressure: true, target: .lunch, expected: .queuePressure),
        Case(name: "queue pressure does not stop meetings", agents: 5, queuePressure: true, target: .meeting, expected: nil),
        Case(name: "node outage freezes breaks", agents: 5, nodeOutage: true, target: .onBreak, expected: .nodeOutage),
        Case(name: "node outage freezes training", agents: 5, nodeOutage: true, target: .training, expected: .nodeOutage),
        Case(name: "node outage does not freeze after-call work", agents: 5, nodeOutage: true, target: .afterCallWork, expected: nil),
        Case(
            name: "node outage is reported before every other rule", agents: 1, queuePressure: true, nodeOutage: true,
            target: .onBreak, expected: .nodeOutage),
        Case(name: "queue pressure before min_available", agents: 1, queuePressure: true, target: .onBreak, expected: .queuePressure),
        Case(
            name: "min_available before max_on_break", agents: 3, maxOnBreak: 1, statuses: ["a3": .onBreak],
            target: .onBreak, expected: .minAvailable),
        Case(
            name: "a disconnected agent does not count as available", agents: 3, offline: ["a3"], target: .onBreak,
            expected: .minAvailable),
        Case(
            name: "an agent not counted leaving changes nothing", agents: 3, statuses: ["a1": .afterCallWork],
            target: .onBreak, expected: nil),
        Case(name: "break to lunch stays within max_on_break", agents: 5, maxOnBreak: 1, statuses: ["a1": .onBreak], target: .lunch, expected: nil),
        Case(name: "min_available zero allows the last agent", agents: 1, minAvailable: 0, target: .onBreak, expected: nil),
    ]

    @Test(arguments: cases)
    func decides(_ c: Case) {
        var floor = Self.floor(agents: c.agents, minAvailable: c.minAvailable, maxOnBreak: c.maxOnBreak, statuses: c.statuses)
        floor.teams["t"]?.queuePressure = c.queuePressure
        floor.teams["t"]?.nodeOutage = c.nodeOutage
        let live = Self.live(c.agents).subtracting(c.offline)
        floor.live = live
        let denial = floor.check("a1", to: c.target, now: Self.t0)
        #expect(denial?.rule == c.expected)
        if let denial {
            // The figures are those before the change.
            #expect(denial.figures == floor.coverage(of: "t"))
            let error = denial.rpcError
            #expect(error.code == .deniedByCoverage)
            #expect(error.data?["rule"] == .string(c.expected?.rawValue ?? ""))
        }
    }

    @Test func supervisorsAreExemptAndForcedChangesAlwaysApply() throws {
        var floor = Self.floor(agents: 1)
        let live = Self.live(1)
        floor.live = live
        #expect(floor.check("sup", to: .onBreak, now: Self.t0) == nil)
        _ = try floor.setOwnStatus(user: "sup", StatusRequest(status: .lunch), now: Self.t0)
        let forced = try floor.forceStatus(by: "sup", target: "a1", status: .onBreak, note: "go", now: Self.t0)
        #expect(!forced.isEmpty)
        #expect(floor.users["a1"]?.status.status == .onBreak)
    }

    @Test func aDenialChangesNothing() {
        var floor = Self.floor(agents: 2)
        floor.live = Self.live(2)
        let before = floor
        #expect(throws: RPCError.self) {
            try floor.setOwnStatus(user: "a1", StatusRequest(status: .onBreak), now: Self.t0)
        }
        #expect(floor == before)
    }

    @Test func wellbeingBreaksAreAlwaysGrantedAndAlertSupervisorsOnly() throws {
        var floor = Self.floor(agents: 1)
        floor.teams["t"]?.nodeOutage = true
        floor.live = Self.live(1)
        let (decision, events) = try floor.setOwnStatus(
            user: "a1", StatusRequest(status: .onBreak, note: "", reason: .abusiveCall), now: Self.t0)
        #expect(decision == .granted)
        let status = try #require(events.first { $0.payload.type == "status" })
        #expect(status.stream == .team)
        #expect(status.params["reason"] == nil)  // teammates see a plain break
        let alert = try #require(events.first { $0.payload.type == "alert" })
        #expect(alert.stream == .supervisors)
        #expect(alert.params["reason"] == "abusive_call")
        #expect(alert.params["kind"] == "wellbeing_break")
        // Only supervisors see the reason in a snapshot.
        floor.live = Self.live(1)
        let agentView = floor.snapshot(of: "t", viewer: .agent)
        #expect(agentView["members"]?.arrayValue?.contains { $0["reason"] != nil } == false)
        let supervisorView = floor.snapshot(of: "t", viewer: .supervisor)
        #expect(supervisorView["members"]?.arrayValue?.first { $0["user"] == "a1" }?["reason"] == "abusive_call")
        #expect(supervisorView["alerts"]?.arrayValue?.count == 1)
    }

    @Test func multiTeamUsersMeetEveryTeamsRules() {
        var floor = Self.floor(agents: 4)
        floor.teams["u"] = TeamState(name: "u", epoch: "f", members: ["a1"])
        floor.users["a1"]?.teams = ["t", "u"]
        // Team u has only a1: its minimum of 2 refuses, although team t would allow.
        floor.live = Self.live(4)
        let denial = floor.check("a1", to: .onBreak, now: Self.t0)
        #expect(denial?.team == "u")
        #expect(denial?.rule == .minAvailable)
    }
}

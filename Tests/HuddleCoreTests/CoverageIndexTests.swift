import HuddleProtocol
import Testing

@testable import HuddleCore

/// The coverage index is a cache of what walking the members gives; these hold it to that.
@Suite struct CoverageIndexTests {
    static let t0 = Timestamp(milliseconds: 1_795_425_302_120)

    /// Two teams sharing some agents, a supervisor in each, everyone connected and available.
    static func floor() -> Floor {
        var floor = Floor()
        var a = TeamState(name: "a", epoch: "e")
        var b = TeamState(name: "b", epoch: "e")
        a.policy.minAvailable = .fixed(0)
        b.policy.minAvailable = .fixed(0)
        a.policy.maxOnBreak = 100
        b.policy.maxOnBreak = 100
        for i in 0..<12 {
            let name = "agent\(i)"
            let teams = i < 4 ? ["a"] : i < 8 ? ["a", "b"] : ["b"]
            if teams.contains("a") { a.members.insert(name) }
            if teams.contains("b") { b.members.insert(name) }
            var record = StatusRecord.initial(at: t0)
            record.status = .available
            floor.users[name] = UserState(name: name, role: .agent, teams: teams, status: record)
            floor.live.insert(name)
        }
        for (team, sup) in [("a", "sup-a"), ("b", "sup-b")] {
            floor.users[sup] = UserState(name: sup, role: .supervisor, teams: [team], status: .initial(at: t0))
            floor.live.insert(sup)
        }
        a.members.insert("sup-a")
        b.members.insert("sup-b")
        floor.teams = ["a": a, "b": b]
        return floor
    }

    /// Every team's figures by the index, when it is current, and by walking the members.
    static func expectIndexMatchesWalk(_ floor: Floor, _ step: Int) {
        for (name, team) in floor.teams {
            let walked = floor.countMembers(of: team)
            if let indexed = floor.coverageIndex?[name] {
                #expect(indexed == walked, "team \(name) after step \(step)")
            }
            #expect(floor.coverage(of: name)?.available == walked.available)
            #expect(floor.coverage(of: name)?.onBreak == walked.onBreak)
        }
    }

    @Test func indexFollowsStatusesSessionsAndForcedChanges() throws {
        var floor = Self.floor()
        var generator = SeededGenerator(seed: 7)
        let statuses: [Status] = [.available, .onBreak, .lunch, .meeting, .afterCallWork, .offline, .admin]
        let people = floor.users.keys.sorted()
        var now = Self.t0
        for step in 0..<2_000 {
            now = now.adding(milliseconds: 100)
            let who = people[Int.random(in: 0..<people.count, using: &generator)]
            switch Int.random(in: 0..<4, using: &generator) {
            case 0:
                floor.setLive(who, !floor.live.contains(who))
            case 1:
                let status = statuses[Int.random(in: 0..<statuses.count, using: &generator)]
                _ = try? floor.forceStatus(
                    by: floor.users[who]?.teams.first == "a" ? "sup-a" : "sup-b", target: who, status: status, note: "",
                    now: now)
            default:
                let status = statuses[Int.random(in: 0..<statuses.count, using: &generator)]
                _ = try? floor.setOwnStatus(user: who, StatusRequest(status: status), now: now)
                _ = floor.settle(["a", "b"], now: now)
            }
            #expect(floor.coverageIndex != nil, "the floor's own changes keep the index")
            Self.expectIndexMatchesWalk(floor, step)
        }
    }

    @Test func directEditsDropTheIndexAndTheFiguresStayRight() throws {
        var floor = Self.floor()
        _ = try floor.setOwnStatus(user: "agent0", StatusRequest(status: .onBreak), now: Self.t0)
        #expect(floor.coverageIndex != nil)
        floor.users["agent1"]?.status.status = .lunch
        #expect(floor.coverageIndex == nil)
        Self.expectIndexMatchesWalk(floor, 0)
        #expect(floor.coverage(of: "a")?.onBreak == 2)
        floor.live.remove("agent2")
        #expect(floor.coverage(of: "a")?.available == 5)
        _ = try floor.setOwnStatus(user: "agent0", StatusRequest(status: .available), now: Self.t0)
        #expect(floor.coverageIndex?["a"] == CoverageCounts(available: 6, onBreak: 1))
        Self.expectIndexMatchesWalk(floor, 1)
    }
}

/// A small deterministic generator (SplitMix64), so that a failing sequence can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

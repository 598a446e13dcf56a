import HuddleCore
import HuddleProtocol

#if canImport(Glibc)
import Glibc
#endif

/// The cost of one status change through the coverage rules, in HuddleCore alone (no sockets,
/// no SQLite): what the hub does under its lock for a `status.set` — the decision, the events,
/// and the settling of the user's team (coverage figures, the waitlist's progress).
///   swift run -c release huddle-decision-bench [CHANGES]
@main
enum DecisionBench {
    static func nowNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func main() throws {
        let changes = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1_000_000 : 1_000_000
        let teams = 100
        let agentsPerTeam = 20
        var floor = Floor()
        let t0 = Timestamp(milliseconds: 1_795_425_302_120)
        for t in 0..<teams {
            var team = TeamState(name: "team-\(t)", epoch: "e\(t)")
            team.policy.minAvailable = .fixed(5)
            team.policy.maxOnBreak = 4
            for a in 0..<agentsPerTeam {
                let name = "agent-\(t)-\(a)"
                team.members.insert(name)
                var record = StatusRecord.initial(at: t0)
                record.status = .available
                floor.users[name] = UserState(name: name, role: .agent, teams: [team.name], status: record)
                floor.live.insert(name)
            }
            floor.teams[team.name] = team
        }
        // The random picks and the names are made before the clock starts: the system generator
        // is a `getrandom` call each, and building a name is not what is measured.
        let agentNames = (0..<teams).map { t in (0..<agentsPerTeam).map { a in "agent-\(t)-\(a)" } }
        let teamNames = (0..<teams).map { "team-\($0)" }
        var generator = SystemRandomNumberGenerator()
        let picks = (0..<changes).map { _ in
            (Int.random(in: 0..<teams, using: &generator), Int.random(in: 0..<agentsPerTeam, using: &generator))
        }
        var granted = 0
        var denied = 0
        var queued = 0
        var events = 0
        let start = nowNanos()
        for i in 0..<changes {
            let (t, a) = picks[i]
            let name = agentNames[t][a]
            let now = t0.adding(milliseconds: Int64(i))
            let current = floor.users[name]?.status.status ?? .available
            let target: Status = current == .available ? (i % 3 == 0 ? .lunch : .onBreak) : .available
            let request = StatusRequest(status: target, queue: i % 5 == 0)
            do {
                let (decision, produced) = try floor.setOwnStatus(user: name, request, now: now)
                if decision == .granted { granted += 1 } else { queued += 1 }
                events += produced.count
                events += floor.settle([teamNames[t]], now: now).count
            } catch {
                denied += 1
            }
        }
        let elapsed = Double(nowNanos() - start) / 1e9
        let perChange = elapsed / Double(changes) * 1e6

        // `phone.update` from a bridge: every agent's calls go ringing, talking, on hold, talking
        // and ended (After Call Work for those still Available), with the settling of the team
        // (`on_call` moves the coverage figures).
        for t in 0..<teams {
            floor.users["bridge-\(t)"] = UserState(name: "bridge-\(t)", role: .bot, teams: [teamNames[t]], status: .initial(at: t0))
            floor.teams[teamNames[t]]?.members.insert("bridge-\(t)")
        }
        let cycle: [CallState?] = [.ringing, .talking, .onHold, .talking, nil]
        let updates = changes
        var phoneEvents = 0
        let phoneStart = nowNanos()
        for i in 0..<updates {
            let (t, a) = picks[i]
            let now = t0.adding(milliseconds: Int64(changes + i))
            let step = cycle[(i / (teams * agentsPerTeam)) % cycle.count]
            let call: PhoneUpdate.Call =
                step.map { .live(id: "call-\(t)-\(a)-\(i / (teams * agentsPerTeam * cycle.count))", state: $0, muted: false) }
                ?? .endedAny
            do {
                let produced = try floor.updatePhone(by: "bridge-\(t)", PhoneUpdate(user: agentNames[t][a], call: call), now: now)
                phoneEvents += produced.count
                phoneEvents += floor.settle([teamNames[t]], now: now).count
            } catch {
                denied += 1
            }
        }
        let phoneElapsed = Double(nowNanos() - phoneStart) / 1e9
        let perUpdate = phoneElapsed / Double(updates) * 1e6
        print(
            "decision cost: \(String(format: "%.2f", perChange)) µs per status change (\(changes) changes over \(teams) teams of \(agentsPerTeam): \(granted) granted, \(queued) queued, \(denied) denied, \(events) events) in \(String(format: "%.2f", elapsed)) s"
        )
        print(
            "phone.update decision cost: \(String(format: "%.2f", perUpdate)) µs per update (\(updates) updates, \(phoneEvents) events) in \(String(format: "%.2f", phoneElapsed)) s"
        )
        print(#"{"bench":"decision","microseconds_per_change":\#(perChange),"microseconds_per_phone_update":\#(perUpdate),"changes":\#(changes),"granted":\#(granted),"queued":\#(queued),"denied":\#(denied)}"#)
    }
}

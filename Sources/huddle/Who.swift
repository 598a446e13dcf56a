import ArgumentParser
import HuddleClient
import HuddleProtocol

struct Who: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show who is on the floor: status, note, for how long, and whether connected (●).")

    @OptionGroup var options: GlobalOptions

    @OptionGroup var shown: ShownTeams

    mutating func run() async throws {
        let json = options.json
        try await SignedIn.run(options) { session in
            let teams = try session.teams(shown)
            var joins: [JoinResult] = []
            for name in teams {
                joins.append(try await session.connection.join(team: name))
            }
            if json {
                if joins.count == 1 {
                    Console.json(joins[0].snapshot)
                } else {
                    Console.json(.object(Dictionary(uniqueKeysWithValues: joins.map { ($0.team, $0.snapshot) })))
                }
                return
            }
            let now = ClockText.now()
            for (index, join) in joins.enumerated() {
                if joins.count > 1 {
                    if index > 0 { Console.out("") }
                    Console.out(session.clean(join.team))
                }
                Console.out(join.members.isEmpty ? "(nobody on the floor)" : MemberText.table(join.members, now: now))
            }
        }
    }
}

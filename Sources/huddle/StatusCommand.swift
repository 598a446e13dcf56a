import ArgumentParser
import HuddleClient
import HuddleProtocol

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show your status, its note and for how long.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "Read it from this team's snapshot (default: your first team).")
    var team: String?

    mutating func run() async throws {
        let team = self.team
        let json = options.json
        try await SignedIn.run(options) { session in
            let user = session.hello.user
            guard let team = team ?? session.hello.teams.first else {
                if json {
                    Console.json(["user": .string(user), "role": .string(session.hello.roleName), "status": nil])
                } else {
                    Console.out("\(session.clean(user)) (\(session.clean(session.hello.roleName))) has no status.")
                }
                return
            }
            let join = try await session.connection.join(team: team)
            guard let me = join.members.first(where: { $0.user == user }) else {
                throw CLIFailure(
                    code: ExitStatus.failure, message: "\(session.clean(user)) is not on the floor of \(session.clean(team))")
            }
            if json {
                let raw = join.snapshot["members"]?.arrayValue?.first { $0["user"]?.stringValue == user }
                Console.json(raw ?? .null)
                return
            }
            let line = MemberText.statusLine(me, now: ClockText.now()) { time in
                ClockText.hourMinute(time, offsetSeconds: ClockText.localOffsetSeconds(at: time))
            }
            Console.out("\(session.clean(user)): \(line)")
        }
    }
}

import ArgumentParser
import HuddleClient
import HuddleProtocol

struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "List the open alerts of your teams (supervisors): number, kind, severity, who, age, text.",
        discussion: """
            Alerts stay open until a supervisor acknowledges them with huddle ack NUMBER [NOTE]; \
            huddle watch shows new ones as they come.
            """)

    @OptionGroup var options: GlobalOptions

    @OptionGroup var shown: ShownTeams

    mutating func run() async throws {
        let json = options.json
        try await SignedIn.run(options) { session in
            let onlySupervisors = CLIFailure(code: ExitStatus.unauthorized, message: "Only supervisors see alerts.")
            guard session.hello.role?.seesSupervisorStream == true else { throw onlySupervisors }
            let teams = try session.teams(shown)
            var alerts: [OpenAlert] = []
            var raw: [JSONValue] = []
            for name in teams {
                let join = try await session.connection.join(team: name)
                guard let open = join.alerts else { throw onlySupervisors }
                alerts += open
                raw += join.snapshot["alerts"]?.arrayValue ?? []
            }
            if json {
                Console.json(.array(raw))
                return
            }
            guard !alerts.isEmpty else {
                Console.out(teams.count == 1 ? "No open alerts on \(session.clean(teams[0]))." : "No open alerts.")
                return
            }
            Console.out(AlertText.table(alerts, now: ClockText.now(), showTeam: teams.count > 1))
            Console.out("Acknowledge one with huddle ack NUMBER [NOTE].")
        }
    }
}

import ArgumentParser
import HuddleClient

@main
struct Huddle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "huddle",
        abstract: "Tell your team what you are doing, and see what they are doing.",
        discussion: """
            Exit codes: 0 done, 1 other failure, 2 usage, 3 denied by coverage, 4 not authenticated or \
            forbidden, 5 server unreachable or TLS failure.
            """,
        version: "0.1.0",
        subcommands: [
            Login.self, Logout.self, StatusCommand.self, Break.self, Lunch.self, Back.self, Meeting.self,
            Training.self, Admin.self, AfterCallWork.self, Offline.self, Say.self, Who.self, Watch.self,
            WaitlistCommand.self, Alerts.self, Ack.self, Force.self, PolicyCommand.self, ReportCommand.self,
            Board.self, QueueCommand.self, Phone.self,
        ])

    @OptionGroup var options: GlobalOptions

    /// ArgumentParser exits 64 on usage errors; SPEC §8 says 2.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                Console.err(fullMessage(for: error))
                exit(withError: ExitCode(ExitStatus.usage))
            }
            exit(withError: error)
        }
    }
}

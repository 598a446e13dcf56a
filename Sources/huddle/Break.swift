import ArgumentParser
import HuddleClient
import HuddleProtocol

struct Break: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "break",
        abstract: "Take a break, e.g. huddle break 15 be right back.",
        discussion: """
            A first word that is a whole number is the minutes planned (huddle break 15 coffee); the rest is \
            the note your team sees. If coverage does not allow it, the answer says why (exit 3); --queue \
            waits your turn instead.

            After an abusive call, huddle break --abusive [MINUTES] [NOTE] is always granted. Your team sees \
            an ordinary break (with your note, if you give one); only supervisors learn why, and they are \
            alerted at once.
            """)

    @OptionGroup var options: GlobalOptions

    @Flag(help: "If it cannot be granted now, wait in the team's fair queue instead of being refused.")
    var queue = false

    @Flag(help: "After an abusive call: always granted, and only supervisors see why.")
    var abusive = false

    @Argument(help: ArgumentHelp("Optionally the minutes planned, then a note for your team (e.g. 15 be right back).", valueName: "minutes-and-note"))
    var words: [String] = []

    mutating func run() async throws {
        try await StatusChange(
            status: .onBreak, words: words, takesMinutes: true, queue: queue && !abusive,
            reason: abusive ? .abusiveCall : nil
        ).run(options)
    }
}

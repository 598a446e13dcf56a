import ArgumentParser
import HuddleClient
import HuddleProtocol

struct Lunch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lunch",
        abstract: "Go to lunch.")

    @OptionGroup var options: GlobalOptions

    @Flag(help: "If it cannot be granted now, wait in the team's fair queue instead of being refused.")
    var queue = false

    @Argument(help: ArgumentHelp("Optionally the minutes planned, then a note for your team (e.g. 15 be right back).", valueName: "minutes-and-note"))
    var words: [String] = []

    mutating func run() async throws {
        try await StatusChange(status: .lunch, words: words, takesMinutes: true, queue: queue).run(options)
    }
}

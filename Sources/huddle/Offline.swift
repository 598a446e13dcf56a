import ArgumentParser
import HuddleClient
import HuddleProtocol

struct Offline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offline",
        abstract: "Sign off the floor: Offline.")

    @OptionGroup var options: GlobalOptions

    @Argument(help: "An optional note for your team.")
    var note: [String] = []

    mutating func run() async throws {
        try await StatusChange(status: .offline, words: note, takesMinutes: false).run(options)
    }
}

import ArgumentParser
import HuddleClient
import HuddleProtocol

struct Back: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "back",
        abstract: "Back on the phones: Available.")

    @OptionGroup var options: GlobalOptions

    @Argument(help: "An optional note for your team.")
    var note: [String] = []

    mutating func run() async throws {
        try await StatusChange(status: .available, words: note, takesMinutes: false).run(options)
    }
}

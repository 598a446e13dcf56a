import ArgumentParser
import HuddleClient
import HuddleProtocol

struct AfterCallWork: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acw",
        abstract: "After call work: off the phones briefly, back to Available automatically.")

    @OptionGroup var options: GlobalOptions

    @Argument(help: "An optional note for your team.")
    var note: [String] = []

    mutating func run() async throws {
        try await StatusChange(status: .afterCallWork, words: note, takesMinutes: false).run(options)
    }
}

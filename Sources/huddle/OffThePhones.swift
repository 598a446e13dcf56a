import ArgumentParser
import HuddleClient
import HuddleProtocol

/// What tells `huddle lunch`, `meeting`, `training` and `admin` apart: the status, its command
/// name and its help line. Everything else about them is the same command.
protocol OffThePhonesStatus {
    static var status: Status { get }
    static var commandName: String { get }
    static var abstract: String { get }
}

/// A timed status that takes an agent off the phones, with the minutes planned and a note.
struct OffThePhones<Kind: OffThePhonesStatus>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Kind.commandName, abstract: Kind.abstract)
    }

    @OptionGroup var options: GlobalOptions

    @Flag(help: "If it cannot be granted now, wait in the team's fair queue instead of being refused.")
    var queue = false

    @Argument(help: ArgumentHelp("Optionally the minutes planned, then a note for your team (e.g. 15 be right back).", valueName: "minutes-and-note"))
    var words: [String] = []

    mutating func run() async throws {
        try await StatusChange(status: Kind.status, words: words, takesMinutes: true, queue: queue).run(options)
    }
}

enum LunchStatus: OffThePhonesStatus {
    static let status = Status.lunch
    static let commandName = "lunch"
    static let abstract = "Go to lunch."
}

enum MeetingStatus: OffThePhonesStatus {
    static let status = Status.meeting
    static let commandName = "meeting"
    static let abstract = "Go to a meeting."
}

enum TrainingStatus: OffThePhonesStatus {
    static let status = Status.training
    static let commandName = "training"
    static let abstract = "Go to catalog training."
}

enum AdminStatus: OffThePhonesStatus {
    static let status = Status.admin
    static let commandName = "admin"
    static let abstract = "Do admin work off the phones."
}

typealias Lunch = OffThePhones<LunchStatus>
typealias Meeting = OffThePhones<MeetingStatus>
typealias Training = OffThePhones<TrainingStatus>
typealias Admin = OffThePhones<AdminStatus>

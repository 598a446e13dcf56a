import ArgumentParser
import HuddleClient
import HuddleProtocol

/// What tells the one-status commands apart (`huddle lunch`, `back`, `acw`, …): the status, its
/// command name and its help line. Everything else about them is one of the two commands below.
protocol StatusCommandKind {
    static var command: (status: Status, name: String, abstract: String) { get }
}

/// A timed status that takes an agent off the phones, with the minutes planned and a note.
struct OffThePhones<Kind: StatusCommandKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Kind.command.name, abstract: Kind.command.abstract)
    }

    @OptionGroup var options: GlobalOptions

    @Flag(help: "If it cannot be granted now, wait in the team's fair queue instead of being refused.")
    var queue = false

    @Argument(help: ArgumentHelp("Optionally the minutes planned, then a note for your team (e.g. 15 be right back).", valueName: "minutes-and-note"))
    var words: [String] = []

    mutating func run() async throws {
        try await StatusChange(status: Kind.command.status, words: words, takesMinutes: true, queue: queue).run(options)
    }
}

/// A status with no time planned and nothing to queue for: back, after call work, offline.
struct NoteOnly<Kind: StatusCommandKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Kind.command.name, abstract: Kind.command.abstract)
    }

    @OptionGroup var options: GlobalOptions

    @Argument(help: "An optional note for your team.")
    var note: [String] = []

    mutating func run() async throws {
        try await StatusChange(status: Kind.command.status, words: note, takesMinutes: false).run(options)
    }
}

enum LunchStatus: StatusCommandKind {
    static let command = (status: Status.lunch, name: "lunch", abstract: "Go to lunch.")
}

enum MeetingStatus: StatusCommandKind {
    static let command = (status: Status.meeting, name: "meeting", abstract: "Go to a meeting.")
}

enum TrainingStatus: StatusCommandKind {
    static let command = (status: Status.training, name: "training", abstract: "Go to catalog training.")
}

enum AdminStatus: StatusCommandKind {
    static let command = (status: Status.admin, name: "admin", abstract: "Do admin work off the phones.")
}

enum BackStatus: StatusCommandKind {
    static let command = (status: Status.available, name: "back", abstract: "Back on the phones: Available.")
}

enum AfterCallWorkStatus: StatusCommandKind {
    static let command = (
        status: Status.afterCallWork, name: "acw",
        abstract: "After call work: off the phones briefly, back to Available automatically.")
}

enum OfflineStatus: StatusCommandKind {
    static let command = (status: Status.offline, name: "offline", abstract: "Sign off the floor: Offline.")
}

typealias Lunch = OffThePhones<LunchStatus>
typealias Meeting = OffThePhones<MeetingStatus>
typealias Training = OffThePhones<TrainingStatus>
typealias Admin = OffThePhones<AdminStatus>
typealias Back = NoteOnly<BackStatus>
typealias AfterCallWork = NoteOnly<AfterCallWorkStatus>
typealias Offline = NoteOnly<OfflineStatus>

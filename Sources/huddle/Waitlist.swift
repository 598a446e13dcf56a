import ArgumentParser
import HuddleClient
import HuddleProtocol

struct WaitlistCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waitlist",
        abstract: "Show your team's break queue, or leave it (huddle waitlist cancel).",
        discussion: """
            huddle break --queue (or lunch, meeting, training, admin) joins the queue when coverage does not \
            allow the change yet. First come, first served: when it is your turn your slot is held for 2 \
            minutes (huddle watch tells you); take it by running the same command again.
            """,
        subcommands: [WaitlistShow.self, WaitlistCancel.self],
        defaultSubcommand: WaitlistShow.self)
}

struct WaitlistShow: OneTeamCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show the queue: position, who, for what, waiting since when, and whose slot is held.")

    @OptionGroup var options: GlobalOptions

    @OptionGroup var team: OneTeam

    func run(_ session: SignedIn, on target: String, json: Bool) async throws {
        let join = try await session.connection.join(team: target)
        if json {
            Console.json(join.snapshot["waitlist"] ?? .array([]))
            return
        }
        let places = join.waitlist
        guard !places.isEmpty else {
            Console.out("Nobody is waiting on \(session.clean(target)).")
            return
        }
        Console.out("\(session.clean(target)): \(places.count) waiting")
        Console.out(
            WaitlistText.table(
                places, now: ClockText.now(), viewer: session.hello.user, clock: ClockText.localTimeOfDay))
    }
}

struct WaitlistCancel: OneTeamCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Leave the team's break queue (a held slot is given to the next in line).")

    @OptionGroup var options: GlobalOptions

    @OptionGroup var team: OneTeam

    func run(_ session: SignedIn, on target: String, json: Bool) async throws {
        let join = try await session.connection.join(team: target)
        let waiting = join.waitlist.contains { $0.user == session.hello.user }
        try await session.connection.cancelWaitlist(team: target)
        if json {
            Console.json(["team": .string(target), "left": .bool(waiting)])
        } else if waiting {
            Console.out("Left the waitlist of \(session.clean(target)).")
        } else {
            Console.out("You were not on the waitlist of \(session.clean(target)).")
        }
    }
}

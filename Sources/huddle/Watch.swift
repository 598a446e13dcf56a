import ArgumentParser
import Dispatch
import Foundation
import HuddleClient
import HuddleProtocol

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow your teams live, one line per event; reconnects by itself. Ctrl-C to stop.",
        discussion: "With --json, one JSON object per event on standard output; everything else goes to standard error.")

    @OptionGroup var options: GlobalOptions

    @Option(name: .customLong("team"), help: "Only this team; repeat for several (default: all your teams).")
    var teams: [String] = []

    mutating func run() async throws {
        let settings: LoginSettings
        do {
            settings = try StoredLogin.settings(for: options)
        } catch {
            throw CLIFailure.from(error, endpoint: nil).report(json: options.json)
        }
        let watcher = TeamWatcher(
            host: settings.endpoint.host, port: settings.endpoint.port, trust: settings.trust,
            token: settings.token, client: SignedIn.clientName, teams: teams.isEmpty ? nil : teams)
        let printer = WatchPrinter(json: options.json)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var viewer: String?
                    try await watcher.run { update in
                        if case .signedIn(let hello) = update { viewer = hello.user }
                        printer.show(update, viewer: viewer)
                    }
                }
                group.addTask {
                    await Interrupt.wait()
                }
                // Whichever ends first (Ctrl-C, or the watcher giving up) ends the other.
                try await group.next()
                group.cancelAll()
            }
        } catch {
            throw CLIFailure.from(error, endpoint: settings.endpoint).report(json: options.json)
        }
    }
}

/// Turns watcher updates into lines: events on stdout; with `--json` only events go to stdout
/// (as JSON) and the rest to stderr.
struct WatchPrinter: Sendable {
    var json: Bool

    /// `viewer` is the signed-in user, so that their own held slot reads "your break slot".
    func show(_ update: WatchUpdate, viewer: String? = nil) {
        switch update {
        case .signedIn(let hello):
            note("signed in as \(clean(hello.user)) (\(clean(hello.roleName)))")
        case .joined(let join):
            let connected = join.members.filter(\.connected).count
            note("\(clean(join.team))  watching: \(join.members.count) on the floor, \(connected) connected")
            askedOnJoin(join, viewer: viewer)
        case .event(let event):
            if json {
                Console.json(event.params)
            } else {
                Console.out(EventText.line(event, viewer: viewer, timeOfDay: ClockText.localTimeOfDay))
            }
        case .reminder(let params):
            note(EventText.reminderLine(params, timeOfDay: ClockText.localTimeOfDay))
        case .queueReportDue(let due):
            note(EventText.queueReportDueLine(due, timeOfDay: ClockText.localTimeOfDay))
        case .disconnected(let reason):
            note("disconnected (\(clean(reason))); reconnecting…")
        case .reconnected(let join, let recovered):
            note("\(clean(join.team))  reconnected (recovered: \(recovered))")
            askedOnJoin(join, viewer: viewer)
        case .gap(let team, let stream, let expected, let received):
            note("\(clean(team))  warning: \(stream.rawValue) stream jumped from seq \(expected - 1) to \(received); events were lost")
        }
    }

    /// A request asked of the viewer before this join (a reconnect, or a watch started late).
    private func askedOnJoin(_ join: JoinResult, viewer: String?) {
        guard let due = QueueReportDue(join: join, viewer: viewer) else { return }
        note(EventText.queueReportDueLine(due, timeOfDay: ClockText.localTimeOfDay))
    }

    private func note(_ text: String) {
        let line = ClockText.localTimeOfDay(ClockText.now()) + " " + text
        if json { Console.err(line) } else { Console.out(line) }
    }

    private func clean(_ text: String) -> String {
        TextRules.sanitizedForTerminal(text)
    }
}

/// Ctrl-C ends `huddle watch` normally (exit 0) instead of killing it.
enum Interrupt {
    /// Returns at the first SIGINT, or when the task is cancelled.
    static func wait() async {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let (interrupts, continuation) = AsyncStream.makeStream(of: Void.self)
        source.setEventHandler { continuation.yield() }
        source.resume()
        for await _ in interrupts { break }
        // SIGINT stays ignored: a shell or `timeout` may deliver it twice (to the process and to
        // its group), and the second must not kill the orderly shutdown the first started.
        source.cancel()
    }
}

import ArgumentParser
import Foundation
import HuddleClient
import HuddleProtocol

/// `huddle queue`: a queue report from a bot or a script, a supervisor, or the agent the daemon
/// asked for it (SPEC §14). Without figures, in a terminal, it asks for them like the floor's
/// 30-minute pop-up page.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Post a queue report, e.g. huddle queue --waiting 14 --oldest 95; in a terminal, just huddle queue.",
        discussion: """
            Bots and supervisors may post at any time; an agent only when the daemon asked them (the team's \
            queue_report_by is agents; huddle watch shows the request). With no --waiting and --oldest, in a \
            terminal (or with --ask), it asks for the calls in queue, the minutes waiting, any node out and \
            its city, and a comment. \
            Calls waiting and the oldest wait make queue pressure (breaks and lunches wait while it lasts); \
            calls per hour and handle time feed Erlang C when the team's min_available is auto; any node out \
            (--node sw-3@Lyon, repeatable) freezes time off the phones until a report with no node out.
            """)

    @OptionGroup var options: GlobalOptions

    @OptionGroup var team: OneTeam

    @Option(name: .customLong("waiting"), help: "Calls waiting now.")
    var callsWaiting: Int?

    @Option(name: .customLong("oldest"), help: "The oldest wait, in seconds.")
    var oldestWait: Int?

    @Flag(help: "Ask for the figures on standard input even when it is not a terminal.")
    var ask = false

    @Option(name: .customLong("calls-per-hour"), help: "Calls offered per hour.")
    var callsPerHour: Double?

    @Option(name: .customLong("aht"), help: "Average handle time, in seconds.")
    var aht: Double?

    @Option(name: .customLong("node"), help: "A network node out, as NODE@CITY (repeatable).")
    var nodes: [String] = []

    @Option(help: "A short note shown with the report.")
    var note: String?

    /// Asking for the figures: none given, and a person at a terminal (or `--ask`).
    var asks: Bool { callsWaiting == nil && oldestWait == nil && (ask || isatty(STDIN_FILENO) == 1) }

    func validate() throws {
        if !asks {
            guard let callsWaiting, let oldestWait else {
                throw ValidationError("give --waiting and --oldest (or run huddle queue in a terminal to be asked for them)")
            }
            guard callsWaiting >= 0, oldestWait >= 0 else { throw ValidationError("--waiting and --oldest cannot be negative") }
            guard !ask else { throw ValidationError("--ask asks for every figure: leave out --waiting and --oldest") }
        }
        for node in nodes where node.split(separator: "@").count != 2 {
            throw ValidationError("--node takes NODE@CITY, e.g. sw-3@Lyon")
        }
        if let note { try NoteCheck.validate(note) }
    }

    mutating func run() async throws {
        var params: [String: JSONValue]
        if asks {
            params = try Self.askForFigures(json: options.json)
        } else {
            params = [
                "calls_waiting": .int(Int64(callsWaiting ?? 0)), "oldest_wait_s": .int(Int64(oldestWait ?? 0)),
                "nodes_out": .array(
                    nodes.map { node in
                        let parts = node.split(separator: "@").map(String.init)
                        return ["node": .string(parts[0]), "city": .string(parts[1])]
                    }),
            ]
        }
        if let callsPerHour { params["calls_per_hour"] = .double(callsPerHour) }
        if let aht { params["aht_s"] = .double(aht) }
        if let note { params["note"] = .string(note) }
        let json = options.json
        try await SignedIn.run(options, in: team) { session, target in
            params["team"] = .string(target)
            let result = try await session.connection.request("queue.report", params)
            if json {
                Console.json(result)
            } else {
                Console.out("Queue report posted to \(session.clean(target)) (seq \(result["seq"]?.intValue ?? 0)).")
            }
        }
    }
}

extension QueueCommand {
    /// The questions go to standard error, so that `--json` keeps standard output for the answer.
    static func askForFigures(json: Bool) throws -> [String: JSONValue] {
        FileHandle.standardError.write(Data("Queue report: the figures as they stand now.\n".utf8))
        do {
            let figures = try QueueForm().run(
                ask: { prompt in
                    FileHandle.standardError.write(Data(prompt.utf8))
                    return readLine(strippingNewline: true)
                },
                say: { problem in FileHandle.standardError.write(Data("  (\(problem))\n".utf8)) })
            return figures.params
        } catch {
            throw CLIFailure.usage(error.description).report(json: json)
        }
    }
}

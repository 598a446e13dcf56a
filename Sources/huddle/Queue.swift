import ArgumentParser
import HuddleClient
import HuddleProtocol

/// `huddle queue`: a queue report from a bot or a script (or a supervisor by hand).
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Post a queue report (bots and supervisors), e.g. huddle queue --waiting 14 --oldest 95.",
        discussion: """
            Calls waiting and the oldest wait make queue pressure (breaks and lunches wait while it lasts); \
            calls per hour and handle time feed Erlang C when the team's min_available is auto; any node out \
            (--node sw-3@Lyon, repeatable) freezes time off the phones until a report with no node out.
            """)

    @OptionGroup var options: GlobalOptions

    @OptionGroup var team: OneTeam

    @Option(name: .customLong("waiting"), help: "Calls waiting now.")
    var callsWaiting: Int

    @Option(name: .customLong("oldest"), help: "The oldest wait, in seconds.")
    var oldestWait: Int

    @Option(name: .customLong("calls-per-hour"), help: "Calls offered per hour.")
    var callsPerHour: Double?

    @Option(name: .customLong("aht"), help: "Average handle time, in seconds.")
    var aht: Double?

    @Option(name: .customLong("node"), help: "A network node out, as NODE@CITY (repeatable).")
    var nodes: [String] = []

    @Option(help: "A short note shown with the report.")
    var note: String?

    func validate() throws {
        guard callsWaiting >= 0, oldestWait >= 0 else { throw ValidationError("--waiting and --oldest cannot be negative") }
        for node in nodes where node.split(separator: "@").count != 2 {
            throw ValidationError("--node takes NODE@CITY, e.g. sw-3@Lyon")
        }
        if let note { try NoteCheck.validate(note) }
    }

    mutating func run() async throws {
        var params: [String: JSONValue] = [
            "calls_waiting": .int(Int64(callsWaiting)), "oldest_wait_s": .int(Int64(oldestWait)),
            "nodes_out": .array(
                nodes.map { node in
                    let parts = node.split(separator: "@").map(String.init)
                    return ["node": .string(parts[0]), "city": .string(parts[1])]
                }),
        ]
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

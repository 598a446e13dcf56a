import ArgumentParser
import HuddleClient
import HuddleProtocol

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Show, change (supervisors) or trace the team's coverage policy.",
        discussion: """
            The policy says how many agents must stay Available, how many may be on break at once, \
            how long each status may last, and when supervisors are alerted. Every change is a new \
            version with its author and comment, announced to the whole team.
            """,
        subcommands: [PolicyShow.self, PolicySet.self, PolicyHistoryCommand.self],
        defaultSubcommand: PolicyShow.self)
}

struct PolicyShow: OneTeamCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show the policy in force, one key per line (durations in seconds).")

    @OptionGroup var options: GlobalOptions

    @OptionGroup var team: OneTeam

    func run(_ session: SignedIn, on target: String, json: Bool) async throws {
        let policy = try await session.connection.policyObject(team: target)
        if json {
            Console.json(policy)
            return
        }
        var title = "Policy of \(session.clean(target))"
        if let version = policy["version"]?.intValue { title += ", version \(version)" }
        Console.out(title + ":")
        for line in PolicyText.lines(policy) { Console.out("  " + line) }
    }
}

struct PolicySet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change policy keys (supervisors), e.g. huddle policy set max_on_break=1 --comment \"two out sick\".",
        discussion: """
            KEY is a dotted path as huddle policy show lists it: max_on_break=1, limits.break=600, \
            wellbeing.escalate_after_s=120, queue_pressure.calls_waiting=8, service_level.target=0.9. \
            VALUE is a whole number, a decimal, auto (min_available=auto), bots or agents (queue_report_by=agents), \
            null (queue_report_every_s=null), \
            true or false. Durations are in seconds. Only the keys given change; the comment says why and \
            is kept in the history.
            """)

    @OptionGroup var options: GlobalOptions

    @Argument(help: ArgumentHelp("What to change.", valueName: "key=value"))
    var assignments: [String]

    @Option(help: "Why (required; the team sees it).")
    var comment: String

    @OptionGroup var team: OneTeam

    func validate() throws {
        do {
            _ = try PolicyAssignments.parse(assignments)
        } catch {
            throw ValidationError(error.message)
        }
        guard !comment.unicodeScalars.allSatisfy(\.properties.isWhitespace) else {
            throw ValidationError("the comment is empty; say why the policy changes")
        }
        try NoteCheck.validate(comment, what: "the comment", maxScalars: TextRules.maxCommentScalars)
    }

    mutating func run() async throws {
        let patch: [String: JSONValue]
        do {
            patch = try PolicyAssignments.parse(assignments)
        } catch {
            throw CLIFailure.usage(error.message).report(json: options.json)
        }
        let comment = self.comment
        let json = options.json
        try await SignedIn.run(options, in: team) { session, target in
            let before = try await session.connection.policyObject(team: target)
            let after: JSONValue
            do {
                after = try await session.connection.setPolicy(team: target, patch: patch, comment: comment)
            } catch let rpc as RPCError where rpc.code == .invalidParams {
                var key = rpc.data?["param"]?.stringValue ?? ""
                if key.hasPrefix("policy.") { key.removeFirst("policy.".count) }
                let said = session.clean(rpc.message)
                throw CLIFailure(
                    code: ExitStatus.usage,
                    message: key.isEmpty
                        ? "The server refused the change: \(said)"
                        : "The server refused \(session.clean(key)): \(said) (huddle policy show lists the keys).",
                    json: ["error": rpc.json])
            }
            if json {
                Console.json(after)
                return
            }
            var title = "Policy of \(session.clean(target))"
            if let version = after["version"]?.intValue { title += " is now version \(version)" }
            Console.out(title + ".")
            let changes = PolicyText.changes(from: before, to: after)
            if changes.isEmpty {
                Console.out("  (no value changed)")
            }
            for change in changes { Console.out("  " + change) }
        }
    }
}

struct PolicyHistoryCommand: OneTeamCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Every version of the policy: when, by whom, why, and what changed.")

    @OptionGroup var options: GlobalOptions

    @OptionGroup var team: OneTeam

    func run(_ session: SignedIn, on target: String, json: Bool) async throws {
        let history = try await session.connection.policyHistory(team: target)
        if json {
            Console.json(history.raw)
            return
        }
        Console.out(PolicyHistoryText.render(history.versions, clock: ClockText.localDateTime))
    }
}

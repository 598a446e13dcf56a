import ArgumentParser
import HuddleClient
import HuddleProtocol

/// `huddle phone`: a phone-system bridge's report from a script (bots; supervisors for tests).
struct Phone: AsyncParsableCommand {
    enum CallState: String, ExpressibleByArgument, CaseIterable {
        case ringing
        case talking
        case onHold = "on_hold"
        case ended
    }

    static let configuration = CommandConfiguration(
        commandName: "phone",
        abstract: "Report an agent's phone (bridges and scripts), e.g. huddle phone alice --call on_hold.",
        discussion: """
            What a phone system knows: the agent's call (ringing, talking, on_hold, ended; --muted while \
            muted) and whether the phone is logged in. The team sees who is on a call or on hold; a call \
            that ends while the agent is Available puts them in After Call Work; holds get check-in \
            reminders and supervisors a long_hold alert. Without --call-id the update is for the call the \
            agent is on, or starts one.
            """)

    @OptionGroup var options: GlobalOptions

    @Argument(help: "The agent.")
    var user: String

    @Option(help: "The call's state.")
    var call: CallState?

    @Option(help: "The phone system's id for the call (default: the call the agent is on).")
    var callId: String?

    @Flag(help: "The call is on mute.")
    var muted = false

    @Flag(name: .customLong("logged-in"), help: "The phone is logged in.")
    var loggedIn = false

    @Flag(name: .customLong("logged-out"), help: "The phone is logged out.")
    var loggedOut = false

    func validate() throws {
        guard call != nil || loggedIn || loggedOut else {
            throw ValidationError("say something of the phone: --call STATE, --logged-in or --logged-out")
        }
        guard !(loggedIn && loggedOut) else { throw ValidationError("--logged-in and --logged-out exclude each other") }
        guard !muted || (call != nil && call != .ended) else { throw ValidationError("--muted goes with a live --call") }
    }

    mutating func run() async throws {
        var params: [String: JSONValue] = ["user": .string(user)]
        if loggedIn || loggedOut { params["logged_in"] = .bool(loggedIn) }
        if let call {
            var object: [String: JSONValue] = ["state": .string(call.rawValue)]
            if let callId { object["id"] = .string(callId) }
            if muted { object["muted"] = .bool(true) }
            params["call"] = .object(object)
        }
        let json = options.json
        let user = self.user
        try await SignedIn.run(options) { session in
            let result = try await session.connection.request(Method.phoneUpdate.rawValue, params)
            if json {
                Console.json(result)
                return
            }
            let teams = (result["seqs"]?.objectValue?.count ?? 0) + (result["supervisors_seqs"]?.objectValue?.count ?? 0)
            Console.out(teams == 0 ? "Nothing changed for \(session.clean(user))." : "Phone of \(session.clean(user)) updated.")
        }
    }
}

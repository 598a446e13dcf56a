import ArgumentParser
import HuddleClient
import HuddleProtocol

struct Force: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "force",
        abstract: "Set a team member's status (supervisors), e.g. huddle force alice available.",
        discussion: """
            STATUS is one of available (or back), after_call_work (or acw), break, lunch, meeting, training, \
            admin, offline. A forced change is applied whatever the coverage, and the team sees who made it.
            """)

    @OptionGroup var options: GlobalOptions

    @Argument(help: "Whose status to set.")
    var user: String

    @Argument(help: ArgumentHelp("The status to set.", valueName: "status"))
    var status: String

    @Argument(help: "An optional note, shown to the team.")
    var note: [String] = []

    func validate() throws {
        guard StatusNames.parse(status) != nil else {
            throw ValidationError(
                "unknown status '\(TextRules.sanitizedForTerminal(status))'; use one of \(StatusNames.choices)")
        }
        try NoteCheck.validate(note.joined(separator: " "))
    }

    mutating func run() async throws {
        guard let status = StatusNames.parse(self.status) else { return }
        let user = self.user
        let note = self.note.isEmpty ? nil : self.note.joined(separator: " ")
        let json = options.json
        try await SignedIn.run(options) { session in
            let result = try await session.connection.forceStatus(user: user, status: status, note: note)
            if json {
                Console.json(result)
                return
            }
            var text = "\(session.clean(user)) is now \(status.label)"
            if let note { text += " \"\(session.clean(note))\"" }
            Console.out(text + " (set by \(session.clean(session.hello.user))).")
        }
    }
}

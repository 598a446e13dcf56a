import ArgumentParser
import HuddleClient
import HuddleProtocol

struct Ack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack",
        abstract: "Acknowledge an alert (supervisors), e.g. huddle ack 12 coming over.",
        discussion: """
            huddle alerts lists the open alerts with their numbers. The note (optional, one line) is \
            stored with the acknowledgment and shown to the other supervisors. An acknowledged \
            wellbeing break does not escalate.
            """)

    @OptionGroup var options: GlobalOptions

    @Argument(help: ArgumentHelp("The alert's number.", valueName: "alert"))
    var alert: Int64

    @Argument(help: "An optional note for the other supervisors.")
    var note: [String] = []

    func validate() throws {
        guard alert > 0 else { throw ValidationError("the alert number must be positive, not \(alert)") }
        try NoteCheck.validate(note.joined(separator: " "))
    }

    mutating func run() async throws {
        let alert = self.alert
        let note = self.note.isEmpty ? nil : self.note.joined(separator: " ")
        let json = options.json
        try await SignedIn.run(options) { session in
            let result: JSONValue
            do {
                result = try await session.connection.acknowledgeAlert(alert, note: note)
            } catch let rpc as RPCError where rpc.code == .unknownEntity {
                throw CLIFailure(
                    code: ExitStatus.failure,
                    message: "There is no open alert #\(alert): it was acknowledged already, or the number is wrong "
                        + "(huddle alerts lists the open ones).",
                    json: ["error": rpc.json])
            }
            if json {
                Console.json(result)
            } else {
                Console.out("Alert #\(alert) acknowledged.")
            }
        }
    }
}

/// The note rules of SPEC §2, checked before connecting so the message can be precise.
enum NoteCheck {
    static func validate(_ note: String, what: String = "the note", maxScalars: Int = TextRules.maxNoteScalars)
        throws
    {
        guard !note.isEmpty else { return }
        do {
            _ = try TextRules.check(note, param: "note", maxScalars: maxScalars, allowEmpty: false)
        } catch {
            switch error.data?["reason"]?.stringValue {
            case "too_long"?: throw ValidationError("\(what) is longer than \(maxScalars) characters")
            case "empty"?: throw ValidationError("\(what) is empty")
            default: throw ValidationError("\(what) contains a control or bidirectional-override character")
            }
        }
    }
}

import ArgumentParser
import HuddleClient
import HuddleProtocol

struct Say: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Post a short message to your team.")

    @OptionGroup var options: GlobalOptions

    @OptionGroup var team: OneTeam

    @Argument(help: "The message.")
    var text: [String]

    func validate() throws {
        let message = text.joined(separator: " ")
        do {
            _ = try TextRules.check(message, param: "text", maxScalars: TextRules.maxMessageScalars, allowEmpty: false)
        } catch {
            switch error.data?["reason"]?.stringValue {
            case "empty"?: throw ValidationError("the message is empty")
            case "too_long"?: throw ValidationError("the message is longer than \(TextRules.maxMessageScalars) characters")
            default: throw ValidationError("the message contains a control or bidirectional-override character")
            }
        }
    }

    mutating func run() async throws {
        let message = text.joined(separator: " ")
        let json = options.json
        try await SignedIn.run(options, in: team) { session, target in
            let seq = try await session.connection.sendMessage(team: target, text: message)
            if json {
                Console.json(["seq": .int(seq)])
            } else {
                Console.out("Sent to \(session.clean(target)).")
            }
        }
    }
}

import ArgumentParser
import HuddleClient

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forget the stored login (server, token and pinned certificate).")

    @OptionGroup var options: GlobalOptions

    mutating func run() async throws {
        guard let path = StoredLogin.path else {
            Console.out("Not logged in.")
            return
        }
        do {
            let removed = try ConfigFile.remove(path: path)
            if options.json {
                Console.json(["removed": .bool(removed), "path": .string(path)])
            } else {
                Console.out(removed ? "Logged out: removed \(path)." : "Not logged in (no \(path)).")
            }
        } catch {
            throw CLIFailure.from(error, endpoint: nil).report(json: options.json)
        }
    }
}

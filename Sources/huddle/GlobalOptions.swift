import ArgumentParser
import HuddleClient

/// Options every command takes. They may come before or after the subcommand name
/// (`huddle --server h:7447 who` or `huddle who --server h:7447`).
struct GlobalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The server (default: $HUDDLE_SERVER, then the stored login).", valueName: "host:port"))
    var server: String?

    @Option(help: ArgumentHelp("Your token (default: $HUDDLE_TOKEN, then the stored login).", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("Verify the server with this CA file (e.g. the daemon's tls/cert.pem).", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("Accept only the server certificate with this SHA-256 fingerprint.", valueName: "sha256"))
    var fingerprint: String?

    @Flag(help: "Plain TCP, for a loopback daemon started with --plaintext.")
    var plaintext = false

    @Flag(help: "Print the raw JSON result instead of text.")
    var json = false

    /// What this command line says about the login, before the environment and the stored one.
    var flags: ClientConfig {
        ClientConfig(server: server, token: token, fingerprint: fingerprint, ca: ca, plaintext: plaintext)
    }

    func validate() throws {
        do {
            _ = try flags.trustFromFlags()
        } catch {
            throw ValidationError(error.description)
        }
        if let server, Endpoint(parsing: server) == nil {
            throw ValidationError("--server must be HOST:PORT, not '\(server)'")
        }
    }
}

/// `--team` of a command that acts on one team: the one given, or the user's only team.
struct OneTeam: ParsableArguments {
    @Option(help: "The team (default: your only team).")
    var team: String?
}

/// `--team` for the commands that show teams (`who`, `alerts`): one of them, else all yours.
struct ShownTeams: ParsableArguments {
    @Option(help: "Only this team (default: all your teams).")
    var team: String?
}

/// A command that signs in and then acts on one team (`--team`, or the user's only team).
protocol OneTeamCommand: AsyncParsableCommand {
    var options: GlobalOptions { get }
    var team: OneTeam { get }

    /// The command's work once signed in; `target` is the team, `json` whether to print JSON.
    func run(_ session: SignedIn, on target: String, json: Bool) async throws
}

extension OneTeamCommand {
    mutating func run() async throws {
        let command = self
        try await SignedIn.run(options, in: team) { session, target in
            try await command.run(session, on: target, json: command.options.json)
        }
    }
}

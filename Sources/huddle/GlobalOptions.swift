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

    var overrides: LoginOverrides {
        LoginOverrides(server: server, token: token, ca: ca, fingerprint: fingerprint, plaintext: plaintext)
    }

    func validate() throws {
        do {
            _ = try overrides.trust()
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

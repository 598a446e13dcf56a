import ArgumentParser
import Foundation
import HuddleClient
import HuddleProtocol

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign in to a server and remember it: address, token and its certificate.",
        discussion: """
            Without --ca or --fingerprint the server's certificate is trusted on first use, like ssh: \
            its SHA-256 fingerprint is shown and you are asked to confirm it (compare it with the one \
            huddled printed). Later commands accept only that certificate. A changed certificate is \
            refused (exit 5), --accept-new or not, and no token is sent to it; to trust a certificate \
            replaced on purpose, pass its --fingerprint.
            """)

    @OptionGroup var options: GlobalOptions

    @Flag(help: ArgumentHelp(
        "Trust the certificate of a server never seen without asking (needed when not on a terminal); a changed certificate is still refused."))
    var acceptNew = false

    mutating func run() async throws {
        var endpoint: Endpoint?
        do {
            let environment = Console.environment
            guard let path = StoredLogin.path else {
                throw CLIFailure.usage("cannot tell where to store the login: set HOME or HUDDLE_CONFIG")
            }
            let existing = try? ConfigFile.load(path: path)
            guard let serverText = options.server ?? nonEmpty(environment["HUDDLE_SERVER"]) ?? existing?.server else {
                throw CLIFailure.usage("which server? pass --server HOST:PORT")
            }
            guard let server = Endpoint(parsing: serverText) else {
                throw CLIFailure.usage("--server must be HOST:PORT, not '\(serverText)'")
            }
            endpoint = server
            let sameServer = existing?.server.flatMap(Endpoint.init(parsing:)).map { $0.matches(server) } ?? false
            guard let token = options.token ?? nonEmpty(environment["HUDDLE_TOKEN"])
                ?? (sameServer ? existing?.token : nil) ?? askToken()
            else {
                throw CLIFailure.usage("which token? pass --token (huddled user add prints it)")
            }

            let trust: TLSTrust
            if let given = try options.flags.trustFromFlags() {
                trust = given
            } else if sameServer, let ca = existing?.ca {
                trust = .caFile(ca)
            } else if sameServer, existing?.plaintext == true {
                trust = .plaintext
            } else {
                trust = .fingerprint(try await firstUseFingerprint(server, pinned: sameServer ? existing?.fingerprint : nil))
            }

            let connection = try await HuddleConnection.connect(host: server.host, port: server.port, trust: trust)
            let hello: HelloResult
            do {
                hello = try await connection.hello(token: token, client: SignedIn.clientName)
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()

            var config = ClientConfig(server: server.description, token: token)
            switch trust {
            case .fingerprint(let pin): config.fingerprint = TLSTrust.normalizedFingerprint(pin) ?? pin
            case .caFile(let file): config.ca = absolute(file)
            case .plaintext: config.plaintext = true
            case .captureFingerprint: break
            }
            try ConfigFile.save(config, path: path)

            if options.json {
                Console.json(hello.raw)
                return
            }
            let teams = hello.teams.isEmpty ? "no teams" : "teams: " + hello.teams.map(clean).joined(separator: ", ")
            Console.out("Logged in to \(server) as \(clean(hello.user)) (\(clean(hello.roleName)); \(teams)).")
            Console.out("Saved in \(path).")
        } catch {
            throw CLIFailure.from(error, endpoint: endpoint).report(json: options.json)
        }
    }

    /// Connects without verifying, shows the certificate's fingerprint and asks. No token is sent
    /// on that connection.
    private func firstUseFingerprint(_ server: Endpoint, pinned: String?) async throws -> String {
        let probe = try await HuddleConnection.connect(host: server.host, port: server.port, trust: .captureFingerprint)
        await probe.close()
        guard let presented = probe.peerFingerprint else {
            throw CLIFailure(code: ExitStatus.unreachable, message: "\(server) presented no certificate")
        }
        if let pinned, TLSTrust.normalizedFingerprint(pinned) == presented {
            return presented
        }
        if let pinned {
            // Like ssh, a changed certificate is never trusted on the spot, not even with
            // --accept-new (which is for a server never seen): that is exactly what an attacker
            // in the middle would present. Nothing is stored, so the old pin stays.
            throw CertificateMismatch(expected: pinned, presented: presented)
        }
        Console.err("The server \(server) presented a certificate with SHA-256 fingerprint")
        Console.err("  \(presented)")
        Console.err("Compare it with the fingerprint huddled printed when it started.")
        if acceptNew { return presented }
        guard Console.stdinIsTerminal else {
            throw CLIFailure(
                code: ExitStatus.unreachable,
                message: "not trusted: standard input is not a terminal; pass --accept-new to trust it, "
                    + "or --fingerprint / --ca")
        }
        let answer = Console.ask("Trust it? [y/N] ")?.trimmingCharacters(in: .whitespaces).lowercased()
        guard answer == "y" || answer == "yes" else {
            throw CLIFailure(code: ExitStatus.unreachable, message: "not trusted; nothing was stored")
        }
        return presented
    }

    private func askToken() -> String? {
        guard Console.stdinIsTerminal else { return nil }
        return nonEmpty(Console.askSecret("Token: ")?.trimmingCharacters(in: .whitespaces))
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    private func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    private func clean(_ text: String) -> String {
        TextRules.sanitizedForTerminal(text)
    }
}

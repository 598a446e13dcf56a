import HuddleClient
import HuddleProtocol

/// A connection on which `session.hello` succeeded, for the duration of one command.
struct SignedIn {
    static let clientName = "huddle-cli/0.1.0"

    let connection: HuddleConnection
    let hello: HelloResult
    let settings: LoginSettings

    /// Resolves the login (flags, environment, stored login), connects, signs in, runs `body`
    /// and closes. Any failure is printed and becomes the exit code of SPEC §8; `status` lets a
    /// denial name the status that was asked for.
    static func run(
        _ options: GlobalOptions, status: Status? = nil, _ body: (SignedIn) async throws -> Void
    ) async throws {
        var endpoint: Endpoint?
        do {
            let settings = try StoredLogin.settings(for: options)
            endpoint = settings.endpoint
            let connection = try await HuddleConnection.connect(
                host: settings.endpoint.host, port: settings.endpoint.port, trust: settings.trust)
            do {
                let hello: HelloResult
                do {
                    hello = try await connection.hello(token: settings.token, client: clientName)
                } catch let closed as ConnectionClosed where settings.trust == .plaintext && closed.reason == nil {
                    throw CLIFailure(
                        code: ExitStatus.unreachable,
                        message: "\(closed) (\(settings.endpoint)); if the daemon uses TLS, drop --plaintext")
                }
                try await body(SignedIn(connection: connection, hello: hello, settings: settings))
            } catch {
                await connection.close()
                throw error
            }
            // Not `bye`: that would set the user offline, undoing what the command just did.
            await connection.close()
        } catch {
            throw CLIFailure.from(error, endpoint: endpoint, status: status).report(json: options.json)
        }
    }

    /// The same, for a command that acts on one team: `body` gets it resolved (`team(_:)`).
    static func run(
        _ options: GlobalOptions, in team: OneTeam, status: Status? = nil, _ body: (SignedIn, String) async throws -> Void
    ) async throws {
        let given = team.team
        try await run(options, status: status) { session in try await body(session, try session.team(given)) }
    }

    /// The teams a command shows: the one `--team` names, or all of the user's (at least one).
    func teams(_ shown: ShownTeams) throws -> [String] {
        if let given = shown.team { return [given] }
        guard !hello.teams.isEmpty else { throw notInAnyTeam }
        return hello.teams
    }

    var notInAnyTeam: CLIFailure {
        CLIFailure(code: ExitStatus.failure, message: "\(clean(hello.user)) is not a member of any team")
    }

    /// The team a command acts on: the one given, or the user's only team.
    func team(_ given: String?) throws -> String {
        if let given { return given }
        switch hello.teams.count {
        case 1:
            return hello.teams[0]
        case 0:
            throw notInAnyTeam
        default:
            let names = hello.teams.map(clean).joined(separator: ", ")
            throw CLIFailure.usage("you are in several teams (\(names)): pass --team")
        }
    }

    func clean(_ text: String) -> String {
        TextRules.sanitizedForTerminal(text)
    }
}

/// The stored login and how it combines with flags and environment.
enum StoredLogin {
    static var path: String? { ConfigFile.path(environment: Console.environment) }

    static func load() throws -> ClientConfig? {
        guard let path else { return nil }
        return try ConfigFile.load(path: path)
    }

    static func settings(for options: GlobalOptions) throws -> LoginSettings {
        let file: ClientConfig?
        do {
            file = try load()
        } catch {
            // A broken file must not block a command that names everything on its command line.
            Console.err("huddle: warning: \(error); ignoring it")
            file = nil
        }
        if file != nil, let path, ConfigFile.isTooOpen(path: path) {
            Console.err("huddle: warning: \(path) holds a token and others can read it; run chmod 600 \(path)")
        }
        return try LoginSettings.resolve(flags: options.flags, environment: Console.environment, file: file)
    }
}

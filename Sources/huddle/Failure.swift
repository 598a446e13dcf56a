import ArgumentParser
import HuddleClient
import HuddleProtocol

/// The exit codes of SPEC §8.
enum ExitStatus {
    static let failure: Int32 = 1
    static let usage: Int32 = 2
    static let denied: Int32 = 3
    static let unauthorized: Int32 = 4
    static let unreachable: Int32 = 5
}

/// A failure already put into words, with its exit code.
struct CLIFailure: Error {
    var code: Int32
    var message: String
    /// What `--json` prints on standard output.
    var json: JSONValue

    init(code: Int32, message: String, json: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.json = json ?? ["error": ["code": .string(Self.word(for: code)), "message": .string(message)]]
    }

    static func usage(_ message: String) -> CLIFailure {
        CLIFailure(code: ExitStatus.usage, message: message)
    }

    static func word(for code: Int32) -> String {
        switch code {
        case ExitStatus.usage: "usage"
        case ExitStatus.denied: "denied"
        case ExitStatus.unauthorized: "unauthorized"
        case ExitStatus.unreachable: "unreachable"
        default: "failure"
        }
    }

    /// Puts any error of a command into words. `status` is the status being asked for, so a
    /// denial can name it.
    static func from(_ error: any Error, endpoint: Endpoint?, status: Status? = nil) -> CLIFailure {
        let server = endpoint.map { "\($0)" } ?? "the server"
        switch error {
        case let failure as CLIFailure:
            return failure
        case let error as SettingsError:
            return .usage(error.description)
        case let error as ConfigFileError:
            return CLIFailure(code: ExitStatus.failure, message: error.description)
        case let mismatch as CertificateMismatch:
            return CLIFailure(
                code: ExitStatus.unreachable,
                message: """
                    The certificate of \(server) has changed: it presented SHA-256 fingerprint
                      \(mismatch.presented)
                    but the pinned fingerprint is
                      \(mismatch.expected)
                    This can mean someone is intercepting the connection. Compare the new fingerprint with the one \
                    huddled printed on the server (ask whoever runs it); if the certificate was replaced on purpose, \
                    trust the new one by its fingerprint: `huddle login --fingerprint \(mismatch.presented)`. \
                    The pinned certificate stays trusted until then, and no token was sent.
                    """)
        case let error as ConnectError:
            var message = "\(error)"
            if case .tlsFailed = error {
                message += " (if the daemon runs with --plaintext, pass --plaintext)"
            }
            return CLIFailure(code: ExitStatus.unreachable, message: message)
        case let error as TLSTrustError:
            return CLIFailure(code: ExitStatus.unreachable, message: "TLS: \(error)")
        case let closed as ConnectionClosed:
            if closed.reason == ClosingReason.tokenRevoked.rawValue {
                return CLIFailure(
                    code: ExitStatus.unauthorized, message: "\(server) ended the session: the token was revoked")
            }
            return CLIFailure(code: ExitStatus.unreachable, message: "\(closed) (\(server))")
        case let rpc as RPCError:
            return from(rpc, server: server, status: status)
        default:
            return CLIFailure(code: ExitStatus.failure, message: "\(error)")
        }
    }

    static func from(_ rpc: RPCError, server: String, status: Status?) -> CLIFailure {
        let json: JSONValue = ["error": rpc.json]
        let said = TextRules.sanitizedForTerminal(rpc.message)
        switch rpc.code {
        case .deniedByCoverage:
            let sentence: String
            if let denial = CoverageDenial(rpc), let status {
                sentence = DenialText.sentence(for: status, denial)
            } else {
                sentence = "Not granted: \(said)"
            }
            return CLIFailure(code: ExitStatus.denied, message: sentence, json: json)
        case .notAuthenticated:
            return CLIFailure(
                code: ExitStatus.unauthorized,
                message: "\(server) refused the token (\(said)). Check it, or run `huddle login` again.", json: json)
        case .forbidden:
            return CLIFailure(code: ExitStatus.unauthorized, message: "Not allowed: \(said)", json: json)
        case .invalidParams, .invalidText:
            return CLIFailure(code: ExitStatus.usage, message: "Refused by the server: \(said)", json: json)
        case .rateLimited:
            var message = "Too many requests"
            if let wait = rpc.data?["retry_after_ms"]?.intValue {
                message += "; try again in \(max(1, (wait + 999) / 1000)) s"
            }
            return CLIFailure(code: ExitStatus.failure, message: message + ".", json: json)
        default:
            return CLIFailure(code: ExitStatus.failure, message: "\(server): \(said)", json: json)
        }
    }
}

extension CLIFailure {
    /// Prints the failure (text on stderr; with `--json` also the JSON on stdout) and turns it
    /// into ArgumentParser's exit.
    func report(json wantsJSON: Bool) -> ExitCode {
        if wantsJSON { Console.json(json) }
        Console.err("huddle: " + message)
        return ExitCode(code)
    }
}

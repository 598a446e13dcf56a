extension ClientConfig {
    /// How the command line's flags (a `ClientConfig` as one command line gives it, before the
    /// environment and the stored login) say to trust the server: nil when no trust flag was
    /// given; throws when several were, or when the fingerprint is not one.
    public func trustFromFlags() throws(SettingsError) -> TLSTrust? {
        let given = [ca != nil, fingerprint != nil, plaintext].filter { $0 }.count
        guard given <= 1 else { throw .conflictingTrust }
        if let ca { return .caFile(ca) }
        if let fingerprint {
            guard let normalized = TLSTrust.normalizedFingerprint(fingerprint) else {
                throw .badFingerprint(fingerprint)
            }
            return .fingerprint(normalized)
        }
        if plaintext { return .plaintext }
        return nil
    }
}

/// Where a setting came from, for messages.
public enum SettingSource: String, Sendable, Equatable {
    case flag
    case environment
    case file
}

/// Everything a command needs to reach the server and sign in.
public struct LoginSettings: Sendable, Equatable {
    public var endpoint: Endpoint
    public var token: String
    public var trust: TLSTrust
    public var serverSource: SettingSource

    public init(endpoint: Endpoint, token: String, trust: TLSTrust, serverSource: SettingSource) {
        self.endpoint = endpoint
        self.token = token
        self.trust = trust
        self.serverSource = serverSource
    }

    /// Flag over environment (`HUDDLE_SERVER`, `HUDDLE_TOKEN`) over the stored login, field by
    /// field. Trust comes from the flags, else from the stored login, but only when the stored
    /// login is for the same server: its pin says nothing about another one.
    public static func resolve(
        flags: ClientConfig, environment: [String: String], file: ClientConfig?
    ) throws(SettingsError) -> LoginSettings {
        let (serverText, serverSource) = try pick(
            flags.server, environment["HUDDLE_SERVER"], file?.server, missing: .noServer)
        guard let endpoint = Endpoint(parsing: serverText) else { throw .badServer(serverText) }
        let (token, _) = try pick(flags.token, environment["HUDDLE_TOKEN"], file?.token, missing: .noToken)

        if let trust = try flags.trustFromFlags() {
            return LoginSettings(endpoint: endpoint, token: token, trust: trust, serverSource: serverSource)
        }
        guard let file, let stored = file.server.flatMap(Endpoint.init(parsing:)), stored.matches(endpoint) else {
            throw .noTrust(endpoint)
        }
        guard let trust = file.trust else { throw .noTrust(endpoint) }
        return LoginSettings(endpoint: endpoint, token: token, trust: trust, serverSource: serverSource)
    }

    static func pick(
        _ flag: String?, _ environment: String?, _ file: String?, missing: SettingsError
    ) throws(SettingsError) -> (String, SettingSource) {
        if let flag, !flag.isEmpty { return (flag, .flag) }
        if let environment, !environment.isEmpty { return (environment, .environment) }
        if let file, !file.isEmpty { return (file, .file) }
        throw missing
    }
}

extension Endpoint {
    /// Host names compare without regard to case.
    public func matches(_ other: Endpoint) -> Bool {
        port == other.port && host.lowercased() == other.host.lowercased()
    }
}

/// A command line or environment that cannot work; the CLI exits with 2.
public enum SettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    case noServer
    case badServer(String)
    case noToken
    case conflictingTrust
    case badFingerprint(String)
    case noTrust(Endpoint)

    public var description: String {
        switch self {
        case .noServer:
            "no server: run `huddle login`, pass --server HOST:PORT or set HUDDLE_SERVER"
        case .badServer(let text):
            "not a server address (HOST:PORT): \(text)"
        case .noToken:
            "no token: run `huddle login`, pass --token or set HUDDLE_TOKEN"
        case .conflictingTrust:
            "--ca, --fingerprint and --plaintext exclude each other"
        case .badFingerprint(let text):
            "not a SHA-256 fingerprint (32 hex bytes, e.g. AB:CD:…): \(text)"
        case .noTrust(let endpoint):
            "nothing says how to trust \(endpoint): run `huddle login --server \(endpoint)`, or pass --ca FILE or --fingerprint SHA256"
        }
    }
}

/// The daemon's limits and addresses (SPEC §5 and §8). Every limit is a value here with the
/// documented default; `huddled` fills it from flags, the configuration file and defaults.
public struct ServerConfiguration: Sendable, Equatable {
    public var listenHost = "127.0.0.1"
    public var listenPort = 7447
    public var plaintext = false
    public var ratePerSecond: Double = 20
    public var rateBurst: Double = 40
    public var botRatePerSecond: Double = 200
    public var botRateBurst: Double = 400
    public var maxLineBytes = 16 * 1024
    public var maxSessionsPerUser = 8
    public var outboundBufferBytes = 1024 * 1024
    public var writeTimeoutSeconds: Int64 = 10
    public var heartbeatSeconds: Int64 = 15
    public var authTimeoutSeconds: Int64 = 10
    public var historyDays: Int64 = 30
    /// How many changes one SQLite transaction may group.
    public var commitMaxBatch = 1024
    /// How long a graceful shutdown may take before connections are cut.
    public var shutdownTimeoutSeconds: Int64 = 10
    /// Protocol connections held at once, authenticated or not (also bounded by the open-file
    /// limit); beyond it new ones are reset at once.
    public var maxConnections = 60_000
    /// Connections that have not said hello yet; beyond it the oldest of them is closed to make
    /// room (`ConnectionLimits`).
    public var maxUnauthenticated = 10_000
    /// Connections from one address that have not said hello yet; beyond it that address's new
    /// ones are reset at once.
    public var maxUnauthenticatedPerAddress = 1_000
    /// Seconds an HTTP request may take to arrive in full, from its first byte (headers and body).
    public var httpRequestTimeoutSeconds: Int64 = 10
    /// Failed authentications per address per minute on the HTTP side before it answers 429.
    public var httpAuthFailuresPerMinute: Double = 30

    public init() {}
}

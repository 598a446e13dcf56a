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

    public init() {}
}

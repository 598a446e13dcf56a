/// The daemon's limits and addresses (SPEC §5 and §8). Every limit is a value here with the
/// documented default; `huddled` fills it from flags, the configuration file and defaults.
public struct ServerConfiguration: Sendable, Equatable {
    /// The protocol port's address (`listen`); port 0 picks a free one.
    public var listenHost = "127.0.0.1"
    public var listenPort = 7447
    /// TLS off on the protocol port (loopback development only).
    public var plaintext = false
    /// The per-connection token bucket: every non-empty line costs a token, except a session's
    /// `session.ping`; over it, -32011 with `retry_after_ms`.
    public var ratePerSecond: Double = 20
    public var rateBurst: Double = 40
    /// The same for bots, once their hello succeeds (ten times the agents' unless set).
    public var botRatePerSecond: Double = 200
    public var botRateBurst: Double = 400
    /// The longest request line; a longer one is refused and the connection closed.
    public var maxLineBytes = 16 * 1024
    /// Live sessions one user may hold at once.
    public var maxSessionsPerUser = 8
    /// Bytes queued for one client beyond the kernel's buffer before it is cut as a slow reader
    /// (replays and `history.fetch` answers are streamed at the client's pace and do not count).
    public var outboundBufferBytes = 1024 * 1024
    /// Seconds one write may make no progress before the client is cut as a slow reader.
    public var writeTimeoutSeconds: Int64 = 10
    /// Silence after which the server sends a heartbeat; a client silent for 3 × this is closed.
    public var heartbeatSeconds: Int64 = 15
    /// Seconds a new connection has to say hello (its TLS handshake included).
    public var authTimeoutSeconds: Int64 = 10
    /// Days of event history kept for replay, `history.fetch` and reports.
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
    /// HTTP connections served at once; beyond it new ones wait in the listen backlog. Read at
    /// start.
    public var httpMaxConnections = 1024
    /// Seconds an idle keep-alive HTTP connection stays open. Read at start.
    public var httpIdleTimeoutSeconds: Int64 = 60
    /// The wallboard's event streams open at once (each holds one of the HTTP connections, so
    /// it stays below `httpMaxConnections` and bots can still post); beyond it, 429.
    public var httpMaxEventStreams = 1000
    /// Event streams one user (or one display link) may hold at once; beyond it, 429.
    public var httpMaxEventStreamsPerViewer = 20

    public init() {}
}

import HuddleProtocol
import Logging
import NIOConcurrencyHelpers
import HuddleFraming
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The protocol listener as a service: binds, accepts, and on graceful shutdown stops accepting,
/// lets every accepted change commit, tells each client `session.closing` (`shutdown`) and
/// waits for the connections to close (cutting them after the shutdown timeout).
///
/// Connections run as channel pipelines rather than `NIOAsyncChannel`s on purpose: the fan-out
/// writes one shared buffer into thousands of channels, and doing that through per-connection
/// tasks and async writers would cost a task switch per delivery.
public final class ProtocolServer: Service, Sendable {
    let hub: Hub
    let tls: NIOLockedValueBox<NIOSSLContext?>
    let logger: Logger
    let group: any EventLoopGroup
    let registry = ConnectionRegistry()
    let limits = ConnectionLimits()
    /// Refused connections and hellos are logged through these, so a flood cannot fill the journal.
    let refusalLog = LogThrottle()
    let helloLog = LogThrottle()
    private let bound = NIOLockedValueBox<Int?>(nil)

    public init(hub: Hub, tlsContext: NIOSSLContext?, logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.hub = hub
        self.tls = NIOLockedValueBox(tlsContext)
        self.logger = logger
        self.group = group
    }

    /// Swaps the certificate for new connections; open sessions keep theirs.
    public func replaceTLSContext(_ context: NIOSSLContext) {
        tls.withLockedValue { $0 = context }
    }

    public var boundPort: Int? { bound.withLockedValue { $0 } }

    public func run() async throws {
        let configuration = hub.config
        let hub = self.hub
        let registry = self.registry
        let tls = self.tls
        let logger = self.logger
        let outbound = configuration.outboundBufferBytes
        let (limits, refusalLog, helloLog) = (self.limits, self.refusalLog, self.helloLog)
        let fileBudget = Self.openFileBudget()
        if configuration.maxConnections > fileBudget {
            logger.warning(
                "max-connections is \(configuration.maxConnections) but the open-file limit leaves room for \(fileBudget): at most \(fileBudget) connections will be held (raise LimitNOFILE)"
            )
        }
        // At most this many accepted connections wait for their event loop (two accept gulps).
        let gate = AcceptGate(limit: 256)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(gate.handler()) }
            }
            // A whole floor reconnects at once after a network blip: take connections in large
            // gulps (NIO accepts 4 per wake-up by default) from a queue long enough to hold them.
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.maxMessagesPerRead, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: outbound / 2, high: outbound))
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // Most connections are idle watchers that send a ping now and then: start their read
            // buffer small (it grows at once for a busy client) to keep idle sessions cheap.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            .childChannelInitializer { channel in
                gate.settled(channel)
                let configuration = hub.config
                let address = channel.remoteAddress?.ipAddress ?? "?"
                let admitted = limits.admit(
                    channel, address: address, limits: configuration, fileBudget: fileBudget,
                    evicted: ServerMetrics.unauthenticatedEvicted)
                let ticket: ConnectionLimits.Ticket
                switch admitted {
                case .failure(let refusal):
                    ServerMetrics.connectionRefused(refusal)
                    if let leftOut = refusalLog.take() {
                        logger.notice(
                            "connection refused: the \(refusal.rawValue) limit is reached",
                            metadata: ["remote": "\(address)", "limit": "\(refusal.rawValue)", "left_out": "\(leftOut)"])
                    }
                    // Reset rather than close: nothing is owed to it, and no TIME_WAIT is kept.
                    if let provider = channel as? any SocketOptionProvider {
                        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenFailure { _ in }
                    }
                    return channel.eventLoop.makeFailedFuture(refusal)
                case .success(let admitted):
                    ticket = admitted
                }
                channel.closeFuture.whenComplete { _ in limits.closed(ticket) }
                let sslContext = tls.withLockedValue { $0 }
                let flushLimit = sslContext == nil ? nil : Outbox.tlsFlushBytes
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        try sync.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try sync.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLineBytes: configuration.maxLineBytes)))
                    try sync.addHandler(
                        ConnectionHandler(
                            hub: hub, registry: registry, configuration: configuration, flushLimit: flushLimit,
                            admission: (limits, ticket), peer: address, helloLog: helloLog, logger: logger))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: configuration.listenHost, port: configuration.listenPort).get()
        } catch {
            logger.critical("cannot listen on \(configuration.listenHost):\(configuration.listenPort): \(error)")
            throw ListenError(address: "\(configuration.listenHost):\(configuration.listenPort)", reason: "\(error)")
        }
        let port = channel.localAddress?.port ?? configuration.listenPort
        bound.withLockedValue { $0 = port }
        logger.notice(
            "listening on \(configuration.listenHost):\(port)",
            metadata: ["port": "\(port)", "tls": "\(tls.withLockedValue { $0 } != nil)"])

        try? await gracefulShutdown()

        logger.notice("shutting down: no new connections, committing what was accepted")
        try? await channel.close()
        await hub.stopAccepting()
        for outbox in registry.all {
            outbox.closeAfter(RPCFrame.notification("session.closing", ["reason": .string(ClosingReason.shutdown.rawValue)]))
        }
        // Read now, not at start: `shutdown-timeout-s` is reloadable.
        let deadline = ContinuousClock.now + .seconds(hub.config.shutdownTimeoutSeconds)
        while registry.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for outbox in registry.all { outbox.channel.close(promise: nil) }
        logger.notice("protocol server stopped")
    }

    /// Connections the open-file limit leaves room for: the soft limit less a reserve for the
    /// database, the HTTP side, the admin socket and the log.
    static func openFileBudget() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return max(64, Int(clamping: limit.rlim_cur) - 256)
    }
}

/// Raises the soft open-file limit to the hard one (as a server that holds one descriptor per
/// client should); returns the limit in force.
public func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return Int(clamping: raised.rlim_cur) }
    }
    return Int(clamping: limit.rlim_cur)
}

public struct ListenError: Error, CustomStringConvertible {
    public var address: String
    public var reason: String

    public var description: String { "cannot listen on \(address): \(reason)" }
}

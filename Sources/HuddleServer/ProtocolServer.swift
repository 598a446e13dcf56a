import HuddleProtocol
import Logging
import NIOConcurrencyHelpers
import HuddleFraming
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

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
        let bootstrap = ServerBootstrap(group: group)
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
                let configuration = hub.config
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
                            hub: hub, registry: registry, configuration: configuration, flushLimit: flushLimit, logger: logger))
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
}

public struct ListenError: Error, CustomStringConvertible {
    public var address: String
    public var reason: String

    public var description: String { "cannot listen on \(address): \(reason)" }
}

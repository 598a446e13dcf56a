import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle

/// The HTTP side as a service (Hummingbird, HTTP/1.1): on its own port, with TLS from the same
/// certificate as the protocol port unless turned off, reloaded with it on SIGHUP. On graceful
/// shutdown Hummingbird stops accepting and lets the requests in flight finish; list it after
/// the protocol server in the service group so it stops first.
public final class HTTPServer: Service, Sendable {
    let host: String
    let port: Int
    let hub: Hub
    let protocolServer: ProtocolServer
    let gauges: ScrapeGauges
    /// Nil with `--http-plaintext`.
    let tls: NIOLockedValueBox<NIOSSLContext>?
    let logger: Logger
    private let bound = NIOLockedValueBox<Int?>(nil)

    public init(
        host: String, port: Int, hub: Hub, protocolServer: ProtocolServer, metrics: PrometheusCollectorRegistry,
        tlsContext: NIOSSLContext?, logger: Logger
    ) {
        self.host = host
        self.port = port
        self.hub = hub
        self.protocolServer = protocolServer
        self.gauges = ScrapeGauges(registry: metrics)
        self.tls = tlsContext.map { NIOLockedValueBox($0) }
        self.logger = logger
    }

    /// Swaps the certificate for new connections (no effect with `--http-plaintext`).
    public func replaceTLSContext(_ context: NIOSSLContext) {
        tls?.withLockedValue { $0 = context }
    }

    public var usesTLS: Bool { tls != nil }

    public var boundPort: Int? { bound.withLockedValue { $0 } }

    public func run() async throws {
        let registry = protocolServer.registry
        let routes = HTTPRoutes(hub: hub, gauges: gauges, connections: { registry.count }, tls: tls != nil, logger: logger)
        let tls = self.tls
        let hub = self.hub
        let timeout: @Sendable () -> TimeAmount = { .seconds(hub.config.httpRequestTimeoutSeconds) }
        let server = HTTPServerBuilder { responder in
            let http1 = HTTP1Channel(
                responder: responder,
                configuration: .init(
                    additionalChannelHandlers: [RequestEndHandler()],
                    idleTimeout: .seconds(hub.config.httpIdleTimeoutSeconds),
                    httpDecoderConfiguration: .init(maxHeaderFieldSize: 8 * 1024, maxHeaderListSize: 32 * 1024, maxHeaderFieldCount: 100)))
            if let tls {
                return HandlerInFront.requestDeadline(HandlerInFront.reloadableTLS(http1, context: tls), timeout: timeout)
            }
            return HandlerInFront.requestDeadline(http1, timeout: timeout)
        }
        // Hummingbird's own info lines ("Server started and listening on …") would read like ours.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        let (host, bound, logger, usesTLS) = (self.host, self.bound, self.logger, self.usesTLS)
        let application = Application(
            responder: routes, server: server,
            configuration: .init(
                address: .hostname(host, port: port),
                availableConnectionsDelegate: MaximumAvailableConnections(hub.config.httpMaxConnections)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                bound.withLockedValue { $0 = port }
                logger.notice("http listening on \(host):\(port)", metadata: ["port": "\(port)", "tls": "\(usesTLS)"])
            },
            logger: quiet)
        do {
            // The board's event streams never end by themselves: they are told to close, so
            // that Hummingbird's wait for the requests in flight can end.
            try await withGracefulShutdownHandler {
                try await application.run()
            } onGracefulShutdown: {
                routes.shuttingDown.withLockedValue { $0 = true }
                hub.closeEventStreams()
            }
        } catch where boundPort == nil {
            logger.critical("cannot listen on http \(host):\(port): \(error)")
            throw ListenError(address: "\(host):\(port)", reason: "\(error)")
        }
        logger.notice("http server stopped")
    }
}

import HuddleProtocol
import Logging
import HuddleFraming
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// One connection's protocol rules: the authentication deadline, `session.hello`, the rate limit,
/// heartbeats and the idle timeout, bad lines answered and survived. What a request *does* is
/// the hub's business; this handler only decides whether it gets there.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = InboundFrame

    private let hub: Hub
    private let registry: ConnectionRegistry
    private let configuration: ServerConfiguration
    /// The outbox's flush limit: `Outbox.tlsFlushBytes` behind TLS, none in plaintext.
    private let flushLimit: Int?
    private var logger: Logger
    private let admission: (limits: ConnectionLimits, ticket: ConnectionLimits.Ticket)?
    /// The client's address, for the refused-hello log line.
    private let peer: String
    private let helloLog: LogThrottle
    private var outbox: Outbox?
    private var session: Session?
    private var limiter: RateLimiter
    private var lastRead = NIODeadline.now()
    private var authTimer: Scheduled<Void>?
    private var heartbeatTask: RepeatedTask?
    private var closing = false
    private var inactive = false
    /// True while a request waits for a look at the admin changes (see `AdminRefresh`); the
    /// requests behind it wait here, so that the connection's answers keep their order.
    private var waitingForLook = false
    private var held: [RPCRequest] = []
    /// Requests that may queue behind a waiting one: reading stops while one waits, so only what
    /// one read already brought can arrive, and past the rate limit's burst at that.
    static let maxHeld = 256

    init(
        hub: Hub, registry: ConnectionRegistry, configuration: ServerConfiguration, flushLimit: Int?,
        admission: (limits: ConnectionLimits, ticket: ConnectionLimits.Ticket)?, peer: String, helloLog: LogThrottle,
        logger: Logger
    ) {
        self.hub = hub
        self.admission = admission
        self.peer = peer
        self.helloLog = helloLog
        self.registry = registry
        self.configuration = configuration
        self.flushLimit = flushLimit
        self.logger = logger
        self.limiter = RateLimiter(
            ratePerSecond: configuration.ratePerSecond, burst: configuration.rateBurst, nowMillis: Self.monotonicMillis())
    }

    static func monotonicMillis() -> Int64 {
        Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000)
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        logger[metadataKey: "connection.id"] = "\(ObjectIdentifier(channel).hashValue & 0xFFFFFF)"
        let outbox = Outbox(
            channel: channel, writeTimeout: .seconds(configuration.writeTimeoutSeconds),
            flushLimit: flushLimit
        ) { [logger] in
            logger.info("disconnecting a slow reader")
            ServerMetrics.slowReaderDisconnected()
            // Best effort: a reader this far behind rarely gets to read it.
            let closing = RPCFrame.notification("session.closing", ["reason": .string(ClosingReason.slowReader.rawValue)])
            channel.writeAndFlush(ByteBuffer(bytes: closing), promise: nil)
            // Reset rather than linger: the kernel should not keep megabytes for a dead reader.
            if let provider = channel as? any SocketOptionProvider {
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        }
        self.outbox = outbox
        registry.add(outbox)
        logger.debug("connection opened", metadata: ["remote": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
        let loop = context.eventLoop
        let auth = TimeAmount.seconds(configuration.authTimeoutSeconds)
        authTimer = loop.assumeIsolated().scheduleTask(in: auth) { [weak self] in
            guard let self, self.session == nil else { return }
            self.close(.authTimeout)
        }
        let beat = configuration.heartbeatSeconds
        let period = TimeAmount.milliseconds(max(250, beat * 1000 / 3))
        let bound = NIOLoopBound(self, eventLoop: loop)
        heartbeatTask = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            bound.value.heartbeat(every: .seconds(beat))
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        held = []
        authTimer?.cancel()
        heartbeatTask?.cancel()
        if let outbox { registry.remove(outbox) }
        if let session { hub.disconnected(session) }
        session = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func heartbeat(every interval: TimeAmount) {
        guard let outbox, !closing else { return }
        let now = NIODeadline.now()
        if now - lastRead >= interval * 3 {
            close(.heartbeatTimeout)
        } else if session != nil, now - outbox.lastWrite >= interval {
            outbox.enqueue(RPCFrame.notification("heartbeat", [:]))
        }
    }

    private func close(_ reason: ClosingReason) {
        guard !closing, let outbox else { return }
        closing = true
        logger.debug("closing connection", metadata: ["reason": "\(reason.rawValue)"])
        // Nothing it sends now is read: stop reading, so that a client streaming an endless line
        // fills its own socket buffer instead of the daemon's memory while the close goes out.
        outbox.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        outbox.closeAfter(RPCFrame.notification("session.closing", ["reason": .string(reason.rawValue)]))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, let outbox, !outbox.isSealed else { return }
        lastRead = .now()
        switch unwrapInboundIn(data) {
        case .tooLong:
            outbox.enqueue(
                RPCFrame.error(
                    id: nil,
                    RPCError(
                        .invalidRequest, "line longer than \(configuration.maxLineBytes) bytes",
                        data: ["max_line_bytes": .int(Int64(configuration.maxLineBytes))])))
            close(.lineTooLong)
        case .line(let bytes):
            if bytes.isEmpty { return }
            let decoded = RPCRequest.decode(bytes)
            // Only a session's pings are free: before hello a ping is a line like any other, or
            // a stranger could have every line answered at no cost.
            let isPing = session != nil && (try? decoded.get())?.method == Method.ping.rawValue
            if !isPing, let wait = limiter.take(nowMillis: Self.monotonicMillis()) {
                ServerMetrics.rateLimited(.protocol)
                let id = (try? decoded.get())?.id
                outbox.enqueue(
                    RPCFrame.error(
                        id: id,
                        RPCError(.rateLimited, "rate limited; retry later", data: ["retry_after_ms": .int(wait)])))
                return
            }
            switch decoded {
            case .failure(let failure):
                outbox.enqueue(RPCFrame.error(id: failure.id, failure.error))
            case .success(let request):
                dispatch(request, outbox: outbox, loop: context.eventLoop)
            }
        }
    }

    private func dispatch(_ request: RPCRequest, outbox: Outbox, loop: any EventLoop) {
        guard !waitingForLook else {
            guard held.count < Self.maxHeld else {
                outbox.enqueue(RPCFrame.error(id: request.id, RPCError(.rateLimited, "rate limited; retry later")))
                return
            }
            held.append(request)
            return
        }
        if let session {
            let bound = NIOLoopBound(self, eventLoop: loop)
            let answered = hub.handle(request, from: session) {
                loop.execute { bound.value.resume(outbox: outbox, loop: loop) }
            }
            if !answered { pause(outbox) }
        } else {
            authenticate(request, outbox: outbox, loop: loop)
        }
    }

    /// Stops reading until the request that waits for a look has been answered.
    private func pause(_ outbox: Outbox) {
        waitingForLook = true
        outbox.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
    }

    private func resume(outbox: Outbox, loop: any EventLoop) {
        waitingForLook = false
        guard !inactive, !closing else {
            held = []
            return
        }
        while !waitingForLook, !held.isEmpty {
            dispatch(held.removeFirst(), outbox: outbox, loop: loop)
        }
        if !waitingForLook {
            outbox.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    private func authenticate(_ request: RPCRequest, outbox: Outbox, loop: any EventLoop) {
        guard request.method == Method.hello.rawValue else {
            outbox.enqueue(RPCFrame.error(id: request.id, .notAuthenticated))
            return
        }
        let token: String
        do throws(RPCError) {
            token = try request.params.string("token")
            _ = try request.params.optionalString("client")
        } catch {
            outbox.enqueue(RPCFrame.error(id: request.id, error))
            return
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let decided = hub.hello(id: request.id, token: token, outbox: outbox, heartbeatSeconds: configuration.heartbeatSeconds) {
            result in
            loop.execute {
                bound.value.helloDecided(result, id: request.id, outbox: outbox)
                bound.value.resume(outbox: outbox, loop: loop)
            }
        }
        if let decided {
            helloDecided(decided, id: request.id, outbox: outbox)
        } else {
            pause(outbox)
        }
    }

    private func helloDecided(_ result: Result<Session, RPCError>, id: RPCID, outbox: Outbox) {
        switch result {
        case .success(let session):
            guard !inactive else {
                // The client went while its hello waited: the hub registered a session that no
                // `channelInactive` will end.
                hub.disconnected(session)
                return
            }
            self.session = session
            if let admission { admission.limits.authenticated(admission.ticket) }
            authTimer?.cancel()
            authTimer = nil
            logger[metadataKey: "user"] = "\(session.user)"
            if session.role == .bot {
                limiter.reset(ratePerSecond: configuration.botRatePerSecond, burst: configuration.botRateBurst)
            }
        case .failure(let error):
            ServerMetrics.helloRefused()
            if let leftOut = helloLog.take() {
                logger.notice(
                    "authentication refused",
                    metadata: ["remote": "\(peer)", "error": "\(error.message)", "left_out": "\(leftOut)"])
            }
            outbox.enqueue(RPCFrame.error(id: id, error))
        }
    }
}

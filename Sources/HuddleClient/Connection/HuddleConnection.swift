import Foundation
import HuddleProtocol
import NIOCore
import NIOPosix

/// One client connection to huddled: JSON-RPC requests with their answers, and every
/// notification, in order, on `notifications`.
///
/// An actor rather than a class behind a lock: the mutable state (the id counter, the requests
/// awaiting an answer, whether the connection has ended) is touched by callers on any task and by
/// the reader, and the actor serialises that without `@unchecked Sendable`. Two things keep it off
/// the hot path: answers travel through event-loop promises, which any thread may complete (so a
/// waiting request can be cancelled without a hop to the actor), and the reader decodes lines and
/// hands notifications to the stream without entering the actor at all.
///
/// The reader task lives as long as the socket does; call `close()` (or `bye()`) when done.
public actor HuddleConnection {
    public struct Options: Sendable {
        /// Bounds the TCP connect and, separately, the TLS handshake.
        public var connectTimeout: Duration
        /// The longest line accepted from the server; snapshots of big floors are large.
        public var maximumLineBytes: Int
        /// After a successful `session.hello`: send `session.ping` when nothing else was sent for
        /// `heartbeat_s`, and drop the connection when the server is silent for 3 × `heartbeat_s`.
        /// Tests of the server's idle timeout turn it off.
        public var keepAlive: Bool
        /// Unbounded by default so no event is ever lost; a benchmark that ignores notifications
        /// may bound it.
        public var notificationBuffering: AsyncStream<ServerNotification>.Continuation.BufferingPolicy
        public var eventLoopGroup: any EventLoopGroup

        public init(
            connectTimeout: Duration = .seconds(5),
            maximumLineBytes: Int = 64 << 20,
            keepAlive: Bool = true,
            notificationBuffering: AsyncStream<ServerNotification>.Continuation.BufferingPolicy = .unbounded,
            eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
        ) {
            self.connectTimeout = connectTimeout
            self.maximumLineBytes = maximumLineBytes
            self.keepAlive = keepAlive
            self.notificationBuffering = notificationBuffering
            self.eventLoopGroup = eventLoopGroup
        }
    }

    private enum Phase {
        case starting([CheckedContinuation<Void, any Error>])
        case open(NIOAsyncChannelOutboundWriter<ByteBuffer>)
        case ended(ConnectionClosed)
    }

    /// Every notification in arrival order; it finishes when the connection ends. Replayed events
    /// of a `team.join` with `since` are in it before that request returns. One consumer.
    public nonisolated let notifications: AsyncStream<ServerNotification>
    /// SHA-256 of the certificate the server presented (`AA:BB:…`); nil over plain TCP.
    public nonisolated let peerFingerprint: String?
    public nonisolated let host: String
    public nonisolated let port: Int

    private nonisolated let sink: AsyncStream<ServerNotification>.Continuation
    private nonisolated let channel: any Channel
    private let keepAlive: Bool

    private var phase: Phase = .starting([])
    private var nextID: Int64 = 0
    private var pending: [Int64: EventLoopPromise<JSONValue>] = [:]
    private var lastSent: ContinuousClock.Instant = .now
    private var readerTask: Task<Void, Never>?
    private var keepAliveTask: Task<Void, Never>?
    private var closedLocally = false
    /// `heartbeat_s` from the last successful `session.hello`.
    public private(set) var heartbeatSeconds: Int64?

    private init(channel: any Channel, host: String, port: Int, peerFingerprint: String?, options: Options) {
        self.channel = channel
        self.host = host
        self.port = port
        self.peerFingerprint = peerFingerprint
        self.keepAlive = options.keepAlive
        (notifications, sink) = AsyncStream.makeStream(
            of: ServerNotification.self, bufferingPolicy: options.notificationBuffering)
    }

    public static func connect(
        host: String, port: Int, trust: TLSTrust, connectTimeout: Duration = .seconds(5)
    ) async throws -> HuddleConnection {
        try await connect(host: host, port: port, trust: trust, options: Options(connectTimeout: connectTimeout))
    }

    /// Connects and, with TLS, completes the handshake before returning, so that an unreachable
    /// server (`ConnectError`), a refused certificate (`CertificateMismatch`, `ConnectError.tlsFailed`)
    /// or an unusable trust setting (`TLSTrustError`) is reported here and no token has been sent.
    public static func connect(host: String, port: Int, trust: TLSTrust, options: Options) async throws
        -> HuddleConnection
    {
        let timeout = TimeAmount(options.connectTimeout)
        let maximumLineBytes = options.maximumLineBytes
        let bootstrap = ClientBootstrap(group: options.eventLoopGroup)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        let connected: ConnectedChannel
        do {
            connected = try await bootstrap.connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ConnectedChannel.configure(
                        channel, trust: trust, host: host, handshakeTimeout: timeout,
                        maximumLineBytes: maximumLineBytes)
                }
            }
        } catch {
            // The initializer runs once per address tried, so its own failure may come wrapped.
            if let trustError = error as? TLSTrustError { throw trustError }
            if let wrapped = error as? NIOConnectionError,
                let trustError = wrapped.connectionErrors.lazy.compactMap({ $0.error as? TLSTrustError }).first
            {
                throw trustError
            }
            throw ConnectError.unreachable(host: host, port: port, detail: describe(error))
        }

        let fingerprint: String?
        do {
            fingerprint = try await connected.handshake.get()
        } catch {
            // Runs the async channel's own teardown; the handshake failure already closed the socket.
            try? await connected.channel.executeThenClose { _, _ in }
            if let mismatch = error as? CertificateMismatch { throw mismatch }
            throw ConnectError.tlsFailed(host: host, port: port, detail: describe(error))
        }

        let connection = HuddleConnection(
            channel: connected.channel.channel, host: host, port: port, peerFingerprint: fingerprint,
            options: options)
        let reader = Task { await connection.run(connected.channel) }
        await connection.adopt(reader)
        try await connection.waitUntilOpen()
        return connection
    }

    /// Sends one request and waits for its answer. Throws the server's `RPCError` for an error
    /// answer, `ConnectionClosed` (with the `session.closing` reason, if one came) when the
    /// connection ends first, and `CancellationError` when the calling task is cancelled (the late
    /// answer is then dropped).
    public func request(_ method: String, _ params: [String: JSONValue] = [:]) async throws -> JSONValue {
        let writer = try openWriter()
        nextID += 1
        let id = nextID
        let promise = channel.eventLoop.makePromise(of: JSONValue.self)
        pending[id] = promise
        var line = RPCRequest(id: .int(id), method: method, params: params).encoded()
        line.append(0x0A)
        do {
            try await writer.write(ByteBuffer(bytes: line))
            lastSent = .now
        } catch is CancellationError {
            // Cancelled while waiting for the socket to drain: nothing was sent.
            pending.removeValue(forKey: id)?.fail(CancellationError())
            throw CancellationError()
        } catch {
            // Whatever broke the write also ends the reader, which then fails the promise with the
            // closing reason; closing makes sure that happens.
            channel.close(promise: nil)
        }
        let result = try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
        }
        if method == Method.hello.rawValue, let heartbeat = result["heartbeat_s"]?.intValue, heartbeat > 0 {
            heartbeatSeconds = heartbeat
            startKeepAlive(heartbeatSeconds: heartbeat)
        }
        return result
    }

    /// Writes bytes as they are (no newline added): for tests that need malformed input.
    public func sendRaw(_ bytes: [UInt8]) async throws {
        let writer = try openWriter()
        do {
            try await writer.write(ByteBuffer(bytes: bytes))
            lastSent = .now
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw endedError(detail: Self.describe(error))
        }
    }

    /// `session.bye` (which sets the user `offline`), then close.
    public func bye() async throws {
        _ = try await request(Method.bye.rawValue)
        await close()
    }

    /// Closes the socket and returns once the reader has finished: every outstanding request has
    /// failed with `ConnectionClosed` and `notifications` has finished.
    public func close() async {
        closedLocally = true
        channel.close(promise: nil)
        await readerTask?.value
    }

    /// True until the connection has ended.
    public var isOpen: Bool {
        if case .ended = phase { return false }
        return true
    }

    /// Why the connection ended; nil while it is open.
    public var closedBecause: ConnectionClosed? {
        if case .ended(let closed) = phase { return closed }
        return nil
    }

    // MARK: - Reader

    private nonisolated func run(_ asyncChannel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        var closingReason: String?
        var failure: String?
        do {
            try await asyncChannel.executeThenClose { inbound, outbound in
                await self.opened(outbound)
                for try await line in inbound {
                    if let reason = await self.dispatch(line) {
                        closingReason = reason
                    }
                }
            }
        } catch {
            failure = Self.describe(error)
        }
        await ended(ConnectionClosed(reason: closingReason, detail: failure))
    }

    /// Returns the reason of a `session.closing`.
    private nonisolated func dispatch(_ line: ByteBuffer) async -> String? {
        let bytes = Array(line.readableBytesView)
        let message: ServerMessage
        do {
            message = try ServerMessage.decode(bytes)
        } catch {
            sink.yield(.unreadable(bytes))
            return nil
        }
        switch message {
        case .result(let id, let value):
            if case .int(let number) = id, await answer(number, .success(value)) { return nil }
            sink.yield(.stray(id: id, result: .success(value)))
        case .error(let id?, let error):
            if case .int(let number) = id, await answer(number, .failure(error)) { return nil }
            sink.yield(.stray(id: id, result: .failure(error)))
        case .error(nil, let error):
            sink.yield(.orphanError(error))
        case .notification(let method, let params):
            let notification = ServerNotification(method: method, params: params)
            sink.yield(notification)
            if case .closing(let reason) = notification { return reason }
        }
        return nil
    }

    private func answer(_ id: Int64, _ result: Result<JSONValue, RPCError>) -> Bool {
        guard let promise = pending.removeValue(forKey: id) else { return false }
        promise.completeWith(result.mapError { $0 })
        return true
    }

    private func opened(_ writer: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        guard case .starting(let waiters) = phase else { return }
        phase = .open(writer)
        for waiter in waiters { waiter.resume() }
    }

    private func ended(_ reported: ConnectionClosed) {
        var closed = reported
        if closedLocally && closed.reason == nil && closed.detail == nil {
            closed.detail = "closed by this client"
        }
        if case .starting(let waiters) = phase {
            for waiter in waiters { waiter.resume(throwing: closed) }
        }
        phase = .ended(closed)
        let outstanding = pending
        pending.removeAll()
        for promise in outstanding.values { promise.fail(closed) }
        keepAliveTask?.cancel()
        keepAliveTask = nil
        sink.finish()
    }

    private func adopt(_ task: Task<Void, Never>) {
        readerTask = task
    }

    private func waitUntilOpen() async throws {
        switch phase {
        case .open: return
        case .ended(let closed): throw closed
        case .starting(let waiters):
            try await withCheckedThrowingContinuation { continuation in
                phase = .starting(waiters + [continuation])
            }
        }
    }

    private func openWriter() throws -> NIOAsyncChannelOutboundWriter<ByteBuffer> {
        switch phase {
        case .open(let writer): return writer
        case .ended(let closed): throw closed
        case .starting: throw ConnectionClosed(detail: "not connected yet")
        }
    }

    private func endedError(detail: String) -> ConnectionClosed {
        if case .ended(let closed) = phase { return closed }
        return ConnectionClosed(detail: detail)
    }

    // MARK: - Keep-alive

    private func startKeepAlive(heartbeatSeconds seconds: Int64) {
        guard keepAlive, keepAliveTask == nil, case .open = phase else { return }
        let interval = Duration.seconds(seconds)
        keepAliveTask = Task { [weak self] in
            // Checking twice per interval keeps the longest silence at 1.5 × heartbeat_s, well
            // inside the server's 3 × heartbeat_s.
            while (try? await Task.sleep(for: interval / 2)) != nil {
                guard let self, await self.pingIfIdle(longerThan: interval) else { return }
            }
        }
        let limit = TimeAmount.seconds(3 * seconds)
        let channel = self.channel
        channel.eventLoop.execute {
            // First in the pipeline: any bytes at all, TLS records included, prove the path works.
            try? channel.pipeline.syncOperations.addHandler(SilenceWatchdog(limit: limit), position: .first)
        }
    }

    /// Returns false once the connection has ended.
    private func pingIfIdle(longerThan interval: Duration) async -> Bool {
        guard case .open = phase else { return false }
        if ContinuousClock.now - lastSent >= interval {
            _ = try? await request(Method.ping.rawValue)
        }
        return true
    }

    /// Short words for what NIO reports, which is precise but long.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let dns = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve \(error.host): \(dns)" }
            if let first = error.connectionErrors.first { return describe(first.error) }
            return "no address to connect to"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode))
        case ChannelError.connectTimeout(let timeout):
            return "no answer within \(timeout.nanoseconds / 1_000_000) ms"
        default:
            return String(describing: error)
        }
    }
}

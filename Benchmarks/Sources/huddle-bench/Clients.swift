import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Where a client connects and how.
struct Endpoint: Sendable {
    var wire: Wire
    var port: Int
    /// Client TLS context trusting the server's certificate; nil for plaintext.
    var tls: NIOSSLContext?
    var hostname = "localhost"

    var transport: String { tls == nil ? "plaintext" : "tls" }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Opens a connection on `loop` with `handler` last in the pipeline. Huddle and Redis speak TLS
/// from the first byte; NATS announces itself in plaintext (`INFO`) and the client upgrades, so its
/// handler adds the TLS handler itself.
func connect(
    _ endpoint: Endpoint, on loop: any EventLoop, receiveBuffer: Int? = nil,
    handler: @escaping @Sendable () -> any ChannelHandler
) async throws -> any Channel {
    var bootstrap = ClientBootstrap(group: loop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .connectTimeout(.seconds(10))
    if let receiveBuffer {
        bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
    }
    let directTLS = endpoint.wire != .nats ? endpoint.tls : nil
    let hostname = endpoint.hostname
    bootstrap = bootstrap.channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            if let directTLS {
                try sync.addHandler(NIOSSLClientHandler(context: directTLS, serverHostname: hostname))
            }
            try sync.addHandler(handler())
        }
    }
    return try await bootstrap.connect(host: "127.0.0.1", port: endpoint.port).get()
}

/// The steps before a client may count deliveries or publish, shared by every client kind.
/// Returns the lines to send, and whether the conversation is ready.
struct Handshake {
    enum Outcome {
        case wait
        case send(String)
        case ready(send: String?)
        case fail(String)
    }

    let wire: Wire
    let token: String
    let join: Bool
    let publisher: Bool
    /// NATS only: upgrade to TLS with this context after `INFO`.
    let natsTLS: NIOSSLContext?
    let hostname: String

    /// What to send once the connection is up (before any byte came).
    func opening() -> String? {
        switch wire {
        case .huddle: return Requests.huddleHello(id: 1, token: token)
        case .redis: return publisher ? Requests.resp(["PING"]) : Requests.resp(["SUBSCRIBE", Payload.subject])
        case .nats: return nil
        }
    }

    func handle(_ line: ArraySlice<UInt8>, context: ChannelHandlerContext) -> Outcome {
        switch wire {
        case .huddle:
            if line.hasPrefix(#"{"error""#) { return .fail("huddled refused the setup: \(line.text)") }
            if line.hasPrefix(#"{"id":1,"#) {
                return join ? .send(Requests.huddleJoin(id: 2, team: Payload.subject)) : .ready(send: nil)
            }
            if line.hasPrefix(#"{"id":2,"#) { return .ready(send: nil) }
            return .wait
        case .nats:
            if line.hasPrefix("INFO") {
                if let natsTLS {
                    do {
                        let tls = try NIOSSLClientHandler(context: natsTLS, serverHostname: hostname)
                        try context.pipeline.syncOperations.addHandler(tls, position: .first)
                    } catch {
                        return .fail("TLS upgrade: \(error)")
                    }
                }
                let connect =
                    #"CONNECT {"verbose":\#(publisher),"pedantic":false,"tls_required":\#(natsTLS != nil),"name":"huddle-bench","lang":"swift","version":"1.0","protocol":1}"#
                    + "\r\n"
                return .send(connect + (publisher ? "" : "SUB \(Payload.subject) 1\r\n") + "PING\r\n")
            }
            if line.hasPrefix("PONG") { return .ready(send: nil) }
            if line.hasPrefix("PING") { return .send("PONG\r\n") }
            if line.hasPrefix("-ERR") { return .fail("nats-server: \(line.text)") }
            return .wait
        case .redis:
            if line.hasPrefix("-") { return .fail("redis-server: \(line.text)") }
            if publisher && line.hasPrefix("+PONG") { return .ready(send: nil) }
            if !publisher && line.hasPrefix(":") { return .ready(send: nil) }
            return .wait
        }
    }
}

// MARK: Subscriber

/// A fan-out subscriber: after its handshake it only scans what arrives for payload markers,
/// counting each delivery and recording its latency into its loop's histogram. No task, no
/// allocation per message; one clock read per read from the socket.
final class SubscriberHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let handshake: Handshake
    private let stats: LoopStats
    private let ready: EventLoopPromise<Void>
    private let keepAlive: TimeAmount?
    private var inSetup = true
    private var lines = LineSplitter()
    private var scanner = MarkerScanner()
    private var pingID = 100
    private var keepAliveTask: Scheduled<Void>?

    init(handshake: Handshake, stats: LoopStats, ready: EventLoopPromise<Void>, keepAlive: TimeAmount? = .seconds(10)) {
        self.handshake = handshake
        self.stats = stats
        self.ready = ready
        self.keepAlive = keepAlive
    }

    func channelActive(context: ChannelHandlerContext) {
        if let opening = handshake.opening() { send(opening, context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepAliveTask?.cancel()
        ready.fail(BenchFailure("connection closed during setup"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        ready.fail(error)
        context.close(promise: nil)
    }

    private func send(_ text: String, _ context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if inSetup {
            buffer.withUnsafeReadableBytes { raw in
                lines.feed(raw) { line in
                    switch handshake.handle(line, context: context) {
                    case .wait: return true
                    case .send(let text):
                        send(text, context)
                        return true
                    case .ready(let text):
                        if let text { send(text, context) }
                        inSetup = false
                        return false
                    case .fail(let why):
                        ready.fail(BenchFailure(why))
                        context.close(promise: nil)
                        return false
                    }
                }
            }
            if !inSetup {
                let rest = lines.takeRest()
                rest.withUnsafeBytes { count($0) }
                startKeepAlive(context)
                ready.succeed()
            }
            return
        }
        buffer.withUnsafeReadableBytes { count($0) }
        if handshake.wire == .nats { answerPings(buffer, context) }
    }

    @inline(__always)
    private func count(_ raw: UnsafeRawBufferPointer) {
        let now = monotonicNanos()
        let stats = self.stats
        let found = scanner.scan(raw) { sentAt in
            stats.histogram.record(now > sentAt ? now - sentAt : 0)
        }
        if found > 0 { stats.delivered.add(found, ordering: .relaxed) }
    }

    /// nats-server pings every client now and then and drops those that do not answer.
    private func answerPings(_ buffer: ByteBuffer, _ context: ChannelHandlerContext) {
        let view = buffer.readableBytesView
        guard view.count >= 6 else { return }
        var index = view.startIndex
        while let p = view[index...].firstIndex(of: 0x50) {  // "P"
            if p + 6 <= view.endIndex, view[p + 1] == 0x49, view[p + 2] == 0x4E, view[p + 3] == 0x47,
                p == view.startIndex || view[p - 1] == 0x0A
            {
                send("PONG\r\n", context)
            }
            index = p + 1
        }
    }

    /// A Huddle client that has sent nothing for 3 heartbeats is closed, so subscribers ping.
    private func startKeepAlive(_ context: ChannelHandlerContext) {
        guard handshake.wire == .huddle, let keepAlive else { return }
        keepAliveTask = context.eventLoop.assumeIsolated().scheduleTask(in: keepAlive) { [self] in
            pingID += 1
            send(Requests.huddlePing(id: pingID), context)
            startKeepAlive(context)
        }
    }
}

// MARK: Publisher

/// The one publisher. Full speed: keeps at most `window` messages unacknowledged, and (so that
/// load stays bounded) at most `backlog` messages ahead of the average subscriber. Fixed rate:
/// sends message k at start + k/rate and embeds that intended time, so a stall in the server
/// shows as latency rather than as a silently slower send rate (no coordinated omission).
final class PublisherHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Mode {
        case idle
        case fullSpeed(window: Int, backlog: Int)
        case fixedRate(periodNanos: Double, start: UInt64)
        case stopped
    }

    struct Counts: Sendable {
        var sent = 0
        var acked = 0
        var errors = 0
        var lastError: String?
    }

    private let handshake: Handshake
    private let ready: EventLoopPromise<Void>
    private var inSetup = true
    private var lines = LineSplitter()
    private var context: ChannelHandlerContext?
    private var mode = Mode.idle
    private var nextID = 10
    private(set) var counts = Counts()
    private var fleet: Fleet?
    private var subscribers = 0
    private var deliveredBase = 0
    private var sentBase = 0
    private var timer: Scheduled<Void>?
    private var rateIndex: UInt64 = 0

    init(handshake: Handshake, ready: EventLoopPromise<Void>) {
        self.handshake = handshake
        self.ready = ready
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        if let opening = handshake.opening() { send(opening, context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        ready.fail(BenchFailure("publisher connection closed during setup"))
        stop()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        ready.fail(error)
        counts.errors += 1
        counts.lastError = "\(error)"
        context.close(promise: nil)
    }

    private func send(_ text: String, _ context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { raw in
            lines.feed(raw) { line in
                if inSetup {
                    switch handshake.handle(line, context: context) {
                    case .wait: return true
                    case .send(let text):
                        send(text, context)
                        return true
                    case .ready(let text):
                        if let text { send(text, context) }
                        inSetup = false
                        ready.succeed()
                        return true
                    case .fail(let why):
                        ready.fail(BenchFailure(why))
                        context.close(promise: nil)
                        return false
                    }
                }
                acknowledge(line, context)
                return true
            }
        }
        if case .fullSpeed = mode { pump() }
    }

    private func acknowledge(_ line: ArraySlice<UInt8>, _ context: ChannelHandlerContext) {
        var ok = false
        var failed = false
        switch handshake.wire {
        case .huddle:
            ok = line.hasPrefix(#"{"id":"#)
            failed = line.hasPrefix(#"{"error":"#)
        case .nats:
            ok = line.hasPrefix("+OK")
            failed = line.hasPrefix("-ERR")
            if line.hasPrefix("PING") { send("PONG\r\n", context) }
        case .redis:
            ok = line.hasPrefix(":")
            failed = line.hasPrefix("-")
        }
        if ok { counts.acked += 1 }
        if failed {
            counts.acked += 1
            counts.errors += 1
            if counts.lastError == nil { counts.lastError = line.text }
        }
    }

    @inline(__always)
    private func writeMessage(sentAt: UInt64, into buffer: inout ByteBuffer) {
        switch handshake.wire {
        case .huddle:
            Requests.writeHuddleSend(id: nextID, sentAt: sentAt, into: &buffer)
            nextID += 1
        case .nats: Requests.writeNATSPublish(sentAt: sentAt, into: &buffer)
        case .redis: Requests.writeRedisPublish(sentAt: sentAt, into: &buffer)
        }
        counts.sent += 1
    }

    // Control, called on the loop.

    func startFullSpeed(window: Int, backlog: Int, fleet: Fleet, subscribers: Int) {
        self.fleet = fleet
        self.subscribers = subscribers
        deliveredBase = fleet.delivered
        sentBase = counts.sent
        mode = .fullSpeed(window: window, backlog: backlog)
        pump()
        armPumpTimer()
    }

    func startFixedRate(perSecond: Double) {
        mode = .fixedRate(periodNanos: 1e9 / perSecond, start: monotonicNanos())
        rateIndex = 0
        tick()
    }

    func stop() {
        mode = .stopped
        timer?.cancel()
        timer = nil
    }

    private func pump() {
        guard case .fullSpeed(let window, let backlog) = mode, let context else { return }
        var allowance = window - (counts.sent - counts.acked)
        if backlog > 0, subscribers > 0, let fleet {
            let deliveredMessages = (fleet.delivered - deliveredBase) / subscribers
            allowance = min(allowance, backlog - (counts.sent - sentBase - deliveredMessages))
        }
        guard allowance > 0 else { return }
        var buffer = context.channel.allocator.buffer(capacity: allowance * 150)
        for _ in 0..<allowance { writeMessage(sentAt: monotonicNanos(), into: &buffer) }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// When the backlog bound holds sending back, acknowledgements stop coming: look again every ms.
    private func armPumpTimer() {
        guard let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(1)) { [self] in
            guard case .fullSpeed = mode else { return }
            pump()
            armPumpTimer()
        }
    }

    private func tick() {
        guard case .fixedRate(let period, let start) = mode, let context else { return }
        let now = monotonicNanos()
        var buffer = context.channel.allocator.buffer(capacity: 256)
        var due = start + UInt64(Double(rateIndex) * period)
        var wrote = false
        // A safety bound only: never more than a second's worth unacknowledged.
        let cap = max(64, Int(1e9 / period))
        while due <= now {
            if counts.sent - counts.acked < cap {
                writeMessage(sentAt: due, into: &buffer)
                wrote = true
            }
            rateIndex += 1
            due = start + UInt64(Double(rateIndex) * period)
        }
        if wrote { context.writeAndFlush(wrapOutboundOut(buffer), promise: nil) }
        let delay = Int64(due) - Int64(monotonicNanos())
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(0, delay))) { [self] in
            tick()
        }
    }
}

// MARK: Agents (durability)

/// Acknowledged status changes, counted across loops.
final class AgentCounters: Sendable {
    let granted = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    let firstRefusal = Mutex<String?>(nil)
}

/// An agent flipping between `available` and `break` as fast as each change is acknowledged
/// (one request in flight per agent, as a real client would).
final class AgentHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let handshake: Handshake
    private let ready: EventLoopPromise<Void>
    private let counters: AgentCounters
    private var inSetup = true
    private var lines = LineSplitter()
    private var context: ChannelHandlerContext?
    private var running = false
    private var nextID = 10
    private var onBreak = true
    /// Breaks are wellbeing breaks: each one raises an alert.
    private let wellbeing: Bool

    init(handshake: Handshake, counters: AgentCounters, ready: EventLoopPromise<Void>, wellbeing: Bool = false) {
        self.handshake = handshake
        self.counters = counters
        self.ready = ready
        self.wellbeing = wellbeing
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        if let opening = handshake.opening() { send(opening, context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        ready.fail(BenchFailure("agent connection closed during setup"))
        running = false
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        ready.fail(error)
        context.close(promise: nil)
    }

    private func send(_ text: String, _ context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
    }

    func start() {
        running = true
        next()
    }

    func stop() { running = false }

    private func next() {
        guard running, let context else { return }
        onBreak.toggle()
        let request =
            onBreak && wellbeing
            ? Requests.huddleWellbeingBreak(id: nextID) : Requests.huddleStatus(id: nextID, status: onBreak ? "break" : "available")
        send(request, context)
        nextID += 1
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var answered = false
        buffer.withUnsafeReadableBytes { raw in
            lines.feed(raw) { line in
                if inSetup {
                    switch handshake.handle(line, context: context) {
                    case .wait: return true
                    case .send(let text):
                        send(text, context)
                        return true
                    case .ready:
                        inSetup = false
                        ready.succeed()
                        return true
                    case .fail(let why):
                        ready.fail(BenchFailure(why))
                        context.close(promise: nil)
                        return false
                    }
                }
                if line.hasPrefix(#"{"id":"#) {
                    answered = true
                    if line.contains(#""decision":"granted""#) {
                        counters.granted.add(1, ordering: .relaxed)
                    } else {
                        refused(line)
                    }
                } else if line.hasPrefix(#"{"error":"#) {
                    answered = true
                    refused(line)
                }
                return true
            }
        }
        if answered { next() }
    }

    private func refused(_ line: ArraySlice<UInt8>) {
        counters.refused.add(1, ordering: .relaxed)
        counters.firstRefusal.withLock { first in
            if first == nil { first = String(line.text.prefix(300)) }
        }
    }
}

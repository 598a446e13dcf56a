import HuddleClient
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOPosix

/// A client that sees the server's bytes exactly as sent, line by line: what the golden
/// transcripts are compared against.
final class RawLineClient: Sendable {
    struct Inbox {
        var lines: [[UInt8]] = []
        var ended = false
        /// Closed by this side: what was still in flight from the server is not received.
        var dropped = false
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let inbox: NIOLockedValueBox<Inbox>

        init(_ inbox: NIOLockedValueBox<Inbox>) { self.inbox = inbox }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let line = buffer.readBytes(length: buffer.readableBytes) ?? []
            inbox.withLockedValue { if !$0.dropped { $0.lines.append(line) } }
        }

        func channelInactive(context: ChannelHandlerContext) {
            inbox.withLockedValue { $0.ended = true }
        }
    }

    private let inbox = NIOLockedValueBox(Inbox())
    private let channel: any Channel

    /// `networkLike` makes the connection behave like one across a real network: segments of
    /// 1,400 bytes instead of loopback's 64 KiB, so that the server's kernel takes tens of
    /// kilobytes at a time (its send buffer follows the segment size) instead of megabytes.
    init(port: Int, trust: TLSTrust, networkLike: Bool = false) async throws {
        let inbox = self.inbox
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if networkLike {
            bootstrap = bootstrap.channelOption(
                ChannelOptions.socket(.init(CInt(IPPROTO_TCP)), .init(CInt(TCP_MAXSEG))), value: 1400)
        }
        channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    _ = try trust.addHandlers(to: sync, serverHostname: "127.0.0.1")
                    try sync.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    try sync.addHandler(Collector(inbox))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes + [0x0A])).get()
    }

    /// The next line, or nil when the connection ended.
    func nextLine(within timeout: Duration = .seconds(5)) async throws -> [UInt8]? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let next = inbox.withLockedValue { inbox -> [UInt8]?? in
                if !inbox.lines.isEmpty { return .some(inbox.lines.removeFirst()) }
                return inbox.ended ? .some(nil) : nil
            }
            if let next { return next }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw TestDaemon.Failure(description: "no line within \(timeout)")
    }

    /// Everything received and not yet taken.
    func drain() -> [[UInt8]] {
        inbox.withLockedValue { inbox in
            defer { inbox.lines.removeAll() }
            return inbox.lines
        }
    }

    /// Drops the connection. Lines the server sent before it saw the close (the close is
    /// asynchronous: a busy machine can take a moment) are not kept, as a real client that
    /// went away would not read them.
    func close() {
        inbox.withLockedValue {
            $0.dropped = true
            $0.lines.removeAll()
        }
        channel.close(promise: nil)
    }
}

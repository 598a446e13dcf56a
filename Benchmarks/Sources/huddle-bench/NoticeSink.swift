import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The receiving end of alert notices (SPEC §12) for the benchmarks: an HTTP/1.1 server on
/// loopback that answers every POST `200 ok` at once and counts them, so that what is measured is
/// the daemon's sending, not a receiver's work.
final class NoticeSink: Sendable {
    let channel: any Channel
    let received = Atomic<Int>(0)
    /// The monotonic time of the last POST, for the latency of one alert's notice.
    let lastAt = Atomic<UInt64>(0)
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) { self.channel = channel }

    static func start(on group: any EventLoopGroup) async throws -> NoticeSink {
        let counter = Counter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let sink = NoticeSink(channel: channel)
        counter.sink.withLock { $0 = sink }
        return sink
    }

    func stop() async { try? await channel.close() }

    final class Counter: Sendable {
        let sink = Mutex<NoticeSink?>(nil)
        func count() {
            guard let sink = sink.withLock({ $0 }) else { return }
            sink.received.add(1, ordering: .relaxed)
            sink.lastAt.store(monotonicNanos(), ordering: .relaxed)
        }
    }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let counter: Counter

        init(counter: Counter) { self.counter = counter }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            counter.count()
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: "2")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: "ok")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

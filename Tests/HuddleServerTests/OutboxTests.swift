import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import HuddleServer

@Suite struct OutboxTests {
    /// Counts the bytes each flush carries, as the TLS handler would encrypt them.
    final class FlushRecorder: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var unflushed = 0
        var flushes: [Int] = []

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            unflushed += unwrapOutboundIn(data).readableBytes
            context.write(data, promise: promise)
        }

        func flush(context: ChannelHandlerContext) {
            flushes.append(unflushed)
            unflushed = 0
            context.flush()
        }
    }

    /// Seven 500-byte lines, each with bytes of its own.
    static let lines = (0..<7).map { line in (0..<500).map { UInt8(truncatingIfNeeded: line * 31 + $0) } }

    func drained(_ lines: [[UInt8]], flushLimit: Int?) throws -> (flushes: [Int], bytes: [UInt8]) {
        let recorder = FlushRecorder()
        let channel = EmbeddedChannel(handler: recorder)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let outbox = Outbox(channel: channel, writeTimeout: .seconds(10), flushLimit: flushLimit) {}
        for line in lines { outbox.enqueue(line) }
        channel.embeddedEventLoop.run()
        var bytes: [UInt8] = []
        while var piece = try channel.readOutbound(as: ByteBuffer.self) {
            bytes += piece.readBytes(length: piece.readableBytes) ?? []
        }
        _ = try channel.finish()
        return (recorder.flushes, bytes)
    }

    /// A TLS connection's drain goes out in flushes of at most the limit, in order, every byte
    /// once: swift-nio-ssl keeps its buffer at the size of the largest flush it encrypted.
    @Test func aLimitedDrainIsFlushedInPieces() throws {
        let (flushes, bytes) = try drained(Self.lines, flushLimit: 1_000)
        #expect(flushes == [1_000, 1_000, 1_000, 500])
        #expect(bytes == Self.lines.flatMap { $0 })
    }

    /// Without a limit (plaintext) everything queued goes out in one flush.
    @Test func anUnlimitedDrainIsOneFlush() throws {
        let (flushes, bytes) = try drained(Self.lines, flushLimit: nil)
        #expect(flushes == [3_500])
        #expect(bytes == Self.lines.flatMap { $0 })
    }

    /// A streamed answer goes out a window at a time (half the outbound limit), each once the one
    /// before it is written; what is enqueued after it waits behind it, whole, and the answer's
    /// callback runs once its last byte is out.
    @Test func aStreamGoesOutInWindowsWithWhatFollowsBehindIt() throws {
        let recorder = FlushRecorder()
        let channel = EmbeddedChannel(handler: recorder)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let outbox = Outbox(channel: channel, writeTimeout: .seconds(10), outboundLimit: 2_000) {
            Issue.record("taken for a slow reader")
        }
        let answer = (0..<4_500).map { UInt8(truncatingIfNeeded: $0) }
        let written = NIOLockedValueBox(false)
        outbox.enqueue(Self.lines[0])
        outbox.stream(ByteBuffer(bytes: answer)) { written.withLockedValue { $0 = true } }
        outbox.enqueue(Self.lines[1])
        channel.embeddedEventLoop.run()
        var bytes: [UInt8] = []
        while var piece = try channel.readOutbound(as: ByteBuffer.self) {
            bytes += piece.readBytes(length: piece.readableBytes) ?? []
        }
        #expect(bytes == Self.lines[0] + answer + Self.lines[1])
        #expect(recorder.flushes == [500, 1_000, 1_000, 1_000, 1_000, 500, 500])
        #expect(written.withLockedValue { $0 })
        _ = try channel.finish()
    }

    /// The limit leaves a record's header, nonce and tag room inside swift-nio-ssl's first
    /// 16 KiB buffer (TLS 1.2 adds 29 bytes to a record, TLS 1.3 22).
    @Test func theTLSLimitFitsOneRecordInSixteenKiB() {
        #expect(Outbox.tlsFlushBytes + 29 <= 16_384)
    }
}

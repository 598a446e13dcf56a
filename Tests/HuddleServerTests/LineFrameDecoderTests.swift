import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import HuddleFraming

@Suite struct LineFrameDecoderTests {
    func line(_ s: String) -> InboundFrame { .line(Array(s.utf8)) }

    @Test func verifierByteByByteAndInBatches() throws {
        var input = ByteBuffer(string: "{\"a\":1}\nsecond\r\n\nthird\n")
        let expected: [InboundFrame] = [line("{\"a\":1}"), line("second"), line(""), line("third")]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, expected)], decoderFactory: { LineFrameDecoder(maxLineBytes: 64) })
        input = ByteBuffer(string: "x\n")
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, [line("x")])], decoderFactory: { LineFrameDecoder(maxLineBytes: 1) })
    }

    @Test func feedsOneByteAtATime() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 100)))
        for byte in Array("hello\r\nworld\n".utf8) {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(try channel.readInbound(as: InboundFrame.self) == line("hello"))
        #expect(try channel.readInbound(as: InboundFrame.self) == line("world"))
        #expect(try channel.readInbound(as: InboundFrame.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test func exactlyTheLimitPassesOneMoreFails() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 8)))
        try channel.writeInbound(ByteBuffer(string: "12345678\r\n123456789\nafter\n"))
        #expect(try channel.readInbound(as: InboundFrame.self) == line("12345678"))
        #expect(try channel.readInbound(as: InboundFrame.self) == .tooLong)
        // After an oversized line nothing more is decoded: the connection is being closed.
        #expect(try channel.readInbound(as: InboundFrame.self) == nil)
        _ = try channel.finish()
    }

    @Test func oversizedWithoutNewlineIsCaughtEarly() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 16)))
        try channel.writeInbound(ByteBuffer(string: String(repeating: "x", count: 40)))
        #expect(try channel.readInbound(as: InboundFrame.self) == .tooLong)
        _ = try channel.finish()
    }
}

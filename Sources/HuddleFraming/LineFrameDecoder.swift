import NIOCore

/// What the framer hands on: a line (without `\n` or a `\r` before it), or the news that a line
/// went past the limit, after which the connection is closed and nothing more is read.
public enum InboundFrame: Sendable, Equatable {
    case line([UInt8])
    case tooLong
}

/// Splits the byte stream into lines of at most `maxLineBytes` (the newline not counted).
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = InboundFrame

    public let maxLineBytes: Int
    private var scanned = 0
    private var failed = false

    public init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if failed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let view = buffer.readableBytesView
        let searchStart = view.startIndex + scanned
        if let newline = view[searchStart...].firstIndex(of: 0x0A) {
            var length = newline - view.startIndex
            let lineLength = length > 0 && view[newline - 1] == 0x0D ? length - 1 : length
            if lineLength > maxLineBytes {
                return tooLong(context: context, buffer: &buffer)
            }
            let line = buffer.readBytes(length: lineLength) ?? []
            length -= lineLength
            buffer.moveReaderIndex(forwardBy: length + 1)
            scanned = 0
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        }
        scanned = view.count
        // A trailing `\r` may still be followed by `\n`, so allow one byte of slack.
        if view.count > maxLineBytes + 1 {
            return tooLong(context: context, buffer: &buffer)
        }
        return .needMoreData
    }

    private mutating func tooLong(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        failed = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        context.fireChannelRead(wrapInboundOut(.tooLong))
        return .needMoreData
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // An unterminated last line is dropped: a request is only a request once its newline came.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

import FuzzSupport
import HuddleFraming
import NIOCore
import NIOEmbedded

/// The line framer under arbitrary bytes in arbitrary chunks. The first byte picks the line limit
/// (1 to 64) and the chunk size (1, 3, 17 or 512 bytes), so the fuzzer explores both. Invariants: no emitted line is longer than
/// the limit or contains a newline, `tooLong` comes at most once and last, and the lines emitted
/// are exactly the input's complete lines (a `\r` before `\n` dropped).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limit = Int(bytes[0] & 0x3F) + 1
    // Byte by byte, in odd small pieces, and in reads as big as a socket's.
    let chunk = [1, 3, 17, 512][Int(bytes[0] >> 6)]
    let input = Array(bytes.dropFirst())
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLineBytes: limit)))
    var frames: [InboundFrame] = []
    var offset = 0
    // Once `tooLong` is out the framer only discards: one more chunk shows that nothing follows
    // it, and the rest of the input would only cost time (an EmbeddedChannel write is slow here).
    var chunksAfterTooLong = 0
    while offset < input.count && chunksAfterTooLong < 2 {
        let end = min(input.count, offset + chunk)
        do {
            try channel.writeInbound(ByteBuffer(bytes: input[offset..<end]))
            while let frame = try channel.readInbound(as: InboundFrame.self) { frames.append(frame) }
        } catch {
            FuzzCheck.fail("the framer threw: \(error)")
        }
        if frames.last == .tooLong { chunksAfterTooLong += 1 }
        offset = end
    }
    _ = try? channel.finish()

    var expected: [[UInt8]] = []
    var current: [UInt8] = []
    var overflowed = false
    for byte in input {
        if byte == 0x0A {
            if current.last == 0x0D { current.removeLast() }
            if current.count > limit {
                overflowed = true
                break
            }
            expected.append(current)
            current = []
        } else {
            current.append(byte)
            if current.count > limit + 1 {
                overflowed = true
                break
            }
        }
    }
    var lines: [[UInt8]] = []
    for (index, frame) in frames.enumerated() {
        switch frame {
        case .line(let line):
            FuzzCheck.require(line.count <= limit, "a line over the limit came through")
            FuzzCheck.require(!line.contains(0x0A), "a line with a newline came through")
            lines.append(line)
        case .tooLong:
            FuzzCheck.require(index == frames.count - 1, "frames after tooLong")
            FuzzCheck.require(overflowed, "tooLong without an oversized line")
        }
    }
    FuzzCheck.require(lines == expected, "lines differ from the input's complete lines")
    return 0
}

#if !FUZZING
@main
enum Replay {
    static func main() { CorpusReplay.run(fuzzFrames) }
}
#endif

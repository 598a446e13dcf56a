import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds on the monotonic clock; send and receipt are both taken in this process, so the
/// difference is a true one-way time through the server and back into the harness.
@inline(__always)
func monotonicNanos() -> UInt64 {
    NIODeadline.now().uptimeNanoseconds
}

/// The three servers the harness speaks to.
enum Wire: String, Sendable, CaseIterable {
    case huddle, nats, redis
}

/// The published text: exactly `Payload.size` bytes of printable ASCII,
/// `~T~` + the send time as 16 decimal digits of nanoseconds + a space + filler.
/// The marker never occurs anywhere else in any of the three wire formats, so a subscriber finds
/// deliveries (and their send times) by scanning for it, whatever the framing around it.
enum Payload {
    static let marker: [UInt8] = Array("~T~".utf8)
    static let digits = 16
    static let size = 80
    /// Marker and digits: the bytes a subscriber must see to count and time one delivery.
    static let span = marker.count + digits
    static let filler: [UInt8] = {
        let text = " huddle-bench fan-out payload: the quick brown fox jumps over the lazy dog"
        return Array(text.utf8.prefix(size - span))
    }()
    static let subject = "bench"

    static func write(sentAt: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeBytes(marker)
        var digitsBuffer: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                           UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48)
        withUnsafeMutableBytes(of: &digitsBuffer) { raw in
            var value = sentAt % 10_000_000_000_000_000
            var index = digits - 1
            while value > 0 && index >= 0 {
                raw[index] = UInt8(48 + value % 10)
                value /= 10
                index -= 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(raw))
        }
        buffer.writeBytes(filler)
    }

    static func bytes(sentAt: UInt64) -> [UInt8] {
        var buffer = ByteBuffer()
        write(sentAt: sentAt, into: &buffer)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}

/// Finds payload markers in a byte stream split arbitrarily into reads. Keeps the last
/// `span - 1` bytes of each read so that a marker cut by a read boundary is still found once.
struct MarkerScanner {
    private var carry: [UInt8] = []

    /// Calls `found` with the embedded send time of every complete marker; returns how many.
    mutating func scan(_ bytes: UnsafeRawBufferPointer, _ found: (UInt64) -> Void) -> Int {
        let span = Payload.span
        var count = 0
        if !carry.isEmpty {
            // Markers that start in the carried tail end within `span` bytes of the new read.
            var joined = carry
            joined.append(contentsOf: bytes.prefix(span))
            let limit = carry.count
            joined.withUnsafeBytes { count += Self.find($0, startsBefore: limit, found) }
        }
        count += Self.find(bytes, startsBefore: bytes.count, found)
        if bytes.count >= span - 1 {
            carry = Array(bytes.suffix(span - 1))
        } else {
            carry.append(contentsOf: bytes)
            if carry.count > span - 1 { carry.removeFirst(carry.count - (span - 1)) }
        }
        return count
    }

    private static func find(_ bytes: UnsafeRawBufferPointer, startsBefore limit: Int, _ found: (UInt64) -> Void)
        -> Int
    {
        guard let base = bytes.baseAddress else { return 0 }
        let total = bytes.count
        let span = Payload.span
        var count = 0
        var offset = 0
        while offset + span <= total && offset < limit {
            guard let hit = memchr(base + offset, 0x7E, total - offset - span + 1) else { break }
            let at = base.distance(to: UnsafeRawPointer(hit))
            if at >= limit { break }
            offset = at + 1
            guard bytes[at + 1] == 0x54, bytes[at + 2] == 0x7E else { continue }
            var value: UInt64 = 0
            var valid = true
            for index in (at + 3)..<(at + span) {
                let digit = bytes[index] &- 48
                if digit > 9 {
                    valid = false
                    break
                }
                value = value &* 10 &+ UInt64(digit)
            }
            guard valid else { continue }
            found(value)
            count += 1
            offset = at + span
        }
        return count
    }
}

/// Request lines, written by hand: the harness must not spend its share of the two cores on a
/// general JSON encoder.
enum Requests {
    static func huddleHello(id: Int, token: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"session.hello","params":{"token":"\#(token)","client":"huddle-bench"}}"# + "\n"
    }

    static func huddleJoin(id: Int, team: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"team.join","params":{"team":"\#(team)"}}"# + "\n"
    }

    static func huddlePing(id: Int) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"session.ping","params":{}}"# + "\n"
    }

    static func huddleStatus(id: Int, status: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"status.set","params":{"status":"\#(status)"}}"# + "\n"
    }

    /// A wellbeing break (an alert for supervisors, and its notices, at each one).
    static func huddleWellbeingBreak(id: Int) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"status.set","params":{"status":"break","reason":"abusive_call"}}"# + "\n"
    }

    static func huddlePolicy(id: Int, team: String, policy: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"policy.set","params":{"team":"\#(team)","policy":\#(policy),"comment":"huddle-bench: every break granted"}}"#
            + "\n"
    }

    static let huddleSendPrefix: [UInt8] = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
    static let huddleSendMiddle: [UInt8] = Array(
        #","method":"message.send","params":{"team":"\#(Payload.subject)","text":""#.utf8)
    static let huddleSendSuffix: [UInt8] = Array("\"}}\n".utf8)

    static func writeHuddleSend(id: Int, sentAt: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeBytes(huddleSendPrefix)
        buffer.writeString(String(id))
        buffer.writeBytes(huddleSendMiddle)
        Payload.write(sentAt: sentAt, into: &buffer)
        buffer.writeBytes(huddleSendSuffix)
    }

    static let natsPub: [UInt8] = Array("PUB \(Payload.subject) \(Payload.size)\r\n".utf8)
    static let crlf: [UInt8] = [13, 10]

    static func writeNATSPublish(sentAt: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeBytes(natsPub)
        Payload.write(sentAt: sentAt, into: &buffer)
        buffer.writeBytes(crlf)
    }

    static let redisPublish: [UInt8] = Array(
        "*3\r\n$7\r\nPUBLISH\r\n$\(Payload.subject.utf8.count)\r\n\(Payload.subject)\r\n$\(Payload.size)\r\n".utf8)

    static func writeRedisPublish(sentAt: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeBytes(redisPublish)
        Payload.write(sentAt: sentAt, into: &buffer)
        buffer.writeBytes(crlf)
    }

    static func resp(_ parts: [String]) -> String {
        var out = "*\(parts.count)\r\n"
        for part in parts { out += "$\(part.utf8.count)\r\n\(part)\r\n" }
        return out
    }
}

/// Splits received bytes into lines (without `\r\n`), for the low-volume parts of a
/// conversation: setup, acknowledgements.
struct LineSplitter {
    private var pending: [UInt8] = []

    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ line: (ArraySlice<UInt8>) -> Bool) {
        pending.append(contentsOf: bytes)
        drain(line)
    }

    /// Calls `line` per complete line until it returns false (the rest stays pending).
    mutating func drain(_ line: (ArraySlice<UInt8>) -> Bool) {
        var start = 0
        var keepGoing = true
        while keepGoing, let newline = pending[start...].firstIndex(of: 0x0A) {
            var end = newline
            if end > start && pending[end - 1] == 0x0D { end -= 1 }
            keepGoing = line(pending[start..<end])
            start = newline + 1
        }
        if start > 0 { pending.removeFirst(start) }
    }

    /// Whatever has not been handed out as a line yet.
    mutating func takeRest() -> [UInt8] {
        defer { pending = [] }
        return pending
    }
}

extension ArraySlice where Element == UInt8 {
    func hasPrefix(_ text: String) -> Bool {
        starts(with: text.utf8)
    }

    func contains(_ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard needle.count <= count, let first = needle.first else { return false }
        var index = startIndex
        while index <= endIndex - needle.count {
            if self[index] == first && self[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }

    var text: String { String(decoding: self, as: UTF8.self) }
}

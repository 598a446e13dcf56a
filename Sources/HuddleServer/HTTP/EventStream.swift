import HuddleCore
import HuddleProtocol
import HummingbirdCore
import NIOConcurrencyHelpers
import NIOCore

/// A browser's event stream (`GET /v1/teams/TEAM/events`, PROTOCOL.md §22): the output of a
/// watcher session. Fan-out and the replay enqueue the same protocol lines as to an `Outbox`,
/// without blocking; the response's writer task takes them, re-frames them as server-sent
/// events (`EventStreamFrames`) and writes them at the browser's pace.
///
/// Slow readers get the protocol port's limits: more than the outbound limit waiting here (a
/// tab that stopped reading), or one write that has not gone out within the write timeout, and
/// the connection is closed; fan-out never waits for it.
final class EventStreamOutput: SessionOutput {
    struct Item {
        var lines: ByteBuffer
        /// A replay's piece: run once written (or dropped), and not counted against the limit,
        /// since the replay reads its next piece only then.
        var whenWritten: (@Sendable () -> Void)?
    }

    private struct State {
        var items: [Item] = []
        var waitingBytes = 0
        /// Nothing more is taken: a last line was queued, or the reader was cut.
        var closing = false
        /// The writer has ended.
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
        /// When the write in progress began (uptime nanoseconds), nil between writes.
        var writingSince: UInt64?
        var lastWrite: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())
    let channel: any Channel
    let outboundLimit: Int
    /// Cuts the connection of a reader found too slow (once), saying why.
    private let onSlowReader: @Sendable (String) -> Void
    private let cut = NIOLockedValueBox(false)

    init(channel: any Channel, outboundLimit: Int, onSlowReader: @escaping @Sendable (String) -> Void) {
        self.channel = channel
        self.outboundLimit = outboundLimit
        self.onSlowReader = onSlowReader
        state.withLockedValue { $0.lastWrite = Uptime.now }
    }

    /// Closes the connection of a reader too slow to keep, once.
    func cutSlowReader(_ why: String) {
        guard cut.withLockedValue({ cut in defer { cut = true }; return !cut }) else { return }
        ServerMetrics.slowReaderDisconnected()
        onSlowReader(why)
        channel.close(promise: nil)
    }

    func enqueue(_ buffer: ByteBuffer) {
        queue(Item(lines: buffer))
    }

    func enqueue(_ lines: ByteBuffer, wakeups: inout Wakeups) {
        queue(Item(lines: lines))
    }

    func stream(_ buffer: ByteBuffer, whenWritten: (@Sendable () -> Void)?) {
        queue(Item(lines: buffer, whenWritten: whenWritten))
    }

    func closeAfter(_ line: ByteBuffer) {
        queue(Item(lines: line), last: true)
    }

    var isOpen: Bool { state.withLockedValue { !$0.closing && !$0.finished } && channel.isActive }

    var hasClosed: Bool { state.withLockedValue { $0.finished } }

    private func queue(_ item: Item, last: Bool = false) {
        let (waiter, dropped, cut) = state.withLockedValue {
            state -> (CheckedContinuation<Void, Never>?, (@Sendable () -> Void)?, Bool) in
            guard !state.closing, !state.finished else { return (nil, item.whenWritten, false) }
            state.items.append(item)
            if item.whenWritten == nil { state.waitingBytes += item.lines.readableBytes }
            if last { state.closing = true }
            if state.waitingBytes > outboundLimit {
                // A reader this far behind is cut, as on the protocol port: what it missed it
                // gets back with Last-Event-ID when it comes back.
                state.closing = true
                return (state.waiter.take(), nil, true)
            }
            return (state.waiter.take(), nil, false)
        }
        dropped?()
        waiter?.resume()
        if cut { cutSlowReader("more than \(outboundLimit) bytes waiting") }
    }

    /// The writer's side: what is queued, once there is something; nil once the stream is
    /// over (closed and everything written).
    func next() async -> [Item]? {
        while true {
            let taken = state.withLockedValue { state -> [Item]?? in
                if !state.items.isEmpty {
                    defer {
                        state.items = []
                        state.waitingBytes = 0
                    }
                    return .some(state.items)
                }
                return state.closing || state.finished ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state -> Bool in
                    if !state.items.isEmpty || state.closing || state.finished { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// Wakes the writer with nothing: used to stop it (`finish`) or to let it write a heartbeat.
    func wake() {
        state.withLockedValue { $0.waiter.take() }?.resume()
    }

    func writing(_ started: Bool) {
        let now = Uptime.now
        state.withLockedValue { state in
            state.writingSince = started ? now : nil
            if !started { state.lastWrite = now }
        }
    }

    /// Nanoseconds the write in progress has taken (nil: none), and since the last write ended.
    func timing() -> (writing: UInt64?, idle: UInt64) {
        let now = Uptime.now
        return state.withLockedValue { state in
            (state.writingSince.map { now &- $0 }, now &- state.lastWrite)
        }
    }

    /// The writer has ended: nothing more is taken, and replays waiting on a piece let go.
    func finish() {
        let (dropped, waiter) = state.withLockedValue { state -> ([Item], CheckedContinuation<Void, Never>?) in
            state.finished = true
            state.closing = true
            defer { state.items = [] }
            return (state.items, state.waiter.take())
        }
        waiter?.resume()
        for item in dropped { item.whenWritten?() }
    }
}

extension Optional {
    /// The value, leaving nil behind.
    fileprivate mutating func take() -> Wrapped? {
        defer { self = nil }
        return self
    }
}

enum Uptime {
    /// NIO's monotonic clock in nanoseconds, as the protocol port's timers read it.
    static var now: UInt64 { NIODeadline.now().uptimeNanoseconds }
}

/// Protocol lines as server-sent events (PROTOCOL.md §22). Each event gets `id:
/// EPOCH:SEQ[:SUPERVISORS_SEQ]`, the position of both streams after it, which is what a browser
/// sends back as `Last-Event-ID`.
struct EventStreamFrames {
    let team: String
    let supervisor: Bool
    var epoch: String
    var seq: Int64
    var supervisorsSeq: Int64
    /// The stream has said its last word (`closing`): nothing after it.
    private(set) var ended = false
    let now: @Sendable () -> Timestamp

    init(team: String, supervisor: Bool, since: Hub.Since?, now: @escaping @Sendable () -> Timestamp) {
        self.team = team
        self.supervisor = supervisor
        epoch = since?.epoch ?? ""
        seq = since?.seq ?? 0
        supervisorsSeq = since?.supervisorsSeq ?? 0
        self.now = now
    }

    /// The opening of every stream: how long a browser waits before reconnecting.
    static let preamble = ByteBuffer(string: "retry: 2000\n\n")
    static let heartbeat = ByteBuffer(string: ": heartbeat\n\n")

    var id: String { supervisor ? "\(epoch):\(seq):\(supervisorsSeq)" : "\(epoch):\(seq)" }

    /// Appends the frames of `lines` (protocol lines, each ending in a newline) to `out`.
    mutating func translate(_ lines: ByteBuffer, into out: inout ByteBuffer) {
        let bytes = lines.readableBytesView
        var start = bytes.startIndex
        while !ended, start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.endIndex
            if end > start { frame(Array(bytes[start..<end]), into: &out) }
            start = end == bytes.endIndex ? end : bytes.index(after: end)
        }
    }

    private mutating func frame(_ line: [UInt8], into out: inout ByteBuffer) {
        guard let message = try? ServerMessage.decode(line) else { return }
        switch message {
        case .notification("event", let params):
            let position = params["seq"]?.intValue ?? 0
            if params["stream"]?.stringValue == "supervisors" { supervisorsSeq = position } else { seq = position }
            write(event: nil, data: params, into: &out)
        case .notification("heartbeat", _):
            out.writeImmutableBuffer(Self.heartbeat)
        case .notification("session.closing", let params):
            write(event: "closing", data: ["reason": params["reason"] ?? "closing"], into: &out)
            ended = true
        case .notification:
            break  // reminders and heartbeats are the protocol connection's
        case .result(_, let result):
            epoch = result["epoch"]?.stringValue ?? epoch
            seq = result["seq"]?.intValue ?? seq
            supervisorsSeq = result["supervisors_seq"]?.intValue ?? supervisorsSeq
            // Recovered: the missed events have just been sent, and the page's own state,
            // brought up to date by them, stands. Otherwise a snapshot replaces it.
            guard result["recovered"]?.boolValue != true else { return }
            var data: [String: JSONValue] = [
                "team": .string(team), "epoch": .string(epoch), "seq": .int(seq), "now": .string(now().rfc3339),
                "snapshot": result["snapshot"] ?? .null,
            ]
            if supervisor { data["supervisors_seq"] = .int(supervisorsSeq) }
            write(event: "snapshot", data: .object(data), into: &out)
        case .error(_, let error):
            write(event: "closing", data: ["reason": "error", "message": .string(error.message)], into: &out)
            ended = true
        }
    }

    private func write(event: String?, data: JSONValue, into out: inout ByteBuffer) {
        if let event { out.writeString("event: \(event)\n") }
        if event != "closing" { out.writeString("id: \(id)\n") }
        out.writeString("data: ")
        // JSON never holds a raw newline (the writer escapes them), so one data line is enough.
        out.writeBytes(JSONWriter.encode(data))
        out.writeString("\n\n")
    }
}

/// The response side of an event stream: writes what the output takes, framed, at the reader's
/// pace, and watches the connection once a second: a heartbeat comment after `heartbeat` of
/// silence (proxies close idle streams), the connection closed when one write has made no
/// progress for `writeTimeout` (a tab that stopped reading), and the stream ended when the
/// browser session it belongs to expires.
struct EventStreamWriter: Sendable {
    let output: EventStreamOutput
    let frames: EventStreamFrames
    let expiresAt: Timestamp?
    let clock: any WallClock
    let writeTimeout: Duration
    let heartbeat: Duration

    static let heartbeatLine = ByteBuffer(bytes: RPCFrame.notification("heartbeat", [:]))

    func run(_ body: inout any ResponseBodyWriter) async {
        var frames = self.frames
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await watch() }
            do {
                try await body.write(EventStreamFrames.preamble)
                while let items = await output.next() {
                    var out = ByteBuffer()
                    for item in items { frames.translate(item.lines, into: &out) }
                    if out.readableBytes > 0 {
                        output.writing(true)
                        try await body.write(out)
                        output.writing(false)
                    }
                    for item in items { item.whenWritten?() }
                    if frames.ended { break }
                }
                try await body.finish(nil)
            } catch {
                // The browser has gone, or the connection was cut: nothing more to write.
            }
            output.finish()
            group.cancelAll()
        }
    }

    private func watch() async {
        let (timeout, quiet) = (Self.nanoseconds(writeTimeout), Self.nanoseconds(heartbeat))
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            guard !output.hasClosed else { return }
            let (writing, idle) = output.timing()
            if let writing, writing > timeout {
                output.cutSlowReader("a write made no progress for \(writeTimeout)")
                return
            }
            if let expiresAt, clock.now() >= expiresAt {
                output.closeAfter(RPCFrame.notification("session.closing", ["reason": "session_expired"]))
                return
            }
            if writing == nil, idle > quiet { output.enqueue(Self.heartbeatLine) }
        }
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}

import NIOCore

/// What fan-out delivers a team's events to. A protocol connection's `Outbox` is the first; the
/// wallboard's event streams and the notification sender are meant to be the next, without a
/// change to the pipeline or the fan-out.
///
/// Fan-out runs under the hub's lock, in commit order, so a sink takes what it is given without
/// blocking and without calling back into the hub, and decides for itself what to do with a
/// reader that falls behind (the outbox cuts it as a slow reader: nobody else waits).
protocol EventSink: AnyObject, Sendable {
    /// Takes encoded event lines (one or more, each ending in a newline), in commit order. A
    /// closed sink (or one cut as a slow reader) drops them: fan-out does not ask first, since
    /// asking would cost a lock per delivery. Work that must wait until the hub's lock is
    /// released (waking a writer on its event loop) goes into `wakeups`.
    func enqueue(_ lines: ByteBuffer, wakeups: inout Wakeups)
}


/// Where a session's bytes go: a protocol connection's `Outbox`, or a browser's event stream
/// (`EventStreamOutput`), which re-frames the same lines as server-sent events. Both take
/// protocol lines: answers, notifications and events, each ending in a newline.
protocol SessionOutput: EventSink {
    /// Queues lines to be written in order; never blocks.
    func enqueue(_ buffer: ByteBuffer)
    /// Queues an answer that may be large (a replay's piece, `history.fetch`): written as the
    /// reader takes it; `whenWritten` runs once it is written, or once the output has closed.
    func stream(_ buffer: ByteBuffer, whenWritten: (@Sendable () -> Void)?)
    /// Queues a last line and closes once it is written.
    func closeAfter(_ line: ByteBuffer)
    /// False once closing or closed: work queued for it can be dropped.
    var isOpen: Bool { get }
    /// True once the connection underneath has gone.
    var hasClosed: Bool { get }
}

extension SessionOutput {
    func enqueue(_ bytes: [UInt8]) { enqueue(ByteBuffer(bytes: bytes)) }
    func closeAfter(_ line: [UInt8]) { closeAfter(ByteBuffer(bytes: line)) }
    /// Small answers are enqueued like anything else; large ones are streamed.
    func send(_ buffer: ByteBuffer) {
        if buffer.readableBytes <= Outbox.streamWindowBytes / 2 { enqueue(buffer) } else { stream(buffer, whenWritten: nil) }
    }
}

extension Outbox: SessionOutput {
    var isOpen: Bool { !isSealed && channel.isActive }
    var hasClosed: Bool { !channel.isActive }
}

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

extension Outbox: EventSink {}

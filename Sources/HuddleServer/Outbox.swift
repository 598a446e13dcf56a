import NIOConcurrencyHelpers
import NIOCore

/// The one way bytes leave a connection. Producers on any thread `enqueue` already-encoded
/// buffers (a fanned-out batch's buffer is shared by every recipient, never copied); the first
/// enqueue after a drain schedules one drain on the channel's event loop, which writes everything
/// queued and flushes once. Enqueueing never blocks and never waits for the peer.
///
/// Slow readers: the channel's high water mark is the outbound limit, so a peer that lets more
/// than that pile up is found unwritable after a drain and disconnected; and a peer whose oldest
/// pending write has not reached the kernel within the write timeout is disconnected too.
///
/// Answers the client asked for and may be large (a long replay, `history.fetch`) are `stream`ed
/// instead: written a window at a time, each once the one before it has reached the kernel, so
/// that a client reading as fast as it can is never taken for a slow reader, however long the
/// answer. What is enqueued meanwhile waits behind the stream and counts against the limit.
public final class Outbox: Sendable {
    struct State {
        var pending: [ByteBuffer] = []
        var scheduled = false
        var closed = false
        /// Streamed answers in order, the first one being written; `pending` is empty meanwhile.
        var streams: [Stream] = []
        /// The bytes waiting behind streams (in their `after`).
        var waitingBytes = 0
    }

    struct Stream {
        var rest: ByteBuffer
        let whenWritten: (@Sendable () -> Void)?
        /// What was enqueued after this stream and before the next one.
        var after: [ByteBuffer] = []
    }

    public let channel: Channel
    private let state = NIOLockedValueBox(State())
    private let writeTimeout: TimeAmount
    /// At most this many bytes per flush (nil: no limit); see `tlsFlushBytes`.
    private let flushLimit: Int?
    private let configuredLimit: Int?
    private let watch: NIOLoopBound<ProgressWatch>
    let onSlowReader: @Sendable () -> Void

    final class ProgressWatch {
        var outstanding = false
        var startedAt = NIODeadline.uptimeNanoseconds(0)
        var timer: Scheduled<Void>?
        var lastWrite = NIODeadline.now()
        /// The slow-reader verdict is carried out once per connection.
        var slow = false
        /// Which write the timer watches; an earlier one that completes meanwhile is progress.
        var generation: UInt64 = 0
        var watched: UInt64 = 0
        /// A window of a stream is on its way to the kernel.
        var windowInFlight = false
        var closeHooked = false
        /// The channel's high water mark (the outbound limit), read once.
        var limit: Int?
    }

    /// A streamed answer goes out in windows of at most this many bytes (or half the outbound
    /// limit, if that is smaller): large enough to keep the socket busy, small enough that one
    /// window never takes a connection over its limit.
    static let streamWindowBytes = 64 * 1024

    /// The flush limit of a TLS connection: one TLS record's worth of plaintext, with room for
    /// the record's header, nonce and tag. swift-nio-ssl encrypts everything one flush carries
    /// into a buffer of the connection's own and keeps that buffer at its largest size for as long
    /// as the connection lives (2.37.6 ignores `maximumPreservedOutboundBufferCapacity`): one
    /// 50 KB replay after a reconnect would leave the connection holding 64 KiB from then on, a
    /// whole floor's worth after a reconnect storm. Flushed in pieces this size, the buffer
    /// stays at the 16 KiB it starts with. Plaintext connections keep no such buffer.
    static let tlsFlushBytes = 16_000

    /// `outboundLimit` defaults to the channel's high water mark (which the listener sets to it).
    init(
        channel: Channel, writeTimeout: TimeAmount, flushLimit: Int? = nil, outboundLimit: Int? = nil,
        onSlowReader: @escaping @Sendable () -> Void
    ) {
        self.channel = channel
        self.configuredLimit = outboundLimit
        self.writeTimeout = writeTimeout
        self.flushLimit = flushLimit
        self.watch = NIOLoopBound(ProgressWatch(), eventLoop: channel.eventLoop)
        self.onSlowReader = onSlowReader
    }

    public func enqueue(_ buffer: ByteBuffer) {
        if queue(buffer) {
            channel.eventLoop.execute { self.drain() }
        }
    }

    /// Queues `buffer` and leaves the drain to `wakeups`: a fan-out that touches thousands of
    /// outboxes wakes each event loop once, not once per outbox.
    func enqueue(_ buffer: ByteBuffer, wakeups: inout Wakeups) {
        if queue(buffer) { wakeups.add(self) }
    }

    /// Appends; true when this call must see to a drain (none is scheduled yet).
    private func queue(_ buffer: ByteBuffer) -> Bool {
        state.withLockedValue { state -> Bool in
            guard !state.closed else { return false }
            if state.streams.isEmpty {
                state.pending.append(buffer)
            } else {
                state.streams[state.streams.count - 1].after.append(buffer)
                state.waitingBytes += buffer.readableBytes
            }
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
    }

    public func enqueue(_ bytes: [UInt8]) {
        enqueue(ByteBuffer(bytes: bytes))
    }

    /// Queues an answer the client asked for, to be written a window at a time as the client
    /// reads it (see the type's comment). `whenWritten` runs on the channel's loop once the last
    /// byte has reached the kernel, or once the connection has closed without it.
    func stream(_ buffer: ByteBuffer, whenWritten: (@Sendable () -> Void)? = nil) {
        let (queued, schedule) = state.withLockedValue { state -> (Bool, Bool) in
            guard !state.closed else { return (false, false) }
            state.streams.append(Stream(rest: buffer, whenWritten: whenWritten))
            defer { state.scheduled = true }
            return (true, !state.scheduled)
        }
        guard queued else {
            if let whenWritten { channel.eventLoop.execute(whenWritten) }
            return
        }
        channel.eventLoop.execute {
            let watch = self.watch.value
            if !watch.closeHooked {
                watch.closeHooked = true
                self.channel.closeFuture.whenComplete { _ in self.dropStreams() }
            }
            if schedule { self.drain() }
        }
    }

    /// The connection closed with streams unwritten: their callbacks still run, so that whoever
    /// waits on them (a replay, a read slot) lets go.
    private func dropStreams() {
        let dropped = state.withLockedValue { state -> [Stream] in
            defer {
                state.streams = []
                state.waitingBytes = 0
            }
            return state.streams
        }
        for stream in dropped { stream.whenWritten?() }
    }

    /// Stops accepting more; what is queued is still written by the next drain.
    func seal() {
        state.withLockedValue { $0.closed = true }
    }

    /// True once the connection is closing: nothing more is queued, no request is run.
    var isSealed: Bool { state.withLockedValue { $0.closed } }

    /// When the connection last sent anything (for heartbeats). Event loop only.
    var lastWrite: NIODeadline { watch.value.lastWrite }

    func drain() {
        let watch = self.watch.value
        let (items, stream, waiting) = state.withLockedValue { state -> ([ByteBuffer], Bool, Int) in
            state.scheduled = false
            defer { state.pending.removeAll(keepingCapacity: true) }
            return (state.pending, !state.streams.isEmpty, state.waitingBytes)
        }
        var window: ByteBuffer?
        if stream, !watch.windowInFlight {
            let windowBytes = min(Self.streamWindowBytes, max(1, outboundLimit / 2))
            window = state.withLockedValue { state in
                guard !state.streams.isEmpty else { return nil }
                return state.streams[0].rest.readSlice(length: min(windowBytes, state.streams[0].rest.readableBytes))
            }
        }
        guard channel.isActive else { return }
        if !items.isEmpty {
            watch.lastWrite = .now()
            let merged = Self.merge(items, allocator: channel.allocator)
            if watch.outstanding {
                write(merged, promise: nil)
            } else {
                let promise = channel.eventLoop.makePromise(of: Void.self)
                watchWrite(promise)
                write(merged, promise: promise)
            }
        }
        if let window {
            watch.lastWrite = .now()
            watch.windowInFlight = true
            let promise = channel.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in self.windowWritten() }
            // Always watched: the client is waiting for this one, and it completes after
            // everything written before it.
            watchWrite(promise)
            write(window, promise: promise)
        }
        if (!items.isEmpty || window != nil) && !channel.isWritable || (waiting > 0 && waiting > outboundLimit) {
            reportSlowReader()
        }
    }

    /// Event loop only: the outbound limit, as the channel's high water mark says.
    private var outboundLimit: Int {
        let watch = self.watch.value
        if let limit = watch.limit { return limit }
        let limit =
            configuredLimit ?? (try? channel.syncOptions?.getOption(ChannelOptions.writeBufferWaterMark))?.high ?? 1024 * 1024
        watch.limit = limit
        return limit
    }

    /// Watches `promise`'s write with the write timeout: when it completes, everything before
    /// it reached the kernel.
    private func watchWrite(_ promise: EventLoopPromise<Void>) {
        let watch = self.watch.value
        watch.generation += 1
        let generation = watch.generation
        if !watch.outstanding {
            watch.outstanding = true
            watch.startedAt = .now()
        }
        watch.watched = generation
        let loopBound = self.watch
        promise.futureResult.whenComplete { _ in
            let watch = loopBound.value
            guard watch.outstanding else { return }
            if watch.watched == generation {
                watch.outstanding = false
                watch.timer?.cancel()
                watch.timer = nil
            } else {
                // An earlier write got through while a later one is watched: the peer reads.
                watch.startedAt = .now()
            }
        }
        if watch.outstanding && watch.timer == nil {
            armTimer()
        }
    }

    /// Event loop only: a stream's window reached the kernel; the next window, or what waited
    /// behind a finished stream, goes next.
    private func windowWritten() {
        watch.value.windowInFlight = false
        let finished = state.withLockedValue { state -> Stream? in
            guard let first = state.streams.first, first.rest.readableBytes == 0 else {
                state.scheduled = true
                return nil
            }
            state.streams.removeFirst()
            state.pending = first.after
            state.waitingBytes -= first.after.reduce(0) { $0 + $1.readableBytes }
            state.scheduled = true
            return first
        }
        finished?.whenWritten?()
        drain()
    }

    /// Writes and flushes `buffer` in pieces of at most `flushLimit` bytes; `promise` goes with
    /// the last piece, which completes after every piece before it.
    private func write(_ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        var rest = buffer
        if let limit = flushLimit {
            while rest.readableBytes > limit, let piece = rest.readSlice(length: limit) {
                channel.writeAndFlush(piece, promise: nil)
            }
        }
        channel.writeAndFlush(rest, promise: promise)
    }

    /// Event loop only.
    private func reportSlowReader() {
        let watch = self.watch.value
        guard !watch.slow else { return }
        watch.slow = true
        seal()
        onSlowReader()
    }

    /// Everything queued since the last drain as one buffer: one trip down the pipeline, one
    /// TLS record (or a few) and one `writev` entry instead of one per line. The copy is cheap
    /// next to what it saves: a fanned-out buffer is shared by every recipient on every
    /// thread, and each pipeline hop would retain and release it, bouncing its reference count
    /// between cores (the profile in Benchmarks/README.md).
    static func merge(_ items: [ByteBuffer], allocator: ByteBufferAllocator) -> ByteBuffer {
        if items.count == 1 { return items[0] }
        var size = 0
        for item in items { size += item.readableBytes }
        var merged = allocator.buffer(capacity: size)
        for item in items { merged.writeImmutableBuffer(item) }
        return merged
    }

    private func armTimer() {
        let loopBound = self.watch
        let timeout = writeTimeout
        loopBound.value.timer = channel.eventLoop.scheduleTask(in: timeout) { [self] in
            let watch = loopBound.value
            watch.timer = nil
            guard watch.outstanding else { return }
            if NIODeadline.now() - watch.startedAt >= timeout {
                self.reportSlowReader()
            } else {
                self.armTimer()
            }
        }
    }

    /// Writes what is queued, then `line`, and closes once it is out (or after a second, whichever
    /// comes first).
    func closeAfter(_ line: [UInt8]) {
        closeAfter(ByteBuffer(bytes: line))
    }

    func closeAfter(_ line: ByteBuffer) {
        seal()
        let channel = self.channel
        channel.eventLoop.execute {
            // What was queued before (a fan-out whose drain is still to come) goes out first.
            self.drain()
            guard channel.isActive else { return }
            let closer = channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
            channel.writeAndFlush(line).whenComplete { _ in
                closer.cancel()
                channel.close(promise: nil)
            }
        }
    }
}

/// Outboxes that need a drain, by event loop; `run` gives each loop one task that drains them all.
struct Wakeups {
    private var byLoop: [ObjectIdentifier: (loop: any EventLoop, outboxes: [Outbox])] = [:]

    mutating func add(_ outbox: Outbox) {
        let loop = outbox.channel.eventLoop
        byLoop[ObjectIdentifier(loop), default: (loop, [])].outboxes.append(outbox)
    }

    func run() {
        for (loop, outboxes) in byLoop.values {
            loop.execute {
                for outbox in outboxes { outbox.drain() }
            }
        }
    }
}

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
public final class Outbox: Sendable {
    struct State {
        var pending: [ByteBuffer] = []
        var scheduled = false
        var closed = false
    }

    public let channel: Channel
    private let state = NIOLockedValueBox(State())
    private let writeTimeout: TimeAmount
    /// At most this many bytes per flush (nil: no limit); see `tlsFlushBytes`.
    private let flushLimit: Int?
    private let watch: NIOLoopBound<ProgressWatch>
    let onSlowReader: @Sendable () -> Void

    final class ProgressWatch {
        var outstanding = false
        var startedAt = NIODeadline.uptimeNanoseconds(0)
        var timer: Scheduled<Void>?
        var lastWrite = NIODeadline.now()
        /// The slow-reader verdict is carried out once per connection.
        var slow = false
    }

    /// The flush limit of a TLS connection: one TLS record's worth of plaintext, with room for
    /// the record's header, nonce and tag. swift-nio-ssl encrypts everything one flush carries
    /// into a buffer of the connection's own and keeps that buffer at its largest size for as long
    /// as the connection lives (2.37.6 ignores `maximumPreservedOutboundBufferCapacity`): one
    /// 50 KB replay after a reconnect would leave the connection holding 64 KiB from then on, a
    /// whole floor's worth after a reconnect storm. Flushed in pieces this size, the buffer
    /// stays at the 16 KiB it starts with. Plaintext connections keep no such buffer.
    static let tlsFlushBytes = 16_000

    init(
        channel: Channel, writeTimeout: TimeAmount, flushLimit: Int? = nil,
        onSlowReader: @escaping @Sendable () -> Void
    ) {
        self.channel = channel
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
            state.pending.append(buffer)
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
    }

    public func enqueue(_ bytes: [UInt8]) {
        enqueue(ByteBuffer(bytes: bytes))
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
        let items = state.withLockedValue { state -> [ByteBuffer] in
            state.scheduled = false
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
        guard !items.isEmpty, channel.isActive else { return }
        let watch = self.watch.value
        watch.lastWrite = .now()
        let merged = Self.merge(items, allocator: channel.allocator)
        if watch.outstanding {
            write(merged, promise: nil)
        } else {
            // Watch this write: when it completes, everything before it reached the kernel.
            watch.outstanding = true
            watch.startedAt = .now()
            let promise = channel.eventLoop.makePromise(of: Void.self)
            let loopBound = self.watch
            promise.futureResult.whenComplete { _ in
                loopBound.value.outstanding = false
                loopBound.value.timer?.cancel()
                loopBound.value.timer = nil
            }
            write(merged, promise: promise)
            if watch.outstanding && watch.timer == nil {
                armTimer()
            }
        }
        if !channel.isWritable {
            reportSlowReader()
        }
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

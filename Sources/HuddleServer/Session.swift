import HuddleProtocol
import NIOConcurrencyHelpers
import NIOCore

/// An authenticated connection: who it is and where its bytes go. Immutable after `session.hello`.
///
/// A browser's event stream (`GET /v1/teams/TEAM/events`, SPEC §11) is a session too, of the
/// kind `.eventStream` or `.display`: it joins one team like `team.join` and reads its events,
/// but it is a watcher, not a presence: it neither marks its user connected nor counts against
/// `max-sessions-per-user`, and it gets no reminders.
public final class Session: Sendable {
    public enum Kind: Sendable, Equatable {
        /// A protocol connection (`session.hello`).
        case connection
        /// A signed-in browser's event stream (`boardSession`: its cookie's key) or a script's
        /// with a bearer token (nil).
        case eventStream(boardSession: String?)
        /// A wall screen's display link: what a member of `team` sees, and nothing else.
        case display(team: String)
    }

    public let id: UInt64
    public let user: String
    public let role: Role
    /// The user's token key when the session began (for a display, its key): a session whose
    /// key is no longer its user's (rotated, removed) is closed (`Hub.applyAdminChanges`).
    public let tokenKey: String
    public let kind: Kind
    let outbox: any SessionOutput

    /// An event stream or a display: no presence, no reminders, no session cap.
    var isWatcher: Bool { kind != .connection }
    /// History reads (`history.fetch`, reports) this session has waiting for SQLite.
    private let readsInFlight = NIOLockedValueBox(0)

    /// At most this many reads per session wait for SQLite at once: each costs a reader for a
    /// while, and one client must not be able to queue more than the daemon serves.
    static let maxReadsInFlight = 2

    /// Takes a read slot, or says how long to wait (the rate-limit error's `retry_after_ms`).
    func beginRead() throws(RPCError) {
        let taken = readsInFlight.withLockedValue { count -> Bool in
            guard count < Self.maxReadsInFlight else { return false }
            count += 1
            return true
        }
        guard taken else {
            throw RPCError(
                .rateLimited, "\(Self.maxReadsInFlight) history reads are already running on this connection",
                data: ["retry_after_ms": 100, "reason": "reads_in_flight"])
        }
    }

    func endRead() {
        readsInFlight.withLockedValue { $0 -= 1 }
    }

    /// `team.join` replays of this connection: one runs at a time, the others wait their turn.
    private let replays = NIOLockedValueBox((running: false, waiting: [@Sendable () -> Void]()))

    /// Runs `replay` now, or once the replays before it have ended (`replayEnded`). A running
    /// replay holds one of the read slots: a client cannot read history for free while one
    /// streams, nor have its joins read more than one piece at a time.
    func startReplay(_ replay: @escaping @Sendable () -> Void) {
        let now = replays.withLockedValue { queue -> Bool in
            if queue.running {
                queue.waiting.append(replay)
                return false
            }
            queue.running = true
            return true
        }
        guard now else { return }
        readsInFlight.withLockedValue { $0 += 1 }
        replay()
    }

    func replayEnded() {
        let next = replays.withLockedValue { queue -> (@Sendable () -> Void)? in
            guard !queue.waiting.isEmpty else {
                queue.running = false
                return nil
            }
            return queue.waiting.removeFirst()
        }
        guard let next else { return endRead() }
        next()
    }

    /// False once the connection is closing or closed: work queued for it can be dropped.
    var isOpen: Bool { outbox.isOpen }

    init(id: UInt64, user: String, role: Role, tokenKey: String, kind: Kind = .connection, outbox: any SessionOutput) {
        self.id = id
        self.user = user
        self.role = role
        self.tokenKey = tokenKey
        self.kind = kind
        self.outbox = outbox
    }

    func reply(_ id: RPCID, _ result: JSONValue) {
        outbox.enqueue(RPCFrame.result(id: id, result))
    }

    func reply(_ id: RPCID, error: RPCError) {
        outbox.enqueue(RPCFrame.error(id: id, error))
    }

    func close(_ reason: ClosingReason) {
        outbox.closeAfter(RPCFrame.notification("session.closing", ["reason": .string(reason.rawValue)]))
    }
}

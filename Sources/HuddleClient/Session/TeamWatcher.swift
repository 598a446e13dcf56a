import HuddleProtocol

/// What a `TeamWatcher` reports, in order.
public enum WatchUpdate: Sendable, Equatable {
    /// Signed in (the first time and after each reconnect).
    case signedIn(HelloResult)
    /// A team joined on the first connection: its snapshot.
    case joined(JoinResult)
    case event(EventNotification)
    case reminder(JSONValue)
    /// Asked for a team's queue report (SPEC §14).
    case queueReportDue(QueueReportDue)
    /// The connection dropped; `reason` is the `session.closing` reason or what the transport
    /// said. The watcher is about to retry.
    case disconnected(reason: String)
    /// Rejoined a team after a drop. With `recovered` true the missed events follow as `.event`;
    /// otherwise the join's snapshot stands alone.
    case reconnected(JoinResult, recovered: Bool)
    /// A stream skipped seqs, so events were lost (the server promises this never happens).
    case gap(team: String, stream: EventStream, expected: Int64, received: Int64)
}

/// Keeps watching teams across connection drops: reconnects with backoff (0.5 s doubling to 5 s),
/// signs in again and rejoins each team with `since` so missed events are replayed, and drops
/// duplicates.
///
/// `run` is structured: it returns when its task is cancelled (closing the connection), and throws
/// when retrying cannot help: the first connection fails, the token is refused, a team is unknown,
/// the certificate changed, or `handle` threw.
public struct TeamWatcher: Sendable {
    public var host: String
    public var port: Int
    public var trust: TLSTrust
    public var token: String
    public var client: String
    /// Nil: every team of the user, as `session.hello` lists them.
    public var teams: [String]?
    /// Where to start per team (joined with `since` the first time too).
    public var positions: [String: ReplayPosition]
    public var initialBackoff: Duration = .milliseconds(500)
    public var maximumBackoff: Duration = .seconds(5)
    public var options: HuddleConnection.Options

    public init(
        host: String, port: Int, trust: TLSTrust, token: String, client: String = HuddleConnection.clientName,
        teams: [String]? = nil, positions: [String: ReplayPosition] = [:],
        options: HuddleConnection.Options = .init()
    ) {
        self.host = host
        self.port = port
        self.trust = trust
        self.token = token
        self.client = client
        self.teams = teams
        self.positions = positions
        self.options = options
    }

    public func run(_ handle: (WatchUpdate) async throws -> Void) async throws {
        var cursor = Cursor(positions: positions)
        var backoff = initialBackoff
        var established = false
        var reconnecting = false
        while !Task.isCancelled {
            let connection: HuddleConnection
            do {
                connection = try await HuddleConnection.connect(host: host, port: port, trust: trust, options: options)
            } catch {
                if Task.isCancelled { return }
                // A changed certificate or an unusable trust setting will not fix itself.
                if !established || error is CertificateMismatch || error is TLSTrustError { throw error }
                guard await pause(&backoff) else { return }
                continue
            }

            var failure: (any Error)?
            var joinedAll = false
            do {
                try await session(
                    on: connection, cursor: &cursor, reconnecting: reconnecting, joinedAll: &joinedAll, handle)
            } catch {
                failure = error
            }
            await connection.close()
            if Task.isCancelled || failure is CancellationError { return }
            if let failure, !Self.isRetryable(failure) || !established && !joinedAll { throw failure }
            if joinedAll {
                established = true
                backoff = initialBackoff
            }
            reconnecting = true
            let closed = await connection.closedBecause
            try await handle(.disconnected(reason: closed?.reason ?? closed?.detail ?? "connection closed"))
            guard await pause(&backoff) else { return }
        }
    }

    /// Signs in, joins, then relays notifications until the connection ends.
    private func session(
        on connection: HuddleConnection, cursor: inout Cursor, reconnecting: Bool, joinedAll: inout Bool,
        _ handle: (WatchUpdate) async throws -> Void
    ) async throws {
        let hello = try await connection.hello(token: token, client: client)
        try await handle(.signedIn(hello))
        for team in teams ?? hello.teams {
            let join = try await connection.join(team: team, since: cursor.positions[team])
            // Any replayed events are still buffered in `notifications`; `joined` leaves their
            // stream positions alone so that relaying them below moves the cursor.
            cursor.joined(join)
            try await handle(reconnecting ? .reconnected(join, recovered: join.recovered) : .joined(join))
        }
        joinedAll = true
        for await notification in connection.notifications {
            switch notification {
            case .event(let event):
                switch cursor.accept(event) {
                case .duplicate:
                    continue
                case .gap(let expected):
                    try await handle(
                        .gap(team: event.team, stream: event.stream, expected: expected, received: event.seq))
                case .next:
                    break
                }
                try await handle(.event(event))
            case .reminder(let params):
                try await handle(.reminder(params))
            case .queueReportDue(let due):
                try await handle(.queueReportDue(due))
            case .heartbeat, .closing, .orphanError, .other, .stray, .unreadable:
                continue
            }
        }
    }

    /// Drops and server trouble are worth a retry; refusals are not.
    static func isRetryable(_ error: any Error) -> Bool {
        if error is ConnectionClosed { return true }
        if let rpc = error as? RPCError {
            return rpc.code == .rateLimited || rpc.code == .internalError
        }
        return false
    }

    /// False when cancelled while waiting.
    private func pause(_ backoff: inout Duration) async -> Bool {
        do {
            try await Task.sleep(for: backoff)
        } catch {
            return false
        }
        backoff = min(backoff * 2, maximumBackoff)
        return true
    }
}

/// Per team, how far each stream has been seen.
struct Cursor {
    enum Verdict: Equatable {
        case next
        case duplicate
        case gap(expected: Int64)
    }

    var positions: [String: ReplayPosition]

    /// A recovered join keeps the old positions: the replayed events that precede the answer move
    /// them. Otherwise the snapshot is the new starting point, possibly in a new epoch.
    mutating func joined(_ join: JoinResult) {
        if join.recovered, var position = positions[join.team], position.epoch == join.position.epoch {
            if position.supervisorsSeq == nil { position.supervisorsSeq = join.position.supervisorsSeq }
            positions[join.team] = position
        } else {
            positions[join.team] = join.position
        }
    }

    mutating func accept(_ event: EventNotification) -> Verdict {
        guard var position = positions[event.team] else { return .next }
        let current = position.seq(of: event.stream)
        switch event.stream {
        case .team: position.seq = max(event.seq, current ?? event.seq)
        case .supervisors: position.supervisorsSeq = max(event.seq, current ?? event.seq)
        }
        positions[event.team] = position
        guard let current else { return .next }
        if event.seq <= current { return .duplicate }
        if event.seq > current + 1 { return .gap(expected: current + 1) }
        return .next
    }
}

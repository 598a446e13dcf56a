import HuddleCore
import HuddleProtocol
import HuddleStore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The floor as the server runs it: one lock around the core's state, the sessions and their
/// subscriptions, and the commit pipeline. Ownership rules:
/// - every decision is made by `HuddleCore` on `working`, a floor that runs ahead with changes
///   waiting for their commit; `committed` follows what SQLite holds and is what snapshots show;
/// - a change is acknowledged and fanned out only in the commit callback, under the lock, so the
///   order in which bytes reach every outbox is the order of the seqs;
/// - nothing here blocks: SQLite runs on GRDB's queues and bytes leave through `Outbox`.
public final class Hub: Sendable {
    /// A team's subscriber: where its events go, and which of the team's streams it reads.
    struct Subscriber {
        let sink: any EventSink
        let readsSupervisorStream: Bool
        /// Live events held back while a `team.join` replay is being read.
        var held: [ByteBuffer]?

        init(session: Session, held: [ByteBuffer]?) {
            sink = session.outbox
            readsSupervisorStream = session.role.seesSupervisorStream
            self.held = held
        }
    }

    /// The answer to send once a change is committed (or its refusal if the commit fails): to a
    /// protocol session, or to any other caller (the HTTP side) through `completion`.
    struct Reply {
        enum Target {
            case session(Session, RPCID, closeAfter: Bool)
            case completion(@Sendable (Result<JSONValue, RPCError>) -> Void)
        }

        let target: Target
        let result: JSONValue
        /// A refused `session.hello` (its presence could not be committed) must not leave a
        /// half-signed-in session behind: the error is sent and the connection closed.
        var closeOnFailure = false

        init(session: Session, id: RPCID, result: JSONValue, closeAfter: Bool = false) {
            target = .session(session, id, closeAfter: closeAfter)
            self.result = result
        }

        init(result: JSONValue, completion: @escaping @Sendable (Result<JSONValue, RPCError>) -> Void) {
            target = .completion(completion)
            self.result = result
        }

        func fail(_ error: RPCError) {
            switch target {
            case .session(let session, let id, _) where closeOnFailure:
                session.outbox.closeAfter(RPCFrame.error(id: id, error))
            case .session(let session, let id, _): session.reply(id, error: error)
            case .completion(let completion): completion(.failure(error))
            }
        }
    }

    struct State {
        /// The floors, the commit queue and the presence clocks: the state machine the hub
        /// drives (`CommitPipeline.swift`).
        var pipeline = CommitPipeline<Reply>()
        var credentials: [String: Credential] = [:]
        /// The wallboard's display links and signed-in browsers (`Hub+Board.swift`).
        var displays: [String: Display] = [:]
        var boardSessions: [String: BoardSession] = [:]
        var sessions: [UInt64: Session] = [:]
        var sessionsByUser: [String: Set<UInt64>] = [:]
        var subscribers: [String: [UInt64: Subscriber]] = [:]
        var nextSessionID: UInt64 = 1
        var accepting = true
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let store: any HubStore
    let clock: any WallClock
    let logger: Logger
    let configuration: NIOLockedValueBox<ServerConfiguration>
    let state = NIOLockedValueBox(State())
    /// Where a request that a recent admin change could make valid waits for a look at them.
    public let adminRefresh = AdminRefresh()
    /// Commit outcomes, WAL syncs and checkpoints, for `/healthz`.
    let health = StoreHealth()
    /// Rung after a commit that stored an alert or an acknowledgment (and so queued their
    /// notices): the notice sender's cue.
    public let alertsCommitted = Doorbell()

    public init(store: any HubStore, clock: any WallClock, configuration: ServerConfiguration, logger: Logger) {
        self.store = store
        self.clock = clock
        self.logger = logger
        self.configuration = NIOLockedValueBox(configuration)
    }

    /// Loads the committed floor. Users who were connected when the daemon stopped get the
    /// usual grace to come back before their presence turns false.
    public func load() async throws {
        let (floor, _) = try await store.loadFloorAsync()
        let credentials = try await store.loadCredentials()
        let absences = try await store.loadAbsences()
        let now = clock.now()
        let displays = try await store.loadDisplays()
        let boardSessions = try await store.loadBoardSessions(now: now)
        state.withLockedValue { state in
            state.pipeline.load(floor, absences: absences, now: now)
            state.credentials = credentials
            state.displays = displays
            state.boardSessions = boardSessions
        }
    }

    public var config: ServerConfiguration { configuration.withLockedValue { $0 } }

    public func updateConfiguration(_ new: ServerConfiguration) {
        configuration.withLockedValue { $0 = new }
    }

    // MARK: Sessions

    /// `session.hello`: checks the token and registers the session. The answer is sent once the
    /// user's presence is committed, so that whatever the client does next sees it connected.
    ///
    /// A token the daemon does not know is refused only after a look at the admin changes
    /// committed so far (SPEC §9: a token printed by `huddled user add` a moment ago works on the
    /// first hello). Then `hello` returns nil and `later` gets the outcome, on another thread.
    func hello(
        id: RPCID, token: String, outbox: Outbox, heartbeatSeconds heartbeat: Int64,
        later: @escaping @Sendable (Result<Session, RPCError>) -> Void
    ) -> Result<Session, RPCError>? {
        if let decided = tryHello(id: id, token: token, outbox: outbox, heartbeatSeconds: heartbeat) {
            return decided
        }
        let queued = adminRefresh.afterNextLook { [self] in
            later(
                tryHello(id: id, token: token, outbox: outbox, heartbeatSeconds: heartbeat)
                    ?? .failure(RPCError(.notAuthenticated, "invalid token")))
        }
        return queued ? nil : .failure(RPCError(.notAuthenticated, "invalid token"))
    }

    /// The user a token belongs to, as the daemon knows it now: the one check behind a hello and
    /// an HTTP bearer token (`authenticate`).
    static func holder(ofToken key: String, hash: [UInt8], in state: State) -> UserState? {
        guard let credential = state.credentials[key], credential.matches(hash) else { return nil }
        return state.pipeline.working.users[credential.user]
    }

    /// The hello decided with what the daemon knows now; nil for a token it does not know.
    private func tryHello(id: RPCID, token: String, outbox: Outbox, heartbeatSeconds heartbeat: Int64) -> Result<Session, RPCError>? {
        guard let (key, hash) = Tokens.parse(token) else {
            return .failure(RPCError(.notAuthenticated, "invalid token"))
        }
        let maxSessions = config.maxSessionsPerUser
        let now = clock.now()
        let (result, startCommit) = state.withLockedValue { state -> (Result<Session, RPCError>?, Bool) in
            guard state.accepting else { return (.failure(RPCError(.internalError, "the server is shutting down")), false) }
            guard let user = Self.holder(ofToken: key, hash: hash, in: state) else { return (nil, false) }
            let existing = state.sessionsByUser[user.name] ?? []
            guard existing.count < maxSessions else {
                return (
                    .failure(
                        RPCError(
                            .forbidden, "too many sessions for \(user.name) (at most \(maxSessions))",
                            data: ["reason": "too_many_sessions", "max": .int(Int64(maxSessions))])), false
                )
            }
            let session = Session(
                id: state.nextSessionID, user: user.name, role: user.role, tokenKey: key, outbox: outbox)
            state.nextSessionID += 1
            state.sessions[session.id] = session
            state.sessionsByUser[user.name, default: []].insert(session.id)
            let events = state.pipeline.arrived(user.name, now: now)
            let result: JSONValue = [
                "user": .string(user.name), "role": .string(user.role.rawValue),
                // Admins see every team (they may join any), so that an escalation reaches them.
                "teams": .array(
                    (user.role == .admin ? Array(state.pipeline.working.teams.keys) : user.teams).sorted().map(JSONValue.string)),
                "server": .string(ProtocolVersion.server), "protocol": .int(ProtocolVersion.current),
                "heartbeat_s": .int(heartbeat),
            ]
            var reply = Reply(session: session, id: id, result: result)
            reply.closeOnFailure = true
            return (.success(session), submit(events, reply: reply, state: &state))
        }
        if startCommit { commitNext() }
        return result
    }

    /// A connection ended. When it was the user's last, presence turns false after the grace.
    func disconnected(_ session: Session) {
        let now = clock.now()
        let start = state.withLockedValue { state -> Bool in
            guard state.sessions.removeValue(forKey: session.id) != nil else { return false }
            for team in state.subscribers.keys {
                state.subscribers[team]?[session.id] = nil
            }
            if session.isWatcher { return false }
            state.sessionsByUser[session.user]?.remove(session.id)
            if state.sessionsByUser[session.user]?.isEmpty == true {
                state.sessionsByUser[session.user] = nil
                return submit(state.pipeline.left(session.user, now: now), reply: nil, state: &state)
            }
            return false
        }
        if start { commitNext() }
    }

    /// Runs what is due: presence grace periods that ran out, the status timers, held slots that
    /// expired, and the reminders (sent to the agent's own connections only).
    public func tick() {
        let now = clock.now()
        let start = state.withLockedValue { state -> Bool in
            guard state.accepting else { return false }
            let sessions = state.sessionsByUser
            let (events, reminders) = state.pipeline.tick(now: now) { sessions[$0] != nil }
            for reminder in reminders {
                let line = ByteBuffer(bytes: RPCFrame.notification("reminder", reminder.json))
                for id in state.sessionsByUser[reminder.user] ?? [] { state.sessions[id]?.outbox.enqueue(line) }
            }
            return submit(events, reply: nil, state: &state)
        }
        if start { commitNext() }
    }

    /// Applies users, teams, tokens and display links changed in the database (by `huddled
    /// user|team|display …`). A session whose token was rotated or whose user was removed, and a
    /// display whose link was removed, is closed with `token_revoked`.
    @discardableResult
    public func applyAdminChanges() async throws -> [Session] {
        let (loaded, tokenKeys) = try await store.loadFloorAsync()
        let credentials = try await store.loadCredentials()
        let displays = try await store.loadDisplays()
        let revoked = state.withLockedValue { state -> [Session] in
            state.pipeline.reconcileStructure(with: loaded)
            state.credentials = credentials
            state.displays = displays
            return state.sessions.values.filter { session in
                if case .display = session.kind { return displays[session.tokenKey] == nil }
                return tokenKeys[session.user] != session.tokenKey
            }
        }
        for session in revoked {
            logger.info("closing session of a revoked token", metadata: ["user": "\(session.user)"])
            session.close(.tokenRevoked)
        }
        return revoked
    }

    /// Stops taking changes and waits until every accepted one is committed and answered.
    public func stopAccepting() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLockedValue { state -> Bool in
                state.accepting = false
                if state.pipeline.isIdle { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}

extension Hub {
    /// Runs `body` under the lock, keeping its typed error.
    func withState<T>(_ body: (inout State) throws(RPCError) -> T) throws(RPCError) -> T {
        let outcome: Result<T, RPCError> = state.withLockedValue { state in
            do throws(RPCError) {
                return .success(try body(&state))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}

extension Hub {
    /// The notice sender's news (SPEC §12): an open alert's notice to a target was delivered, is
    /// being retried, or was given up. Announced to supervisors as a `notice` event, so that the
    /// boards and `huddle alerts` show it; nothing for an alert closed meanwhile.
    public func noticeChanged(_ status: NoticeStatus, team: String) {
        let now = clock.now()
        let start = state.withLockedValue { state -> Bool in
            guard state.accepting, let alert = state.pipeline.working.teams[team]?.openAlerts[status.alert],
                !alert.notices.contains(status)
            else { return false }
            let event = state.pipeline.working.emit(team: team, .notice(status), at: now)
            return submit([event], reply: nil, state: &state)
        }
        if start { commitNext() }
    }
}


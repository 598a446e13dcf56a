import HuddleCore
import HuddleProtocol
import HuddleStore

/// The wallboard's side of the hub (SPEC §11): who a browser is (a signed-in supervisor, a
/// display link, a script's bearer token), its event streams, and the acknowledgments it sends.
extension Hub {
    /// Who is looking at the board.
    struct Viewer: Sendable {
        /// The user, or `display` for a display link.
        var user: String
        /// A display sees what an agent of its team sees.
        var role: Role
        var tokenKey: String
        var kind: Session.Kind
        /// The teams it may watch.
        var teams: [String]
        /// The cookie session's CSRF value (nil for a display or a bearer token).
        var csrf: String?
        /// When a cookie session ends by itself.
        var expiresAt: Timestamp?

        var json: JSONValue {
            if case .display(let team) = kind {
                return ["display": true, "role": "display", "teams": [.string(team)], "team": .string(team)]
            }
            var json: [String: JSONValue] = [
                "user": .string(user), "role": .string(role.rawValue), "teams": .array(teams.map(JSONValue.string)),
            ]
            if let csrf { json["csrf"] = .string(csrf) }
            return .object(json)
        }
    }

    /// A browser session lasts at most this long (SPEC §11), and less if its token is rotated.
    static let boardSessionSeconds: Int64 = 12 * 3600

    /// The teams `user` may watch: an admin every team, anyone else their own.
    private static func teams(of user: UserState, in state: State) -> [String] {
        (user.role == .admin ? Array(state.pipeline.committed.teams.keys) : user.teams).sorted()
    }

    /// Signs a supervisor or admin in with their token: a new browser session, stored so that
    /// it outlives a restart of the daemon. Returns the cookie's value.
    func signIn(token: String, mayLook: Bool) async throws(RPCError) -> (cookie: String, viewer: Viewer) {
        let name = try await authenticate(token: token, mayLook: mayLook)
        guard let (tokenKey, _) = Tokens.parse(token) else { throw RPCError(.notAuthenticated, "invalid token") }
        let role = state.withLockedValue { $0.pipeline.committed.users[name]?.role }
        guard role == .supervisor || role == .admin else {
            throw .forbidden("the board is for supervisors and admins; agents see their team with `huddle board`")
        }
        let issued = Tokens.issue(prefix: Tokens.boardSessionPrefix)
        var generator = SystemRandomNumberGenerator()
        let csrf = Tokens.hex((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        let session = BoardSession(
            key: issued.key, hash: issued.hash, user: name, tokenKey: tokenKey, csrf: csrf,
            expiresAt: clock.now().adding(seconds: Self.boardSessionSeconds))
        do {
            try await store.addBoardSession(session)
        } catch {
            logger.error("could not store a board session", metadata: ["error": "\(error)"])
            throw .internalError
        }
        state.withLockedValue { $0.boardSessions[session.key] = session }
        guard let viewer = boardViewer(cookie: issued.token) else { throw RPCError(.notAuthenticated, "invalid token") }
        return (issued.token, viewer)
    }

    /// The signed-in browser a session cookie names: nil when it is forged, expired, or its
    /// user's token has been rotated or the user removed since it signed in.
    func boardViewer(cookie: String) -> Viewer? {
        guard let (key, hash) = Tokens.parse(cookie, prefix: Tokens.boardSessionPrefix) else { return nil }
        let now = clock.now()
        return state.withLockedValue { state -> Viewer? in
            guard let session = state.boardSessions[key], Tokens.constantTimeEqual(session.hash, hash),
                session.expiresAt > now, state.credentials[session.tokenKey]?.user == session.user,
                let user = state.pipeline.committed.users[session.user], user.role == .supervisor || user.role == .admin
            else { return nil }
            return Viewer(
                user: user.name, role: user.role, tokenKey: session.tokenKey, kind: .eventStream(boardSession: key),
                teams: Self.teams(of: user, in: state), csrf: session.csrf, expiresAt: session.expiresAt)
        }
    }

    /// Ends a browser session: forgotten here and in the store, and its open event streams closed.
    func signOut(cookie: String) async {
        guard let (key, _) = Tokens.parse(cookie, prefix: Tokens.boardSessionPrefix), boardViewer(cookie: cookie) != nil
        else { return }
        let streams = state.withLockedValue { state -> [Session] in
            state.boardSessions[key] = nil
            return state.sessions.values.filter { $0.kind == .eventStream(boardSession: key) }
        }
        for stream in streams { stream.close(.tokenRevoked) }
        do {
            try await store.removeBoardSession(key: key)
        } catch {
            // Already refused here; a restart before the delete lands would bring it back until
            // it expires, so it is worth a line.
            logger.error("could not delete a board session", metadata: ["error": "\(error)"])
        }
    }

    /// The display a display link's key names. A key made a moment ago by `huddled display add`
    /// works at once (a look at the admin changes first, as for tokens).
    func displayViewer(key: String, mayLook: Bool) async -> Viewer? {
        guard let (id, hash) = Tokens.parse(key, prefix: Tokens.displayPrefix) else { return nil }
        let find = { [self] () -> Viewer? in
            state.withLockedValue { state -> Viewer? in
                guard let display = state.displays[id], display.matches(hash) else { return nil }
                return Viewer(
                    user: "display", role: .agent, tokenKey: id, kind: .display(team: display.team), teams: [display.team])
            }
        }
        if let viewer = find() { return viewer }
        guard mayLook else { return nil }
        await adminRefresh.nextLook()
        return find()
    }

    /// A script's bearer token: any user, watching their own teams.
    func tokenViewer(token: String, mayLook: Bool) async throws(RPCError) -> Viewer {
        let name = try await authenticate(token: token, mayLook: mayLook)
        let tokenKey = Tokens.parse(token)?.key ?? ""
        return try withState { state throws(RPCError) -> Viewer in
            guard let user = state.pipeline.committed.users[name] else { throw RPCError(.notAuthenticated, "invalid token") }
            return Viewer(
                user: name, role: user.role, tokenKey: tokenKey, kind: .eventStream(boardSession: nil),
                teams: Self.teams(of: user, in: state))
        }
    }

    /// Opens an event stream: a watcher session on `output`, joined to `team` as `team.join`
    /// with `since` would (the answer, with id 0, is the stream's opening snapshot). Refused
    /// when the viewer may not see the team, or when `maxStreams` are open already.
    func openEventStream(
        _ viewer: Viewer, team: String, since: Since?, output: any SessionOutput, maxStreams: Int, maxPerViewer: Int
    ) throws(RPCError) -> Session {
        let session = try withState { state throws(RPCError) -> Session in
            guard state.accepting else { throw RPCError(.internalError, "the server is shutting down") }
            let open = state.sessions.values.filter(\.isWatcher)
            guard open.count < maxStreams else {
                throw RPCError(
                    .rateLimited, "\(maxStreams) event streams are open already",
                    data: ["retry_after_ms": 5000, "reason": "too_many_streams"])
            }
            guard open.lazy.filter({ $0.tokenKey == viewer.tokenKey }).count < maxPerViewer else {
                throw RPCError(
                    .rateLimited, "\(maxPerViewer) event streams are open for this sign-in already; close a tab",
                    data: ["retry_after_ms": 5000, "reason": "too_many_streams"])
            }
            let session = Session(
                id: state.nextSessionID, user: viewer.user, role: viewer.role, tokenKey: viewer.tokenKey, kind: viewer.kind,
                outbox: output)
            state.nextSessionID += 1
            state.sessions[session.id] = session
            return session
        }
        do throws(RPCError) {
            try join(team: team, since: since, id: .int(0), session)
        } catch {
            disconnected(session)
            throw error
        }
        return session
    }

    /// `alert.ack` from the board: the same checks and commit, answered with the `alert_ack`
    /// event's seq once it is committed.
    func acknowledge(alert: Int64, note: String, by user: String) async -> Result<Int64, RPCError> {
        await withCheckedContinuation { continuation in
            let now = clock.now()
            do throws(RPCError) {
                try change { state throws(RPCError) in
                    let events = try state.pipeline.working.acknowledgeAlert(alert, by: user, note: note, now: now)
                    let reply = Reply(result: ["supervisors_seq": .int(events[0].seq)]) { result in
                        continuation.resume(returning: result.map { $0["supervisors_seq"]?.intValue ?? 0 })
                    }
                    return (events, reply)
                }
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
    }

    /// Closes every event stream (a graceful shutdown: the HTTP side waits for its requests).
    func closeEventStreams() {
        let streams = state.withLockedValue { state in state.sessions.values.filter(\.isWatcher) }
        for stream in streams { stream.close(.shutdown) }
    }
}

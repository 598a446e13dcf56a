import HuddleCore
import HuddleProtocol
import HuddleStore
import NIOCore

/// The method table: who may call what, and what it does. Preconditions (authenticated, role,
/// params) are checked here; the decisions themselves are the core's.
extension Hub {
    /// Handles one request. A request refused for an unknown team or user (-32003) is tried again
    /// after a look at the admin changes committed so far (SPEC §9: a team added a moment ago
    /// can be joined at once): then `handle` returns false, and `resumed` runs once the request
    /// has been answered or queued, on another thread, so that the connection keeps its
    /// requests in order meanwhile.
    @discardableResult
    func handle(
        _ request: RPCRequest, from session: Session, lookFirst: Bool = true,
        resumed: @escaping @Sendable () -> Void = {}
    ) -> Bool {
        do throws(RPCError) {
            guard let method = Method(rawValue: request.method) else {
                throw RPCError(.methodNotFound, "unknown method '\(request.method)'", data: ["method": .string(request.method)])
            }
            switch method {
            case .hello: throw RPCError(.invalidRequest, "already authenticated")
            case .ping: session.reply(request.id, [:])
            case .bye: try bye(request, session)
            case .teamJoin: try join(request, session)
            case .teamLeave: try leave(request, session)
            case .statusSet: try setStatus(request, session)
            case .statusForce: try forceStatus(request, session)
            case .messageSend: try sendMessage(request, session)
            case .policyGet: try policyGet(request, session)
            case .policySet: try policySet(request, session)
            case .policyHistory: try policyHistory(request, session)
            case .historyFetch: try historyFetch(request, session)
            case .waitlistCancel: try cancelWaitlist(request, session)
            case .alertAck: try acknowledge(request, session)
            case .reportTimeInStatus: try report(request, session)
            case .queueReport: try reportQueue(request, session)
            case .phoneUpdate: try updatePhone(request, session)
            case .reportCalls: try reportCalls(request, session)
            }
        } catch {
            if lookFirst, error.code == .unknownEntity,
                adminRefresh.afterNextLook({ [self] in
                    handle(request, from: session, lookFirst: false)
                    resumed()
                })
            {
                return false
            }
            session.reply(request.id, error: error)
        }
        return true
    }

    /// Runs a state change on the working floor and queues it for commit, with what follows from
    /// it in the teams it touched (coverage announcements, the waitlists' progress).
    func change(_ body: (inout State) throws(RPCError) -> ([Event], Reply)) throws(RPCError) {
        let now = clock.now()
        let start = try withState { state throws(RPCError) -> Bool in
            guard state.accepting else { throw RPCError(.internalError, "the server is shutting down") }
            var (events, reply) = try body(&state)
            events += state.pipeline.settle(events.map(\.team), now: now)
            return submit(events, reply: reply, state: &state)
        }
        if start { commitNext() }
    }

    /// `seq` and `seqs` of a status change: the seq of its `status` event in each team the caller
    /// belongs to (`seq` is the first of them by team name).
    private static func seqResult(
        _ events: [Event], visibleTo caller: String, in floor: Floor, extra: [String: JSONValue] = [:]
    ) -> JSONValue {
        var result = extra
        let caller = floor.users[caller]
        let mine = caller?.teams ?? []
        let isAdmin = caller?.role == .admin
        var seqs: [String: JSONValue] = [:]
        var changes = events.filter { if case .status = $0.payload { true } else { false } }
        if changes.count > 1 { changes.sort { $0.team < $1.team } }
        for event in changes {
            guard isAdmin || mine.contains(event.team) else { continue }
            if result["seq"] == nil { result["seq"] = .int(event.seq) }
            seqs[event.team] = .int(event.seq)
        }
        if !seqs.isEmpty { result["seqs"] = .object(seqs) }
        return .object(result)
    }

    private func bye(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let now = clock.now()
        try change { state throws(RPCError) in
            var events: [Event] = []
            if session.role.hasStatus, state.pipeline.working.users[session.user]?.status.status != .offline {
                events = try state.pipeline.working.setOwnStatus(
                    user: session.user, StatusRequest(status: .offline), now: now
                ).1
            }
            return (events, Reply(session: session, id: request.id, result: [:], closeAfter: true))
        }
    }

    private func setStatus(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let statusRequest = try StatusRequest(params: request.params)
        let now = clock.now()
        try change { state throws(RPCError) in
            let (decision, events) = try state.pipeline.working.setOwnStatus(
                user: session.user, statusRequest, now: now)
            var extra: [String: JSONValue] = [:]
            switch decision {
            case .granted:
                extra["decision"] = "granted"
                if let reason = statusRequest.reason { extra["reason"] = .string(reason.rawValue) }
            case .waitlisted(let position):
                extra["decision"] = "waitlisted"
                extra["position"] = .int(Int64(position))
                if let team = events.first?.team { extra["team"] = .string(team) }
            }
            let result = Self.seqResult(events, visibleTo: session.user, in: state.pipeline.working, extra: extra)
            return (events, Reply(session: session, id: request.id, result: result))
        }
    }

    /// Who may force is the core's decision (`Floor.forceStatus`), checked before anything else
    /// there; only the params are read here.
    private func forceStatus(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let target = try request.params.string("user")
        let name = try request.params.string("status")
        guard let status = Status(rawValue: name) else { throw .invalidParam("status", "unknown status '\(name)'") }
        let note = try TextRules.check(
            request.params.optionalString("note") ?? "", param: "note", maxScalars: TextRules.maxNoteScalars,
            allowEmpty: true)
        let now = clock.now()
        try change { state throws(RPCError) in
            let events = try state.pipeline.working.forceStatus(
                by: session.user, target: target, status: status, note: note, now: now)
            let result = Self.seqResult(events, visibleTo: session.user, in: state.pipeline.working)
            return (events, Reply(session: session, id: request.id, result: result))
        }
    }

    private func sendMessage(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        let text = try request.params.string("text")
        let now = clock.now()
        try change { state throws(RPCError) in
            let event = try state.pipeline.working.sendMessage(user: session.user, team: team, text: text, now: now)
            return ([event], Reply(session: session, id: request.id, result: ["seq": .int(event.seq)]))
        }
    }

    private func policyGet(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        // Read from the working floor: the answer goes out after every change queued before it,
        // so it must show them (a `policy.set` just before, say).
        try change { state throws(RPCError) in
            let teamState = try state.pipeline.working.requireMember(session.user, of: team)
            return ([], Reply(session: session, id: request.id, result: teamState.policy.json))
        }
    }

    private func policySet(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        let patch = try request.params.object("policy")
        let comment = try request.params.string("comment")
        let now = clock.now()
        try change { state throws(RPCError) in
            let event = try state.pipeline.working.setPolicy(by: session.user, team: team, patch: patch, comment: comment, now: now)
            guard case .policy(_, _, _, let policy) = event.payload else { return ([event], Reply(session: session, id: request.id, result: .null)) }
            return ([event], Reply(session: session, id: request.id, result: policy.json))
        }
    }

    private func policyHistory(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        _ = try withState { state throws(RPCError) in try state.pipeline.committed.requireMember(session.user, of: team) }
        store.policyHistory(team: team) { result in
            switch result {
            case .success(let versions):
                session.reply(request.id, ["versions": .array(versions.map(\.json))])
            case .failure(let error):
                self.logger.error("policy history read failed", metadata: ["error": "\(error)"])
                session.reply(request.id, error: .internalError)
            }
        }
    }

    private func historyFetch(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        let since = try request.params.optionalInt("since", in: 0...Int64.max)
        let limit = try request.params.optionalInt("limit", in: 1...1000) ?? 100
        let last = try withState { state throws(RPCError) in
            try state.pipeline.committed.requireMember(session.user, of: team).seq
        }
        try session.beginRead()
        let after = since ?? max(0, last - limit)
        store.replay(team: team, ranges: [(.team, after, min(last, after + limit))], wanted: { session.isOpen }) { result in
            switch result {
            case .success(let ranges):
                // A thousand long messages are more than a small outbound limit: the answer is
                // written as fast as the client reads it, and holds its read slot until then.
                let answer = ByteBuffer(bytes: RPCFrame.result(id: request.id, raw: Self.eventsResult(ranges.first ?? [])))
                session.outbox.stream(answer) { session.endRead() }
                return
            case .failure(is Store.ReadAbandoned):
                break
            case .failure(let error):
                self.logger.error("history read failed", metadata: ["error": "\(error)"])
                session.reply(request.id, error: .internalError)
            }
            session.endRead()
        }
    }

    /// `{"events":[…]}` spliced from the stored lines' params, byte for byte what was sent live.
    static func eventsResult(_ stored: [StoredEvent]) -> [UInt8] {
        var out = Array(#"{"events":["#.utf8)
        out.reserveCapacity(stored.reduce(16) { $0 + $1.line.count })
        var first = true
        for event in stored {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            if let params = Event.params(ofStoredLine: event.line) {
                out.append(contentsOf: params)
            } else {
                // Not of the shape this build writes: take the slow road.
                let value = (try? JSONParser.parse(event.line))?["params"] ?? .null
                JSONWriter.write(value, into: &out)
            }
        }
        out.append(contentsOf: Array("]}".utf8))
        return out
    }

    private func leave(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        try withState { state throws(RPCError) in
            _ = try state.pipeline.committed.requireMember(session.user, of: team)
            state.subscribers[team]?[session.id] = nil
        }
        session.reply(request.id, [:])
    }
}

extension Hub {
    private func cancelWaitlist(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        let now = clock.now()
        try change { state throws(RPCError) in
            let events = try state.pipeline.working.cancelWaitlist(session.user, team: team, now: now)
            return (events, Reply(session: session, id: request.id, result: [:]))
        }
    }

    private func reportQueue(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        let now = clock.now()
        let report = try QueueReport(params: request.params, by: session.user, at: now)
        try change { state throws(RPCError) in
            let events = try state.pipeline.working.reportQueue(report, team: team, now: now)
            return (events, Reply(session: session, id: request.id, result: ["seq": .int(events[0].seq)]))
        }
    }

    /// `phone.update`: `{seqs}` maps each team to the last team-stream seq the update caused
    /// there (its `call` event, an automatic After Call Work), and `supervisors_seqs` likewise
    /// for a phone login or logout and the alerts it closed; both empty when nothing changed.
    private func updatePhone(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let update = try PhoneUpdate(params: request.params)
        let now = clock.now()
        try change { state throws(RPCError) in
            let events = try state.pipeline.working.updatePhone(by: session.user, update, now: now)
            var seqs: [String: JSONValue] = [:]
            var supervisorsSeqs: [String: JSONValue] = [:]
            for event in events {
                switch event.stream {
                case .team: seqs[event.team] = .int(event.seq)
                case .supervisors: supervisorsSeqs[event.team] = .int(event.seq)
                }
            }
            let result: JSONValue = ["seqs": .object(seqs), "supervisors_seqs": .object(supervisorsSeqs)]
            return (events, Reply(session: session, id: request.id, result: result))
        }
    }

    private func acknowledge(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let id = try request.params.int("alert", in: 1...Int64.max)
        let note = try request.params.optionalString("note") ?? ""
        let now = clock.now()
        try change { state throws(RPCError) in
            let events = try state.pipeline.working.acknowledgeAlert(id, by: session.user, note: note, now: now)
            return (events, Reply(session: session, id: request.id, result: ["supervisors_seq": .int(events[0].seq)]))
        }
    }
}

extension Hub {
    /// A queue report from outside the protocol (the HTTP side): the same checks and commit as
    /// `queue.report`, answered with the `queue` event's seq once it is committed.
    public func submitQueueReport(token: String, team: String, params: Params) async -> Result<Int64, RPCError> {
        let user: String
        do throws(RPCError) {
            user = try await authenticate(token: token)
        } catch {
            return .failure(error)
        }
        return await withCheckedContinuation { continuation in
            let now = clock.now()
            do throws(RPCError) {
                if let named = try params.optionalString("team"), named != team {
                    throw .invalidParam("team", "the team in the body must match the path")
                }
                let report = try QueueReport(params: params, by: user, at: now)
                try change { state throws(RPCError) in
                    let events = try state.pipeline.working.reportQueue(report, team: team, now: now)
                    let reply = Reply(result: ["seq": .int(events[0].seq)]) { result in
                        continuation.resume(returning: result.map { $0["seq"]?.intValue ?? 0 })
                    }
                    return (events, reply)
                }
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
    }

    /// The user a bearer token belongs to (constant-time check of the secret), for the HTTP side.
    /// A token the daemon does not know is refused only after a look at the admin changes
    /// committed so far, as on the protocol port.
    /// `mayLook: false` refuses a token the daemon does not know without a look at the admin
    /// changes (for an address that has failed too often).
    public func authenticate(token: String, mayLook: Bool = true) async throws(RPCError) -> String {
        guard let (key, hash) = Tokens.parse(token) else { throw RPCError(.notAuthenticated, "invalid token") }
        if let user = knownUser(key: key, hash: hash) { return user }
        guard mayLook else { throw RPCError(.notAuthenticated, "invalid token") }
        await adminRefresh.nextLook()
        guard let user = knownUser(key: key, hash: hash) else { throw RPCError(.notAuthenticated, "invalid token") }
        return user
    }

    private func knownUser(key: String, hash: [UInt8]) -> String? {
        state.withLockedValue { Self.holder(ofToken: key, hash: hash, in: $0)?.name }
    }
}

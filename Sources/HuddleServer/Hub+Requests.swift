import HuddleCore
import HuddleProtocol
import HuddleStore
import NIOCore

/// The method table: who may call what, and what it does. Preconditions (authenticated, role,
/// params) are checked here; the decisions themselves are the core's.
extension Hub {
    func handle(_ request: RPCRequest, from session: Session) {
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
            case .waitlistCancel, .queueReport, .alertAck, .reportTimeInStatus:
                throw RPCError(.methodNotFound, "\(method.rawValue) is not available in this version")
            }
        } catch {
            session.reply(request.id, error: error)
        }
    }

    /// Runs a state change on the working floor and queues it for commit.
    private func change(_ body: (inout State) throws(RPCError) -> ([Event], Reply)) throws(RPCError) {
        let start = try withState { state throws(RPCError) -> Bool in
            guard state.accepting else { throw RPCError(.internalError, "the server is shutting down") }
            let (events, reply) = try body(&state)
            return submitAndRun(events, reply: reply, state: &state)
        }
        if start { commitNext() }
    }

    private static func seqResult(_ events: [Event], extra: [String: JSONValue] = [:]) -> JSONValue {
        var result = extra
        if let first = events.first { result["seq"] = .int(first.seq) }
        var seqs: [String: JSONValue] = [:]
        for event in events { seqs[event.team] = .int(event.seq) }
        result["seqs"] = .object(seqs)
        return .object(result)
    }

    private func bye(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let now = clock.now()
        try change { state throws(RPCError) in
            var events: [Event] = []
            if session.role.hasStatus, state.working.users[session.user]?.status.status != .offline {
                events = try state.working.setOwnStatus(user: session.user, StatusRequest(status: .offline), now: now).1
            }
            return (events, Reply(session: session, id: request.id, result: [:], closeAfter: true))
        }
    }

    private func setStatus(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let statusRequest = try StatusRequest(params: request.params)
        let now = clock.now()
        try change { state throws(RPCError) in
            let (decision, events) = try state.working.setOwnStatus(user: session.user, statusRequest, now: now)
            var extra: [String: JSONValue] = [:]
            switch decision {
            case .granted: extra["decision"] = "granted"
            case .waitlisted(let position):
                extra["decision"] = "waitlisted"
                extra["position"] = .int(Int64(position))
            }
            return (events, Reply(session: session, id: request.id, result: Self.seqResult(events, extra: extra)))
        }
    }

    private func forceStatus(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let target = try request.params.string("user")
        let name = try request.params.string("status")
        guard let status = Status(rawValue: name) else { throw .invalidParam("status", "unknown status '\(name)'") }
        let note = try TextRules.check(
            request.params.optionalString("note") ?? "", param: "note", maxScalars: TextRules.maxNoteScalars,
            allowEmpty: true)
        let now = clock.now()
        try change { state throws(RPCError) in
            let events = try state.working.forceStatus(
                by: session.user, target: target, status: status, note: note, now: now)
            return (events, Reply(session: session, id: request.id, result: Self.seqResult(events)))
        }
    }

    private func sendMessage(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        let text = try request.params.string("text")
        let now = clock.now()
        try change { state throws(RPCError) in
            let event = try state.working.sendMessage(user: session.user, team: team, text: text, now: now)
            return ([event], Reply(session: session, id: request.id, result: ["seq": .int(event.seq)]))
        }
    }

    private func policyGet(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        try change { state throws(RPCError) in
            let teamState = try state.committed.requireMember(session.user, of: team)
            return ([], Reply(session: session, id: request.id, result: teamState.policy.json))
        }
    }

    private func policySet(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        let patch = try request.params.object("policy")
        let comment = try request.params.string("comment")
        let now = clock.now()
        try change { state throws(RPCError) in
            let event = try state.working.setPolicy(by: session.user, team: team, patch: patch, comment: comment, now: now)
            guard case .policy(_, _, _, let policy) = event.payload else { return ([event], Reply(session: session, id: request.id, result: .null)) }
            return ([event], Reply(session: session, id: request.id, result: policy.json))
        }
    }

    private func policyHistory(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        _ = try withState { state throws(RPCError) in try state.committed.requireMember(session.user, of: team) }
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
            try state.committed.requireMember(session.user, of: team).seq
        }
        let after = since ?? max(0, last - limit)
        store.replay(team: team, ranges: [(.team, after, min(last, after + limit))]) { result in
            switch result {
            case .success(let ranges):
                let events = ranges.first?.compactMap { stored -> JSONValue? in
                    (try? JSONParser.parse(stored.line))?["params"]
                } ?? []
                session.reply(request.id, ["events": .array(events)])
            case .failure(let error):
                self.logger.error("history read failed", metadata: ["error": "\(error)"])
                session.reply(request.id, error: .internalError)
            }
        }
    }

    private func leave(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        try withState { state throws(RPCError) in
            _ = try state.committed.requireMember(session.user, of: team)
            state.subscribers[team]?[session.id] = nil
        }
        session.reply(request.id, [:])
    }
}

import HuddleCore
import HuddleProtocol
import HuddleStore
import NIOCore

/// `team.join`: a snapshot at the committed seqs, and with `since` a replay of what the client
/// missed, delivered before the result. While the replay is read from SQLite the subscriber is
/// already registered with its live events held back, so nothing falls between the two.
extension Hub {
    struct ReplayPlan {
        var team: String
        var ranges: [(stream: EventStream, after: Int64, through: Int64)]
        var result: [String: JSONValue]
    }

    func join(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        let since = try request.params.optionalObject("since")
        var sinceEpoch: String?
        var sinceSeq: Int64 = 0
        var sinceSupervisors: Int64?
        if let since {
            let sinceParams = Params(since)
            do throws(RPCError) {
                sinceEpoch = try sinceParams.string("epoch")
                sinceSeq = try sinceParams.int("seq", in: 0...Int64.max)
                sinceSupervisors = try sinceParams.optionalInt("supervisors_seq", in: 0...Int64.max)
            } catch {
                throw .invalidParam("since.\(error.data?["param"]?.stringValue ?? "")", error.message)
            }
        }
        let plan = try withState { state throws(RPCError) -> ReplayPlan? in
            guard state.accepting else { throw RPCError(.internalError, "the server is shutting down") }
            let teamState = try state.committed.requireMember(session.user, of: team)
            // A second join while the first one's replay is still being read would take over its
            // held events and leave the first answer with a gap.
            if state.subscribers[team]?[session.id]?.held != nil {
                throw RPCError(.invalidRequest, "a join of \(team) is already in progress on this connection")
            }
            let supervisor = session.role.seesSupervisorStream
            var result: [String: JSONValue] = [
                "epoch": .string(teamState.epoch), "seq": .int(teamState.seq), "recovered": false,
                "snapshot": state.committed.snapshot(of: team, viewer: session.role, viewerName: session.user),
            ]
            if supervisor { result["supervisors_seq"] = .int(teamState.supervisorsSeq) }
            // A supervisor's replay covers both streams: without `supervisors_seq` the
            // supervisors' stream cannot be replayed, so nothing is claimed as recovered.
            let canReplay =
                sinceEpoch == teamState.epoch && sinceSeq <= teamState.seq
                && (!supervisor || sinceSupervisors.map { $0 <= teamState.supervisorsSeq } ?? false)
            guard canReplay else {
                state.subscribers[team, default: [:]][session.id] = Subscriber(session: session, held: nil)
                session.reply(request.id, .object(result))
                return nil
            }
            var ranges: [(stream: EventStream, after: Int64, through: Int64)] = []
            if sinceSeq < teamState.seq { ranges.append((.team, sinceSeq, teamState.seq)) }
            if supervisor, let sup = sinceSupervisors, sup < teamState.supervisorsSeq {
                ranges.append((.supervisors, sup, teamState.supervisorsSeq))
            }
            if ranges.isEmpty {
                result["recovered"] = true
                state.subscribers[team, default: [:]][session.id] = Subscriber(session: session, held: nil)
                session.reply(request.id, .object(result))
                return nil
            }
            state.subscribers[team, default: [:]][session.id] = Subscriber(session: session, held: [])
            return ReplayPlan(team: team, ranges: ranges, result: result)
        }
        guard let plan else { return }
        store.replayLines(team: plan.team, ranges: plan.ranges) { result in
            self.finishReplay(plan, result, request.id, session)
        }
    }

    /// Runs on the reader's thread: the replay and the answer are put together before the hub's
    /// lock is taken, which then only queues them.
    private func finishReplay(
        _ plan: ReplayPlan, _ read: Result<[StoredLines], any Error>, _ id: RPCID, _ session: Session
    ) {
        var result = plan.result
        var replay: [UInt8] = []
        switch read {
        case .success(let streams):
            // Complete only if every seq of every range is still in the history.
            let complete = zip(plan.ranges, streams).allSatisfy { range, lines in
                lines.count == Int(range.through - range.after)
            }
            if complete {
                result["recovered"] = true
                replay = Self.interleave(streams)
            }
        case .failure(let error):
            logger.error("replay read failed; answering without recovery", metadata: ["error": "\(error)"])
        }
        let answer = RPCFrame.result(id: id, .object(result))
        state.withLockedValue { state in
            guard let held = state.subscribers[plan.team]?[session.id]?.held else {
                // A leave or another join for this team came meanwhile: answer, without a replay.
                result["recovered"] = false
                session.reply(id, .object(result))
                return
            }
            if !replay.isEmpty { session.outbox.enqueue(replay) }
            session.outbox.enqueue(answer)
            for buffer in held { session.outbox.enqueue(buffer) }
            state.subscribers[plan.team]?[session.id]?.held = nil
        }
    }

    /// The replayed streams as one run of lines: interleaved by time, each stream in seq order (a
    /// merge of two sorted lists: the team stream goes first on a tie).
    static func interleave(_ streams: [StoredLines]) -> [UInt8] {
        guard streams.count == 2 else { return streams.first?.bytes ?? [] }
        let (team, supervisors) = (streams[0], streams[1])
        var merged: [UInt8] = []
        merged.reserveCapacity(team.bytes.count + supervisors.bytes.count)
        var i = 0
        var j = 0
        while i < team.count || j < supervisors.count {
            if j == supervisors.count || (i < team.count && team.ats[i] <= supervisors.ats[j]) {
                merged.append(contentsOf: team.line(i))
                i += 1
            } else {
                merged.append(contentsOf: supervisors.line(j))
                j += 1
            }
        }
        return merged
    }
}

import HuddleCore
import HuddleProtocol
import HuddleStore
import NIOCore

/// `team.join`: a snapshot at the committed seqs, and with `since` a replay of what the client
/// missed, delivered before the result. While the replay is read from SQLite the subscriber is
/// already registered with its live events held back, so nothing falls between the two; the
/// replay itself is `TeamReplay`.
extension Hub {
    struct ReplayPlan {
        var team: String
        /// Every stream the session reads, from the client's seq to the committed one (a stream
        /// with nothing missed is there too: held events may have to be caught up on it).
        var ranges: [(stream: EventStream, after: Int64, through: Int64)]
        var result: [String: JSONValue]
    }

    /// Where a client's copy of a team's streams stands: `team.join`'s `since`, or an event
    /// stream's `Last-Event-ID`.
    struct Since: Equatable {
        var epoch: String
        var seq: Int64
        var supervisorsSeq: Int64?
    }

    func join(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        let team = try request.params.string("team")
        var since: Since?
        if let object = try request.params.optionalObject("since") {
            let sinceParams = Params(object)
            do throws(RPCError) {
                since = Since(
                    epoch: try sinceParams.string("epoch"), seq: try sinceParams.int("seq", in: 0...Int64.max),
                    supervisorsSeq: try sinceParams.optionalInt("supervisors_seq", in: 0...Int64.max))
            } catch {
                throw .invalidParam("since.\(error.data?["param"]?.stringValue ?? "")", error.message)
            }
        }
        try join(team: team, since: since, id: request.id, session)
    }

    /// Joins `session` to `team`: the answer (`id`) goes to the session's output, with the replay
    /// before it when `since` can be recovered.
    func join(team: String, since: Since?, id: RPCID, _ session: Session) throws(RPCError) {
        let (sinceEpoch, sinceSeq, sinceSupervisors) = (since?.epoch, since?.seq ?? 0, since?.supervisorsSeq)
        let plan = try withState { state throws(RPCError) -> ReplayPlan? in
            guard state.accepting else { throw RPCError(.internalError, "the server is shutting down") }
            let teamState: TeamState
            if case .display(let shown) = session.kind {
                guard shown == team else { throw .forbidden("this display link shows \(shown), not \(team)") }
                teamState = try state.pipeline.committed.team(team)
            } else {
                teamState = try state.pipeline.committed.requireMember(session.user, of: team)
            }
            // A second join while the first one's replay is still being read would take over its
            // held events and leave the first answer with a gap.
            if state.subscribers[team]?[session.id]?.held != nil {
                throw RPCError(.invalidRequest, "a join of \(team) is already in progress on this connection")
            }
            let supervisor = session.role.seesSupervisorStream
            var result: [String: JSONValue] = [
                "epoch": .string(teamState.epoch), "seq": .int(teamState.seq), "recovered": false,
                "snapshot": state.pipeline.committed.snapshot(of: team, viewer: session.role, viewerName: session.user),
            ]
            if supervisor { result["supervisors_seq"] = .int(teamState.supervisorsSeq) }
            // A supervisor's replay covers both streams: without `supervisors_seq` the
            // supervisors' stream cannot be replayed, so nothing is claimed as recovered.
            let canReplay =
                sinceEpoch == teamState.epoch && sinceSeq <= teamState.seq
                && (!supervisor || sinceSupervisors.map { $0 <= teamState.supervisorsSeq } ?? false)
            guard canReplay else {
                state.subscribers[team, default: [:]][session.id] = Subscriber(session: session, held: nil)
                session.reply(id, .object(result))
                return nil
            }
            var ranges: [(stream: EventStream, after: Int64, through: Int64)] = [(.team, sinceSeq, teamState.seq)]
            if supervisor, let sup = sinceSupervisors {
                ranges.append((.supervisors, sup, teamState.supervisorsSeq))
            }
            if ranges.allSatisfy({ $0.after == $0.through }) {
                result["recovered"] = true
                state.subscribers[team, default: [:]][session.id] = Subscriber(session: session, held: nil)
                session.reply(id, .object(result))
                return nil
            }
            state.subscribers[team, default: [:]][session.id] = Subscriber(session: session, held: [])
            return ReplayPlan(team: team, ranges: ranges, result: result)
        }
        guard let plan else { return }
        let replay = TeamReplay(hub: self, plan: plan, id: id, session: session)
        session.startReplay { replay.step() }
    }

    /// The replayed streams as one run of lines: interleaved by time, each stream in seq order (a
    /// merge of two sorted lists: the team stream goes first on a tie).
    static func interleave(_ streams: [StoredLines]) -> [UInt8] {
        var merge = ReplayMerge(read: streams)
        return merge.take()
    }
}

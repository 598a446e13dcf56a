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
            let teamState = try state.pipeline.committed.requireMember(session.user, of: team)
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
                session.reply(request.id, .object(result))
                return nil
            }
            var ranges: [(stream: EventStream, after: Int64, through: Int64)] = [(.team, sinceSeq, teamState.seq)]
            if supervisor, let sup = sinceSupervisors {
                ranges.append((.supervisors, sup, teamState.supervisorsSeq))
            }
            if ranges.allSatisfy({ $0.after == $0.through }) {
                result["recovered"] = true
                state.subscribers[team, default: [:]][session.id] = Subscriber(session: session, held: nil)
                session.reply(request.id, .object(result))
                return nil
            }
            state.subscribers[team, default: [:]][session.id] = Subscriber(session: session, held: [])
            return ReplayPlan(team: team, ranges: ranges, result: result)
        }
        guard let plan else { return }
        let replay = TeamReplay(hub: self, plan: plan, id: request.id, session: session)
        session.startReplay { replay.step() }
    }

    /// The replayed streams as one run of lines: interleaved by time, each stream in seq order (a
    /// merge of two sorted lists: the team stream goes first on a tie).
    static func interleave(_ streams: [StoredLines]) -> [UInt8] {
        var merge = ReplayMerge(read: streams)
        return merge.take()
    }
}

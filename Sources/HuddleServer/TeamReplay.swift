import HuddleProtocol
import HuddleStore
import NIOConcurrencyHelpers
import NIOCore

/// One `team.join` replay, however long: read from SQLite a piece at a time (a few hundred
/// events, at most `pieceBytes`), each piece read only once the one before it has reached the
/// kernel (`Outbox.stream`), so that memory per client stays at a piece or two and the client
/// sets the pace. Between pieces it stops if the client has gone or left the team.
///
/// A replay that fits in one piece (a reconnect after a short drop, the usual case) is one read
/// and one enqueue of the replay, the answer and the held events together, as before.
///
/// Live events committed meanwhile are held (`Subscriber.held`) and sent after the answer. A
/// client that falls so far behind that they would take it over the outbound limit does not
/// keep them in memory: they are dropped and read back from SQLite after the answer, like the
/// replay itself ("catching up"), until the client is level with the live stream.
final class TeamReplay: Sendable {
    static let pieceEvents = 512
    static let pieceBytes = 64 * 1024

    let hub: Hub
    let team: String
    let id: RPCID
    let session: Session
    let result: [String: JSONValue]
    private let progress: NIOLockedValueBox<Progress>

    struct Progress {
        var merge: ReplayMerge
        var answered = false
        /// Something was sent already: a failure can no longer leave the client untouched.
        var sent = false
        /// Held events were dropped: the seqs (team, supervisors) committed when they were.
        var catchUp: (team: Int64, supervisors: Int64)?
    }

    init(hub: Hub, plan: Hub.ReplayPlan, id: RPCID, session: Session) {
        self.hub = hub
        self.team = plan.team
        self.id = id
        self.session = session
        self.result = plan.result
        progress = NIOLockedValueBox(Progress(merge: ReplayMerge(ranges: plan.ranges)))
    }

    /// Reads the next piece, unless the client has gone or left the team.
    func step() {
        let limit = hub.config.outboundBufferBytes
        let (team, session) = (self.team, self.session)
        let going = hub.state.withLockedValue { state -> Bool in
            guard session.isOpen, let held = state.subscribers[team]?[session.id]?.held else { return false }
            if held.reduce(0, { $0 + $1.readableBytes }) > limit, let seqs = state.pipeline.committed.teams[team] {
                // Everything held is committed up to these seqs: read it back later instead.
                state.subscribers[team]?[session.id]?.held = []
                progress.withLockedValue { $0.catchUp = (seqs.seq, seqs.supervisorsSeq) }
            }
            return true
        }
        guard going else { return end(recovered: false) }
        let wanted = progress.withLockedValue { $0.merge.wanted }
        hub.store.replayLines(
            team: team, ranges: wanted, maxEvents: Self.pieceEvents, maxBytes: Self.pieceBytes,
            wanted: { session.isOpen }
        ) { read in
            self.received(read)
        }
    }

    private func received(_ read: Result<[StoredLines], any Error>) {
        let pieces: [StoredLines]
        switch read {
        case .success(let read): pieces = read
        case .failure(is Store.ReadAbandoned): return end(recovered: false)
        case .failure(let error):
            hub.logger.error("replay read failed; answering without recovery", metadata: ["error": "\(error)"])
            return end(recovered: false)
        }
        let (bytes, finished, complete) = progress.withLockedValue { progress in
            guard progress.merge.add(pieces) else { return ([UInt8](), true, false) }
            let bytes = progress.merge.take()
            progress.sent = progress.sent || !bytes.isEmpty
            return (bytes, progress.merge.finished, true)
        }
        guard complete else { return end(recovered: false) }
        // A replay that is one piece ends here at once: one enqueue of it, the answer and the
        // held events.
        if finished { return end(recovered: true, last: bytes) }
        session.outbox.stream(ByteBuffer(bytes: bytes)) { self.step() }
    }

    /// The replay (or a catching up) is over: sends what is left, the answer if it has not gone
    /// yet, and the held events; or catches up on the ones that were dropped.
    private func end(recovered: Bool, last: [UInt8] = []) {
        var result = self.result
        let (team, session, id) = (self.team, self.session, self.id)
        let next = hub.state.withLockedValue { state -> ReplayMerge? in
            let (answered, catchUp) = progress.withLockedValue { progress in
                defer {
                    progress.answered = true
                    progress.catchUp = nil
                }
                return (progress.answered, progress.catchUp)
            }
            guard let held = state.subscribers[team]?[session.id]?.held else {
                // A leave or another join came meanwhile, or the client has gone.
                if !answered { session.reply(id, .object(result)) }
                return nil
            }
            guard recovered else {
                // A gap in the history (pruned meanwhile) or a failed read.
                if answered {
                    // Too late to say `recovered: false`: the client has to join again.
                    hub.logger.warning("history missing while catching up a replay; closing the connection")
                    state.subscribers[team]?[session.id] = nil
                    session.close(.slowReader)
                    return nil
                }
                state.subscribers[team]?[session.id]?.held = nil
                if catchUp != nil, let teamState = state.pipeline.committed.teams[team] {
                    // Some held events were dropped: a snapshot of now stands alone instead.
                    result["seq"] = .int(teamState.seq)
                    if result["supervisors_seq"] != nil { result["supervisors_seq"] = .int(teamState.supervisorsSeq) }
                    result["snapshot"] = state.pipeline.committed.snapshot(
                        of: team, viewer: session.role, viewerName: session.user)
                    session.reply(id, .object(result))
                } else {
                    session.reply(id, .object(result))
                    for buffer in held { session.outbox.enqueue(buffer) }
                }
                return nil
            }
            if !last.isEmpty { session.outbox.send(ByteBuffer(bytes: last)) }
            if !answered {
                result["recovered"] = true
                session.outbox.enqueue(RPCFrame.result(id: id, .object(result)))
            }
            if let catchUp {
                let ranges = progress.withLockedValue { progress in
                    progress.merge.streams.map { stream in
                        (stream.stream, stream.through, stream.stream == .team ? catchUp.team : catchUp.supervisors)
                    }
                }
                return ReplayMerge(ranges: ranges)
            }
            for buffer in held { session.outbox.enqueue(buffer) }
            state.subscribers[team]?[session.id]?.held = nil
            return nil
        }
        guard let next else { return session.replayEnded() }
        progress.withLockedValue { $0.merge = next }
        step()
    }
}

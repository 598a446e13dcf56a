import HuddleCore
import HuddleProtocol
import HuddleStore
import NIOCore

/// The driver of the commit pipeline (`CommitPipeline`): it starts the transactions the
/// pipeline asks for and, in their completion callbacks, fans the events out and answers the
/// requests, all under the lock, so that bytes reach every outbox in the order of the seqs.
extension Hub {
    typealias Change = CommitPipeline<Reply>.Change

    /// Queues `events` (already applied to `working`) with the answer to send once committed.
    /// Returns true when the caller must start a commit (call `commitNext()` after unlocking).
    func submit(_ events: [Event], reply: Reply?, state: inout State) -> Bool {
        switch state.pipeline.submit(events, reply: reply) {
        case .answerNow(let reply):
            deliver(reply)
            return false
        case .startCommit: return true
        case .queued: return false
        }
    }

    static func queuesNotices(_ event: Event) -> Bool {
        switch event.payload {
        case .alert, .alertAck: true
        default: false
        }
    }

    func commitNext() {
        let maxBatch = config.commitMaxBatch
        guard let batch = state.withLockedValue({ $0.pipeline.nextBatch(maxEvents: maxBatch) }) else { return }
        // Encoding happens here, after the lock: every request path queues on that lock.
        let events = batch.events.map(EncodedEvent.init)
        let lines = events.map { ByteBuffer(bytes: $0.line) }
        let replies = batch.changes.map { $0.reply.map(Self.encode) }
        let started = ContinuousClock.now
        store.commit(events, state: batch.state) { result in
            ServerMetrics.commitFinished(events: events.count, startedAt: started, result)
            self.health.commitFinished(result)
            self.finish(batch, lines: lines, replies: replies, result)
        }
    }

    /// The line a reply is sent as (nil for other callers than a protocol session).
    private static func encode(_ reply: Reply) -> ByteBuffer? {
        guard case .session(_, let id, _) = reply.target else { return nil }
        return ByteBuffer(bytes: RPCFrame.result(id: id, reply.result))
    }

    /// `lines` holds the encoded events of `batch`, in order, and `replies` its encoded replies.
    private func finish(
        _ batch: CommitPipeline<Reply>.Batch, lines: [ByteBuffer], replies: [ByteBuffer??], _ result: Result<Void, any Error>
    ) {
        var wakeups = Wakeups()
        let (more, waiters) = state.withLockedValue { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            let completion: CommitPipeline<Reply>.Completion
            switch result {
            case .success:
                completion = state.pipeline.committed(batch)
                // Only alerts and acknowledgments queue notices: a `notice` event (the sender's own
                // news) ringing it would wake every worker for nothing, once per delivery.
                if batch.changes.contains(where: { $0.events.contains(where: Self.queuesNotices) }) {
                    alertsCommitted.ring()
                }
                publish(completion.published, lines: lines, replies: replies, in: &state, wakeups: &wakeups)
                askForQueueReports(in: completion.published, state: &state, wakeups: &wakeups)
            case .failure(let error):
                completion = state.pipeline.failed(batch)
                logger.error(
                    "commit failed; the changes were refused",
                    metadata: ["error": "\(error)", "changes": "\(completion.refused.count)"])
                for change in completion.refused { change.reply?.fail(.internalError) }
            }
            guard completion.more else {
                defer { state.idleWaiters.removeAll() }
                return (false, state.idleWaiters)
            }
            return (true, [])
        }
        // The bytes are queued in seq order above; the event loops write them from here on.
        wakeups.run()
        for waiter in waiters { waiter.resume() }
        if more { commitNext() }
    }

    /// The agent a committed `queue_report_asked` names is told on every connection of theirs
    /// (SPEC §14): `queue_report_due {team, due_by, asked_at}`, to them alone, after the events.
    private func askForQueueReports(in batch: [Change], state: inout State, wakeups: inout Wakeups) {
        for change in batch {
            for event in change.events {
                guard case .queueReportAsked(let ask) = event.payload, let user = ask.user, let due = ask.dueBy else { continue }
                let line = ByteBuffer(
                    bytes: RPCFrame.notification(
                        "queue_report_due", ["team": .string(event.team), "due_by": due.json, "asked_at": event.at.json]))
                for id in state.sessionsByUser[user] ?? [] { state.sessions[id]?.outbox.enqueue(line, wakeups: &wakeups) }
            }
        }
    }

    func deliver(_ reply: Reply) {
        var wakeups = Wakeups()
        deliver(reply, line: nil, wakeups: &wakeups)
        wakeups.run()
    }

    /// `line` is the reply already encoded, when it was (`commitNext` does it off the lock).
    private func deliver(_ reply: Reply, line: ByteBuffer?, wakeups: inout Wakeups) {
        switch reply.target {
        case .session(let session, let id, let closeAfter):
            let line = line ?? ByteBuffer(bytes: RPCFrame.result(id: id, reply.result))
            if closeAfter {
                session.outbox.closeAfter(line)
            } else {
                session.outbox.enqueue(line, wakeups: &wakeups)
            }
        case .completion(let completion):
            completion(.success(reply.result))
        }
    }

    /// Sends a committed batch (already part of the committed floor). A session that gets an
    /// answer in this batch, or events of more than one team, receives one buffer per event in
    /// commit order, each answer after its change's events. Every other subscriber of a team gets
    /// the team's events of the batch as one buffer: one queue operation per subscriber and batch
    /// instead of one per event (per-delivery retains, locks and appends were a fifth of the
    /// fan-out's CPU, Benchmarks/README.md), and the drain has nothing left to merge.
    private func publish(
        _ batch: [Change], lines: [ByteBuffer], replies: [ByteBuffer??], in state: inout State,
        wakeups: inout Wakeups
    ) {
        var teams: [String: TeamBatch] = [:]
        var index = 0
        for change in batch {
            for event in change.events {
                teams[event.team, default: TeamBatch()].lines.append((lines[index], event.stream))
                index += 1
            }
        }
        var oneByOne = Set<UInt64>()
        for change in batch {
            if case .session(let session, _, _) = change.reply?.target { oneByOne.insert(session.id) }
        }
        if teams.count > 1 {
            var seen = Set<UInt64>()
            for team in teams.keys {
                for id in state.subscribers[team]?.keys ?? [:].keys where !seen.insert(id).inserted {
                    oneByOne.insert(id)
                }
            }
        }
        // Per team, its subscribers among them (looked up once per batch, not once per event).
        var oneByOneOf: [String: [UInt64]] = [:]
        if !oneByOne.isEmpty {
            for team in teams.keys {
                guard let subscribers = state.subscribers[team], !subscribers.isEmpty else { continue }
                let ids = Array(oneByOne.filter { subscribers[$0] != nil })
                if !ids.isEmpty { oneByOneOf[team] = ids }
            }
        }
        index = 0
        for (position, change) in batch.enumerated() {
            for event in change.events {
                fanOut(event, line: lines[index], to: oneByOneOf[event.team] ?? [], in: &state, wakeups: &wakeups)
                index += 1
            }
            if let reply = change.reply { deliver(reply, line: replies[position] ?? nil, wakeups: &wakeups) }
        }
        for (team, events) in teams {
            fanOut(events, of: team, skipping: oneByOne, in: &state, wakeups: &wakeups)
        }
    }

    /// One event to the subscribers of its team in `ids` that may read its stream.
    private func fanOut(
        _ event: Event, line: ByteBuffer, to ids: [UInt64], in state: inout State, wakeups: inout Wakeups
    ) {
        guard !ids.isEmpty else { return }
        let supervisorsOnly = event.stream == .supervisors
        var recipients = 0
        for id in ids {
            guard let subscriber = state.subscribers[event.team]?[id] else { continue }
            if supervisorsOnly && !subscriber.readsSupervisorStream { continue }
            recipients += 1
            if subscriber.held != nil {
                state.subscribers[event.team]?[id]?.held?.append(line)
            } else {
                subscriber.sink.enqueue(line, wakeups: &wakeups)
            }
        }
        ServerMetrics.delivered(recipients)
    }

    /// A team's events of the batch to every subscriber not in `skipping`, as one buffer shared by
    /// all of them (one for those who read the supervisors' stream too, when it has events).
    private func fanOut(
        _ events: TeamBatch, of team: String, skipping: Set<UInt64>, in state: inout State, wakeups: inout Wakeups
    ) {
        guard state.subscribers[team]?.isEmpty == false else { return }
        let everyone = events.merged(supervisors: false)
        let supervisors = events.hasSupervisorsEvents ? events.merged(supervisors: true) : everyone
        var recipients = 0
        var held: [(UInt64, ByteBuffer)] = []
        for (id, subscriber) in state.subscribers[team] ?? [:] where skipping.isEmpty || !skipping.contains(id) {
            guard let (buffer, count) = subscriber.readsSupervisorStream ? supervisors : everyone else {
                continue
            }
            recipients += count
            if subscriber.held != nil {
                held.append((id, buffer))
            } else {
                subscriber.sink.enqueue(buffer, wakeups: &wakeups)
            }
        }
        for (id, buffer) in held { state.subscribers[team]?[id]?.held?.append(buffer) }
        ServerMetrics.delivered(recipients)
    }
}

/// One team's events of a commit batch, in commit order.
struct TeamBatch {
    var lines: [(line: ByteBuffer, stream: EventStream)] = []

    var hasSupervisorsEvents: Bool { lines.contains { $0.stream == .supervisors } }

    /// The lines a subscriber receives (the team stream's, or both streams' for `supervisors`) as
    /// one buffer, with their count; nil when there are none. A single line is its own buffer.
    func merged(supervisors: Bool) -> (buffer: ByteBuffer, count: Int)? {
        let chosen = supervisors ? lines : lines.filter { $0.stream == .team }
        guard let first = chosen.first else { return nil }
        if chosen.count == 1 { return (first.line, 1) }
        var buffer = ByteBufferAllocator().buffer(capacity: chosen.reduce(0) { $0 + $1.line.readableBytes })
        for entry in chosen { buffer.writeImmutableBuffer(entry.line) }
        return (buffer, chosen.count)
    }
}

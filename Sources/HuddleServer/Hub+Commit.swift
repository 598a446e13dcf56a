import HuddleCore
import HuddleProtocol
import HuddleStore
import NIOCore

/// The commit pipeline: changes queue up while a transaction is in flight and the next
/// transaction takes all of them (group commit). Completion callbacks apply the batch to the
/// committed floor, fan the events out and answer the requests, all under the lock.
extension Hub {
    /// Queues `events` (already applied to `working`) with the answer to send once committed.
    /// Returns true when the caller must start a commit (call `commitNext()` after unlocking).
    static func submit(_ events: [Event], reply: Reply?, into state: inout State) -> Bool {
        guard !events.isEmpty || reply != nil else { return false }
        let change = state.pendingBase + state.pending.count
        for (index, event) in events.enumerated() {
            if case .coverage = event.payload { state.pendingCoverage[event.team] = (change, index) }
        }
        state.pending.append(PendingChange(events: events, reply: reply))
        return !state.committing
    }

    /// `Floor.settle` with the group commit's folding: a team whose last `coverage` event still
    /// waits in `pending` gets new figures written into that event instead of another one. Under
    /// load, when changes queue behind a commit, a team announces its coverage once per commit
    /// instead of once per change: a whole floor reconnecting would otherwise send each member
    /// one coverage event per teammate. One change at a time, nothing is folded.
    func settle(_ names: [String], state: inout State, now: Timestamp) -> [Event] {
        let base = state.pendingBase
        let waiting =
            state.pendingCoverage.isEmpty
            ? [] : Set(names.filter { state.pendingCoverage[$0].map { $0.change >= base } ?? false })
        let (events, folded) = state.working.settle(names, now: now, folding: waiting)
        for (team, figures) in folded {
            guard let at = state.pendingCoverage[team] else { continue }
            state.pending[at.change - base].events[at.event].payload = .coverage(figures)
        }
        return events
    }

    /// Answers at once when there is nothing to commit, otherwise after the commit.
    func submitAndRun(_ events: [Event], reply: Reply?, state: inout State) -> Bool {
        if events.isEmpty, state.pending.isEmpty, !state.committing, let reply {
            deliver(reply)
            return false
        }
        return Self.submit(events, reply: reply, into: &state)
    }

    func commitNext() {
        let maxBatch = config.commitMaxBatch
        let batch = state.withLockedValue { state -> [PendingChange]? in
            guard !state.committing, !state.pending.isEmpty else { return nil }
            state.committing = true
            var cut = 0
            var count = 0
            for change in state.pending {
                guard cut == 0 || count + change.events.count <= maxBatch else { break }
                cut += 1
                count += change.events.count
            }
            let taken = Array(state.pending.prefix(cut))
            state.pending.removeFirst(cut)
            state.pendingBase += cut
            return taken
        }
        guard let batch else { return }
        // Encoding happens here, after the lock: every request path queues on that lock.
        let events = batch.flatMap(\.events).map(EncodedEvent.init)
        let lines = events.map { ByteBuffer(bytes: $0.line) }
        let replies = batch.map { $0.reply.map(Self.encode) }
        let started = ContinuousClock.now
        store.commit(events) { result in
            ServerMetrics.commitFinished(events: events.count, startedAt: started, result)
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
        _ batch: [PendingChange], lines: [ByteBuffer], replies: [ByteBuffer??], _ result: Result<Void, any Error>
    ) {
        var wakeups = Wakeups()
        let (more, waiters) = state.withLockedValue { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            state.committing = false
            switch result {
            case .success:
                var index = 0
                for (position, change) in batch.enumerated() {
                    for event in change.events {
                        state.committed.apply(event)
                        fanOut(event, line: lines[index], in: &state, wakeups: &wakeups)
                        index += 1
                    }
                    if let reply = change.reply { deliver(reply, line: replies[position] ?? nil, wakeups: &wakeups) }
                }
            case .failure(let error):
                // Nothing of this batch is stored, and what queued behind it was decided on top
                // of it: refuse all of it and go back to what is committed.
                logger.error(
                    "commit failed; the changes were refused", metadata: ["error": "\(error)", "changes": "\(batch.count)"])
                let refused = batch + state.pending
                state.pendingBase += state.pending.count
                state.pending.removeAll()
                state.pendingCoverage.removeAll()
                state.working = state.committed
                for change in refused {
                    change.reply?.fail(.internalError)
                }
            }
            if state.pending.isEmpty {
                let waiters = state.idleWaiters
                state.idleWaiters.removeAll()
                return (false, waiters)
            }
            return (true, [])
        }
        // The bytes are queued in seq order above; the event loops write them from here on.
        wakeups.run()
        for waiter in waiters { waiter.resume() }
        if more { commitNext() }
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

    /// One buffer per event, shared by every recipient.
    private func fanOut(_ event: Event, line buffer: ByteBuffer, in state: inout State, wakeups: inout Wakeups) {
        guard var subscribers = state.subscribers[event.team], !subscribers.isEmpty else { return }
        let supervisorsOnly = event.stream == .supervisors
        ServerMetrics.delivered(supervisorsOnly ? subscribers.values.count { $0.session.role.seesSupervisorStream } : subscribers.count)
        var holding = false
        for subscriber in subscribers.values {
            if supervisorsOnly && !subscriber.session.role.seesSupervisorStream { continue }
            if subscriber.held != nil {
                holding = true
            } else {
                subscriber.session.outbox.enqueue(buffer, wakeups: &wakeups)
            }
        }
        guard holding else { return }
        for (id, subscriber) in subscribers where subscriber.held != nil {
            if supervisorsOnly && !subscriber.session.role.seesSupervisorStream { continue }
            subscribers[id]?.held?.append(buffer)
        }
        state.subscribers[event.team] = subscribers
    }
}

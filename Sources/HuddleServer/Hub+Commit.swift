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
        state.pending.append(PendingChange(events: events, reply: reply))
        return !state.committing
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
            var taken: [PendingChange] = []
            var count = 0
            while let first = state.pending.first, taken.isEmpty || count + first.events.count <= maxBatch {
                taken.append(state.pending.removeFirst())
                count += first.events.count
            }
            return taken
        }
        guard let batch else { return }
        // Encoding happens here, after the lock: every request path queues on that lock.
        let events = batch.flatMap(\.events).map(EncodedEvent.init)
        let lines = events.map { ByteBuffer(bytes: $0.line) }
        let started = ContinuousClock.now
        store.commit(events) { result in
            ServerMetrics.commitFinished(events: events.count, startedAt: started, result)
            self.finish(batch, lines: lines, result)
        }
    }

    /// `lines` holds the encoded events of `batch`, in order.
    private func finish(_ batch: [PendingChange], lines: [ByteBuffer], _ result: Result<Void, any Error>) {
        let (more, waiters) = state.withLockedValue { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            state.committing = false
            switch result {
            case .success:
                var index = 0
                for change in batch {
                    for event in change.events {
                        state.committed.apply(event)
                        fanOut(event, line: lines[index], in: &state)
                        index += 1
                    }
                    if let reply = change.reply { deliver(reply) }
                }
            case .failure(let error):
                // Nothing of this batch is stored, and what queued behind it was decided on top
                // of it: refuse all of it and go back to what is committed.
                logger.error(
                    "commit failed; the changes were refused", metadata: ["error": "\(error)", "changes": "\(batch.count)"])
                let refused = batch + state.pending
                state.pending.removeAll()
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
        for waiter in waiters { waiter.resume() }
        if more { commitNext() }
    }

    func deliver(_ reply: Reply) {
        switch reply.target {
        case .session(let session, let id, let closeAfter):
            let line = RPCFrame.result(id: id, reply.result)
            if closeAfter {
                session.outbox.closeAfter(line)
            } else {
                session.outbox.enqueue(line)
            }
        case .completion(let completion):
            completion(.success(reply.result))
        }
    }

    /// One buffer per event, shared by every recipient.
    private func fanOut(_ event: Event, line buffer: ByteBuffer, in state: inout State) {
        guard var subscribers = state.subscribers[event.team], !subscribers.isEmpty else { return }
        let supervisorsOnly = event.stream == .supervisors
        ServerMetrics.delivered(supervisorsOnly ? subscribers.values.count { $0.session.role.seesSupervisorStream } : subscribers.count)
        var holding = false
        for subscriber in subscribers.values {
            if supervisorsOnly && !subscriber.session.role.seesSupervisorStream { continue }
            if subscriber.held != nil {
                holding = true
            } else {
                subscriber.session.outbox.enqueue(buffer)
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

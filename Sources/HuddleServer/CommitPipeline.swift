import HuddleCore
import HuddleProtocol

/// The floor's commit pipeline as a state machine, with no sockets, no NIO and no database: the
/// hub feeds it inputs (a decided change, a commit's completion or failure, a tick, a user's
/// arrival or drop) and carries out what it returns (commit this batch, answer this request,
/// publish these changes, refuse those).
///
/// - `working` runs ahead: every decision is made on it, including changes still waiting for
///   their commit. `committed` follows what the store holds; snapshots are taken from it.
/// - Changes queue while a transaction is in flight and the next transaction takes all of them
///   (group commit), up to a batch limit.
/// - A team's `coverage` event still waiting in the queue takes later figures instead of a new
///   event following it (folding): under load a team announces its coverage once per commit.
/// - A failed commit refuses its batch and everything queued behind it (decided on top of it)
///   and puts `working` back to `committed`.
/// - The presence, ghost and reminder clocks live here too: they decide events.
///
/// `Reply` is whatever the driver needs to answer a request; the pipeline only carries it.
struct CommitPipeline<Reply> {
    struct Change {
        var events: [Event]
        var reply: Reply?
    }

    /// A batch in flight: the changes, in the order they were submitted, and the current state
    /// they leave (read off `committed` with the batch applied), for the store to write with them.
    struct Batch {
        let changes: [Change]
        let state: FloorChanges
        var events: [Event] { changes.flatMap(\.events) }
    }

    /// What the driver must do after `submit`.
    enum Submitted {
        /// Nothing to commit and nothing ahead of it: answer now.
        case answerNow(Reply)
        /// Start a commit (call `nextBatch`); nothing is in flight.
        case startCommit
        /// Queued behind the commit in flight; it goes with the next batch.
        case queued
    }

    /// What a commit's completion asks of the driver.
    struct Completion {
        /// Committed, applied to `committed`: publish their events and send their answers, in
        /// this order.
        var published: [Change] = []
        /// Refused (the batch failed, or queued behind a failed one): send each its refusal.
        var refused: [Change] = []
        /// More is queued: call `nextBatch` and commit it.
        var more = false
    }

    private(set) var committed = Floor()
    var working = Floor()
    private var pending: [Change] = []
    /// How many changes have left the front of `pending` since start: `pending[i]` is change
    /// number `pendingBase + i`.
    private var pendingBase = 0
    /// Each team's `coverage` event waiting in `pending` (change number, index in it).
    private var pendingCoverage: [String: (change: Int, event: Int)] = [:]
    private(set) var committing = false
    /// When each disconnected user's presence turns false, unless they come back.
    private var presenceDue: [String: Timestamp] = [:]
    /// Since when each user without a live session has had none (for ghost sessions).
    private var absentSince: [String: Timestamp] = [:]
    /// Which status period each user was already reminded of.
    private var reminded: [String: Timestamp] = [:]
    /// Which hold check-ins, mutes and forgotten phone logouts were already reminded.
    private var callReminded = CallReminders()

    /// Nothing in flight and nothing queued.
    var isIdle: Bool { !committing && pending.isEmpty }

    // MARK: Loading and admin changes

    /// Starts from the stored floor. Users who were connected when the daemon stopped get the
    /// usual grace to come back; `absences` holds when each user's presence last turned false.
    mutating func load(_ floor: Floor, absences: [String: Timestamp], now: Timestamp) {
        committed = floor
        working = floor
        for team in floor.teams.values {
            for user in team.announcedConnected {
                let due = now.adding(seconds: team.policy.presenceGraceS)
                presenceDue[user] = min(presenceDue[user] ?? due, due)
            }
        }
        // The ghost clock: a user whose presence had already turned false has been away since
        // the drop (the announcement came a grace later); a user the restart disconnected, or one
        // never seen, starts it now.
        for (name, user) in floor.users {
            let connected = user.teams.contains { floor.teams[$0]?.announcedConnected.contains(name) ?? false }
            if !connected, let announced = absences[name] {
                absentSince[name] = min(now, announced.adding(seconds: -floor.presenceGrace(of: name)))
            } else {
                absentSince[name] = now
            }
        }
    }

    /// Users, teams and memberships changed by an admin command, into both floors.
    mutating func reconcileStructure(with loaded: Floor) {
        committed.reconcileStructure(with: loaded)
        working.reconcileStructure(with: loaded)
    }

    // MARK: Presence

    /// A user's first live session: their presence and coverage count at once.
    mutating func arrived(_ user: String, now: Timestamp) -> [Event] {
        presenceDue[user] = nil
        absentSince[user] = nil
        working.setLive(user, true)
        committed.setLive(user, true)
        var events = working.setPresence(user: user, connected: true, now: now)
        events += settle(working.users[user]?.teams ?? [], now: now)
        return events
    }

    /// A user's last live session ended: coverage stops counting them now, presence turns false
    /// after the grace (`tick`).
    mutating func left(_ user: String, now: Timestamp) -> [Event] {
        presenceDue[user] = now.adding(seconds: working.presenceGrace(of: user))
        absentSince[user] = now
        working.setLive(user, false)
        committed.setLive(user, false)
        return settle(working.users[user]?.teams ?? [], now: now)
    }

    /// What is due at `now`: presence graces that ran out (for users `isLive` says are still
    /// away), the status timers, held slots that expired, and the reminders to send.
    mutating func tick(now: Timestamp, isLive: (String) -> Bool) -> (events: [Event], reminders: [Reminder]) {
        var events: [Event] = []
        for (user, due) in presenceDue where due <= now {
            presenceDue[user] = nil
            guard !isLive(user) else { continue }
            events += working.setPresence(user: user, connected: false, now: now)
        }
        let (timerEvents, reminders) = working.runTimers(absentSince: absentSince, reminded: &reminded, now: now)
        let (callEvents, callReminders) = working.runCallTimers(reminded: &callReminded, now: now)
        events += timerEvents + callEvents
        events += settle(Array(working.teams.keys), now: now)
        return (events, reminders + callReminders)
    }

    // MARK: The queue

    /// `Floor.settle` with folding: a team whose last `coverage` event still waits in `pending`
    /// gets the new figures written into that event instead of another one.
    mutating func settle(_ names: [String], now: Timestamp) -> [Event] {
        var waiting: [String: Timestamp] = [:]
        for name in names {
            guard let at = pendingCoverage[name], at.change >= pendingBase else { continue }
            waiting[name] = pending[at.change - pendingBase].events[at.event].at
        }
        let (events, folded) = working.settle(names, now: now, folding: waiting)
        for (team, figures) in folded {
            guard let at = pendingCoverage[team] else { continue }
            pending[at.change - pendingBase].events[at.event].payload = .coverage(figures)
        }
        return events
    }

    /// Queues a change already applied to `working`, with the answer to send once it is
    /// committed. A reply with nothing to commit and nothing ahead of it is answered at once.
    mutating func submit(_ events: [Event], reply: Reply?) -> Submitted {
        if events.isEmpty, let reply, isIdle { return .answerNow(reply) }
        guard !events.isEmpty || reply != nil else { return .queued }
        let change = pendingBase + pending.count
        for (index, event) in events.enumerated() {
            if case .coverage = event.payload { pendingCoverage[event.team] = (change, index) }
        }
        pending.append(Change(events: events, reply: reply))
        return committing ? .queued : .startCommit
    }

    /// Takes the next batch to commit: every queued change, up to `maxEvents` events (a single
    /// change larger than that goes alone). Nil when a commit is in flight or nothing is queued.
    mutating func nextBatch(maxEvents: Int) -> Batch? {
        guard !committing, !pending.isEmpty else { return nil }
        committing = true
        var cut = 0
        var count = 0
        for change in pending {
            guard cut == 0 || count + change.events.count <= maxEvents else { break }
            cut += 1
            count += change.events.count
        }
        let taken = Array(pending.prefix(cut))
        pending.removeFirst(cut)
        pendingBase += cut
        return Batch(changes: taken, state: committed.changes(applying: taken.flatMap(\.events)))
    }

    /// The batch in flight was committed: it becomes part of `committed`.
    mutating func committed(_ batch: Batch) -> Completion {
        committing = false
        for change in batch.changes {
            for event in change.events { committed.apply(event) }
        }
        return Completion(published: batch.changes, more: !pending.isEmpty)
    }

    /// The batch in flight failed: nothing of it is stored, and what queued behind it was
    /// decided on top of it, so all of it is refused and `working` goes back to `committed`.
    mutating func failed(_ batch: Batch) -> Completion {
        committing = false
        let refused = batch.changes + pending
        pendingBase += pending.count
        pending.removeAll()
        pendingCoverage.removeAll()
        working = committed
        return Completion(refused: refused)
    }
}

extension CommitPipeline: Sendable where Reply: Sendable {}
extension CommitPipeline.Change: Sendable where Reply: Sendable {}
extension CommitPipeline.Batch: Sendable where Reply: Sendable {}
extension CommitPipeline.Completion: Sendable where Reply: Sendable {}

import HuddleProtocol

/// The fair break queue (SPEC §3): first come, first served; when the head may go its slot is held
/// for `holdSeconds` and the agent is told (`waitlist_ready`).
extension Floor {
    public static let holdSeconds: Int64 = 120

    /// Puts (or keeps) the user in the team's queue for `request`; a second request updates what
    /// they wait for without losing their place.
    mutating func enqueue(_ name: String, _ request: StatusRequest, in teamName: String, now: Timestamp) throws(RPCError)
        -> (StatusDecision, [Event])
    {
        guard var list = teams[teamName]?.waitlist else { throw .unknown("team", teamName) }
        // One place in one queue: waiting in another team's queue ends.
        var events: [Event] = []
        for other in (users[name]?.teams ?? []).sorted() where other != teamName {
            guard let otherList = teams[other]?.waitlist, otherList.contains(where: { $0.user == name }) else { continue }
            events.append(emit(team: other, .waitlist(otherList.filter { $0.user != name }), at: now))
        }
        if let index = list.firstIndex(where: { $0.user == name }) {
            list[index].status = request.status
            list[index].note = request.note
            list[index].expectedSeconds = request.expectedSeconds
        } else {
            list.append(
                WaitlistEntry(
                    user: name, status: request.status, since: now, note: request.note,
                    expectedSeconds: request.expectedSeconds))
        }
        let position = (list.firstIndex { $0.user == name } ?? list.count - 1) + 1
        events.insert(emit(team: teamName, .waitlist(list), at: now), at: 0)
        return (.waitlisted(position: position), events)
    }

    /// `waitlist.cancel`: the user leaves the team's queue.
    public mutating func cancelWaitlist(_ name: String, team teamName: String, now: Timestamp) throws(RPCError) -> [Event]
    {
        let team = try requireMember(name, of: teamName)
        guard team.waitlist.contains(where: { $0.user == name }) else { return [] }
        return [emit(team: teamName, .waitlist(team.waitlist.filter { $0.user != name }), at: now)]
    }

    /// The user got a status that ends their wait (or went offline): out of every queue.
    mutating func leaveWaitlists(_ name: String, now: Timestamp) -> [Event] {
        var events: [Event] = []
        for teamName in (users[name]?.teams ?? []).sorted() {
            guard let list = teams[teamName]?.waitlist, list.contains(where: { $0.user == name }) else { continue }
            events.append(emit(team: teamName, .waitlist(list.filter { $0.user != name }), at: now))
        }
        return events
    }

    /// Drops expired holds, then holds slots for the head of the queue, and the next, for as
    /// long as the rules allow (never letting a later request jump an earlier one).
    mutating func reconsiderWaitlist(of teamName: String, now: Timestamp) -> [Event] {
        guard let list = teams[teamName]?.waitlist, !list.isEmpty else { return [] }
        var events: [Event] = []
        let kept = list.filter { entry in entry.holdUntil.map { $0 > now } ?? true }
        if kept.count != list.count {
            events.append(emit(team: teamName, .waitlist(kept), at: now))
        }
        for entry in kept where entry.holdUntil == nil {
            guard check(entry.user, to: entry.status, now: now) == nil else { break }
            events.append(
                emit(
                    team: teamName,
                    .waitlistReady(user: entry.user, status: entry.status, holdUntil: now.adding(seconds: Self.holdSeconds)),
                    at: now))
        }
        return events
    }

    /// What a held slot is taken with: the status and note the agent queued for.
    public func heldRequest(for name: String, now: Timestamp) -> WaitlistEntry? {
        for team in (users[name]?.teams ?? []).sorted() {
            if let entry = teams[team]?.waitlist.first(where: { $0.user == name && ($0.holdUntil.map { $0 > now } ?? false) }) {
                return entry
            }
        }
        return nil
    }
}

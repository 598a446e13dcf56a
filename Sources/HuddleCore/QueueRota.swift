import HuddleProtocol

/// The queue report without a bot (SPEC §14). With `queue_report_by: agents` and an interval, a
/// request opens `queue_report_every_s` after the last report (or after the policy was set) and
/// is asked of one agent at a time, on a fair rota: the agent asked least recently (never asked
/// first, then by name) among those who are connected, Available, off a call and whose phone is
/// not logged out. The asked agent has `queue_report_grace_s` to answer; after that the next one
/// is asked and supervisors get `queue_report_missing` (once per request). One who goes on a
/// break or on a call is replaced at once, one who disconnects as soon as their presence turns
/// false (after `presence_grace_s`, so that a blip or a restart keeps the turn). When nobody can
/// be asked, supervisors are told (`queue_report_missing`) and the first agent who can be is
/// asked. Anyone asked for the request may answer it; the first report, from them or from a bot
/// or supervisor, closes it.
///
/// The rota is checked in `settle`: after every change (so a replaced agent is replaced by the
/// change that made them unavailable) and at every tick (so a request opens and a grace ends
/// on time).
extension Floor {
    /// Who may be asked now: connected (a live session). One already asked stays asked while
    /// their presence holds (`staying`): a dropped connection that comes back within the
    /// presence grace, or a daemon restart, does not pass the request on.
    func canBeAsked(_ name: String, in team: TeamState, staying: Bool = false) -> Bool {
        guard let user = users[name], user.role == .agent, team.members.contains(name) else { return false }
        guard live.contains(name) || (staying && team.announcedConnected.contains(name)) else { return false }
        return user.status.status == .available && user.phone.call == nil && user.phone.loggedIn != false
    }

    /// The least recently asked of those who may be asked, leaving out `excluding`.
    func nextInRota(of team: TeamState, excluding: String? = nil) -> String? {
        var best: (name: String, at: Int64)?
        for name in team.members where name != excluding && canBeAsked(name, in: team) {
            let at = team.rota.lastAsked[name]?.milliseconds ?? Int64.min
            if let current = best, current.at < at || (current.at == at && current.name < name) { continue }
            best = (name, at)
        }
        return best?.name
    }

    mutating func checkRota(of teamName: String, now: Timestamp) -> [Event] {
        guard let team = teams[teamName], team.policy.queueReportBy == .agents, let every = team.policy.queueReportEveryS
        else { return [] }
        guard let request = team.rota.request else {
            let last = max(team.queue?.at ?? Timestamp(milliseconds: 0), team.policySince ?? Timestamp(milliseconds: 0))
            guard last.adding(seconds: every) <= now else { return [] }
            return ask(in: teamName, request: now, excluding: nil, reason: .due, now: now)
        }
        guard let asked = request.asked else {
            // Nobody could be asked (supervisors were told then): the first who can be is.
            guard let next = nextInRota(of: team) else { return [] }
            return [askEvent(next, in: teamName, request: request.openedAt, reason: .available, now: now)]
        }
        if !canBeAsked(asked, in: team, staying: true) {
            return ask(in: teamName, request: request.openedAt, excluding: asked, reason: .unavailable, now: now)
        }
        guard let due = request.dueBy, due <= now else { return [] }
        // No answer in time. With nobody else to ask, the asked agent stays asked (and is
        // replaced by the first other agent who can be).
        let next = nextInRota(of: team, excluding: asked)
        var events: [Event] = []
        if team.missingReportRaisedAt.map({ $0 < request.openedAt }) ?? true {
            let waited = (now.milliseconds - request.askedAt.milliseconds) / 1000
            let instead = next.map { "; \($0) is asked instead" } ?? "; nobody else can be asked"
            events.append(
                raiseAlert(
                    team: teamName, kind: .queueReportMissing, severity: .warning, user: asked,
                    text: "\(asked) was asked for the queue report \(waited) s ago and has not sent it\(instead)", now: now))
        }
        if let next { events.append(askEvent(next, in: teamName, request: request.openedAt, reason: .noAnswer, now: now)) }
        return events
    }

    /// Asks the next agent for the request opened at `request`, or tells supervisors that
    /// nobody can be asked (the event with no user, and the alert once per request).
    private mutating func ask(
        in teamName: String, request: Timestamp, excluding: String?, reason: QueueReportAsk.Reason, now: Timestamp
    ) -> [Event] {
        guard let team = teams[teamName] else { return [] }
        if let next = nextInRota(of: team, excluding: excluding) {
            return [askEvent(next, in: teamName, request: request, reason: reason, now: now)]
        }
        var events = [
            emit(
                team: teamName, .queueReportAsked(QueueReportAsk(user: nil, requestAt: request, dueBy: nil, reason: reason)),
                at: now)
        ]
        if team.missingReportRaisedAt.map({ $0 < request }) ?? true {
            events.append(
                raiseAlert(
                    team: teamName, kind: .queueReportMissing, severity: .warning,
                    text: "nobody to ask for the queue report: no agent is connected, Available and off a call; a supervisor can send it",
                    now: now))
        }
        return events
    }

    private mutating func askEvent(
        _ user: String, in teamName: String, request: Timestamp, reason: QueueReportAsk.Reason, now: Timestamp
    ) -> Event {
        let grace = teams[teamName]?.policy.queueReportGraceS ?? Policy().queueReportGraceS
        let ask = QueueReportAsk(user: user, requestAt: request, dueBy: now.adding(seconds: grace), reason: reason)
        return emit(team: teamName, .queueReportAsked(ask), at: now)
    }

    /// Whether `user` may post a queue report for `team`: bots, supervisors and admins always;
    /// an agent only when agents report and they were asked for the open request.
    func checkReporter(_ user: UserState, of team: TeamState) throws(RPCError) {
        guard user.role == .agent else { return }
        guard team.policy.queueReportBy == .agents else {
            throw .forbidden("queue reports come from bots and supervisors")
        }
        guard let request = team.rota.request else {
            let last = team.queue.map { " (the last one came from \($0.by))" } ?? ""
            throw .forbidden("no queue report is asked for in \(team.name) now\(last)")
        }
        guard request.everAsked.contains(user.name) else {
            let asked = request.asked.map { "\($0) was" } ?? "nobody could be asked yet"
            throw .forbidden("you were not asked for this queue report (\(asked))")
        }
    }
}

extension QueueReportRota {
    /// A `queue_report_asked` event: the request it names (a new one when it differs) is now
    /// asked of its user.
    mutating func asked(_ ask: QueueReportAsk, at time: Timestamp) {
        var current = QueueReportRequest(openedAt: ask.requestAt, asked: nil, askedAt: time, dueBy: nil, everAsked: [])
        if let open = request, open.openedAt == ask.requestAt { current = open }
        current.asked = ask.user
        current.askedAt = time
        current.dueBy = ask.dueBy
        if let user = ask.user {
            current.everAsked.insert(user)
            lastAsked[user] = time
        }
        request = current
    }
}

import HuddleProtocol

/// A team's coverage as last announced: the figures and the state the server named.
public struct BoardCoverage: Sendable, Equatable {
    public var figures: CoverageFigures
    public var state: CoverageFigures.State

    public init(figures: CoverageFigures, state: CoverageFigures.State? = nil) {
        self.figures = figures
        self.state = state ?? figures.state
    }

    /// From a snapshot's `coverage` or a `coverage` event; the wire's `state` wins over the
    /// client's own reading of the figures.
    public init?(json: JSONValue) {
        guard let figures = CoverageFigures(json: json) else { return nil }
        self.init(figures: figures, state: json["state"]?.stringValue.flatMap(CoverageFigures.State.init(rawValue:)))
    }
}

/// The latest message of a team.
public struct BoardMessage: Sendable, Equatable {
    public var user: String
    public var text: String
    public var at: Timestamp?

    public init(user: String, text: String, at: Timestamp?) {
        self.user = user
        self.text = text
        self.at = at
    }
}

/// One team as the board shows it: the join's snapshot, moved forward by each event.
public struct TeamBoard: Sendable, Equatable {
    public var name: String
    /// The last team-stream seq reflected here.
    public var seq: Int64
    /// The last supervisors'-stream seq reflected here (supervisors and admins only).
    public var supervisorsSeq: Int64?
    /// Sorted by user name.
    public var members: [Member]
    /// Seconds per status wire name, from the policy.
    public var limits: [String: Int64]
    public var coverage: BoardCoverage?
    public var queue: QueueReport?
    public var waitlist: [WaitlistPlace]
    /// Open alerts, oldest first; nil for a viewer who does not see them.
    public var alerts: [OpenAlert]?
    public var lastMessage: BoardMessage?
    /// The open queue-report request (SPEC §14), for supervisors and the agent asked.
    public var reportRequest: QueueReportRequest?

    public init(
        name: String, seq: Int64 = 0, supervisorsSeq: Int64? = nil, members: [Member] = [], limits: [String: Int64] = [:],
        coverage: BoardCoverage? = nil, queue: QueueReport? = nil, waitlist: [WaitlistPlace] = [],
        alerts: [OpenAlert]? = nil, lastMessage: BoardMessage? = nil
    ) {
        self.name = name
        self.seq = seq
        self.supervisorsSeq = supervisorsSeq
        self.members = members.sorted { $0.user < $1.user }
        self.limits = limits
        self.coverage = coverage
        self.queue = queue
        self.waitlist = waitlist
        self.alerts = alerts
        self.lastMessage = lastMessage
    }

    public init(join: JoinResult) {
        let snapshot = join.snapshot
        self.init(
            name: join.team, seq: join.position.seq, supervisorsSeq: join.position.supervisorsSeq,
            members: join.members, limits: Self.limits(from: snapshot["policy"]),
            coverage: snapshot["coverage"].flatMap(BoardCoverage.init(json:)),
            queue: snapshot["queue"].flatMap(QueueReport.init(json:)), waitlist: join.waitlist, alerts: join.alerts)
        reportRequest = snapshot["queue_report_request"].flatMap(QueueReportRequest.init(json:))
    }

    static func limits(from policy: JSONValue?) -> [String: Int64] {
        var limits: [String: Int64] = [:]
        for (status, value) in policy?["limits"]?.objectValue ?? [:] {
            if let seconds = value.intValue { limits[status] = seconds }
        }
        return limits
    }

    /// Applies one event of this team. Returns false, changing nothing, for an event the state
    /// already reflects (seq at or below the snapshot's: replayed before a join's answer).
    @discardableResult
    public mutating func apply(_ event: EventNotification) -> Bool {
        switch event.stream {
        case .team:
            guard event.seq > seq else {
                // Snapshots hold no messages: a replayed one may still be the latest.
                if case .success(let known) = event.decoded, case let .message(user, text) = known.payload {
                    noteMessage(user: user, text: text, at: known.at)
                }
                return false
            }
            seq = event.seq
        case .supervisors:
            if let supervisorsSeq, event.seq <= supervisorsSeq { return false }
            supervisorsSeq = event.seq
        }
        switch event.decoded {
        case .success(let known): apply(known)
        case .failure: applyUnreadable(event)
        }
        return true
    }

    mutating func apply(_ event: Event) {
        switch event.payload {
        case .status(let change):
            var member = member(named: change.user)
            member.status = change.status
            member.statusName = change.status.rawValue
            member.note = change.note
            member.since = change.since
            member.expectedUntil = change.expectedUntil
            upsert(member)
        case let .presence(user, connected):
            guard let index = members.firstIndex(where: { $0.user == user }) else { break }
            members[index].connected = connected
        case let .message(user, text):
            noteMessage(user: user, text: text, at: event.at)
        case .queue(let report):
            // The event's `at` is the report's time, as the snapshot's `queue.at` is. It
            // answers the open request, whoever sent it.
            queue = report
            reportRequest = nil
        case .policy(_, _, _, let policy):
            limits = Dictionary(uniqueKeysWithValues: policy.limits.map { ($0.key.rawValue, $0.value) })
        case .coverage(let figures):
            coverage = BoardCoverage(figures: figures)
        case .waitlist(let entries):
            // The event lists {user, status, since} only: a slot held for someone stays held
            // (waitlist_ready said so) for as long as they keep their place for that status.
            let previous = waitlist
            waitlist = entries.map { entry in
                let held = previous.first { $0.user == entry.user && $0.status == entry.status }?.holdUntil
                return WaitlistPlace(user: entry.user, status: entry.status, since: entry.since, holdUntil: held)
            }
        case let .waitlistReady(user, _, holdUntil):
            guard let index = waitlist.firstIndex(where: { $0.user == user }) else { break }
            waitlist[index].holdUntil = holdUntil
        case .alert(let alert):
            noteAlert(OpenAlert(alert))
        case .alertAck(let id, _, _, _):
            alerts?.removeAll { $0.id == id }
        case .notice(let status):
            guard let index = alerts?.firstIndex(where: { $0.id == status.alert }) else { break }
            alerts?[index].notices.note(status)
        case .call(let change):
            guard let index = members.firstIndex(where: { $0.user == change.user }) else { break }
            members[index].call = change.call
        case let .phone(user, loggedIn):
            guard let index = members.firstIndex(where: { $0.user == user }) else { break }
            members[index].phoneLoggedIn = loggedIn
        case .queueReportAsked(let ask):
            reportRequest = QueueReportRequest(
                openedAt: ask.requestAt, asked: ask.user, askedAt: event.at, dueBy: ask.dueBy,
                everAsked: ask.user.map { [$0] } ?? [])
        }
    }

    /// An event this client cannot read (a type, status or alert kind of a newer server) shows
    /// what it can as sent: a member in a status this client does not know, an alert of a kind
    /// it does not know. Anything else only moves the seq.
    mutating func applyUnreadable(_ event: EventNotification) {
        let p = event.params
        switch event.type {
        case "status":
            guard let user = p["user"]?.stringValue, let statusName = p["status"]?.stringValue else { break }
            var member = member(named: user)
            member.statusName = statusName
            member.status = Status(rawValue: statusName)
            member.note = p["note"]?.stringValue ?? ""
            member.since = p["since"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) ?? event.at
            member.expectedUntil = p["expected_until"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
            upsert(member)
        case "alert":
            if let alert = OpenAlert(json: p, team: name) { noteAlert(alert) }
        default:
            break
        }
    }

    /// The member as shown, or a newcomer the snapshot did not list.
    func member(named user: String) -> Member {
        members.first { $0.user == user } ?? Member(user: user, status: .offline, since: nil, connected: false)
    }

    mutating func noteAlert(_ alert: OpenAlert) {
        var open = alerts ?? []
        open.removeAll { $0.id == alert.id }
        open.append(alert)
        alerts = open.sorted { $0.id < $1.id }
    }

    mutating func noteMessage(user: String, text: String, at: Timestamp) {
        if let shown = lastMessage?.at, at < shown { return }
        lastMessage = BoardMessage(user: user, text: text, at: at)
    }

    mutating func upsert(_ member: Member) {
        members.removeAll { $0.user == member.user }
        members.append(member)
        members.sort { $0.user < $1.user }
    }
}

/// Everything the board shows, updated from the watcher's snapshots and events and from the
/// keyboard. A value with no clock of its own: every change that depends on time is given `now`.
public struct BoardState: Sendable, Equatable {
    /// The connection to the server, as the board tells it.
    public enum Link: Sendable, Equatable {
        case connecting
        case live
        /// Since the first drop of this outage.
        case disconnected(reason: String, since: Timestamp)
        /// Back after a drop; `recovered` is false when some team could not replay what it
        /// missed (its snapshot stands alone).
        case reconnected(at: Timestamp, recovered: Bool)
    }

    public enum Tone: Sendable, Equatable {
        case info
        case good
        case warning
        case bad
    }

    /// A short notice above the footer, shown until `until`.
    public struct Flash: Sendable, Equatable {
        public var text: String
        public var tone: Tone
        public var until: Timestamp
    }

    public enum Input: Sendable, Equatable {
        case normal
        /// Typing the note of an acknowledgment.
        case note(alert: Int64, text: String)
    }

    /// How long "reconnected" stays up, and a flash.
    public static let noticeSeconds: Int64 = 10

    public var viewer: String?
    public var roleName: String?
    /// In the order they were joined.
    public var teamNames: [String] = []
    public var teams: [String: TeamBoard] = [:]
    public var link: Link = .connecting
    /// Events that arrived after the last reconnect but were already in its snapshot.
    public var caughtUp = 0
    public var selectedAlert: Int64?
    public var input: Input = .normal
    public var flash: Flash?
    /// A stream skipped seqs: the board may be missing something.
    public var lostEvents = false

    public init() {}

    /// When a member is due back, by the server's rule (`Status.due`): the planned return, else
    /// the start plus the smallest limit for the status among the shown teams that list them.
    /// The board sees only the policies of the teams it shows; a person also in a team it does
    /// not show, with a stricter limit there, is due earlier than it says (PROTOCOL §12).
    public func due(_ member: Member) -> Timestamp? {
        guard let status = member.status else { return member.expectedUntil }
        guard let since = member.since else { return member.expectedUntil }
        let limits = teamNames.compactMap { name -> Int64? in
            guard let team = teams[name], team.members.contains(where: { $0.user == member.user }) else { return nil }
            return team.limits[status.rawValue]
        }
        return status.due(since: since, expectedUntil: member.expectedUntil, limits: limits)
    }

    /// Supervisors and admins see alerts and may acknowledge them.
    public var seesAlerts: Bool {
        roleName == Role.supervisor.rawValue || roleName == Role.admin.rawValue
            || teams.values.contains { $0.alerts != nil }
    }

    /// The open alerts of every team, oldest first (ids are unique across teams).
    public var openAlerts: [OpenAlert] {
        teamNames.compactMap { teams[$0]?.alerts }.flatMap { $0 }.sorted { $0.id < $1.id }
    }

    /// The alert the keys act on: the one chosen while it is open, otherwise the oldest.
    public var selectedAlertID: Int64? {
        let open = openAlerts
        if let selectedAlert, open.contains(where: { $0.id == selectedAlert }) { return selectedAlert }
        return open.first?.id
    }

    public mutating func apply(_ update: WatchUpdate, now: Timestamp) {
        switch update {
        case .signedIn(let hello):
            viewer = hello.user
            roleName = hello.roleName
        case .joined(let join):
            install(join)
            link = .live
        case .reconnected(let join, let recovered):
            install(join)
            if case .reconnected(let at, let earlier) = link {
                link = .reconnected(at: at, recovered: earlier && recovered)
            } else {
                link = .reconnected(at: now, recovered: recovered)
                caughtUp = 0
            }
        case .event(let event):
            guard var team = teams[event.team] else { return }
            if !team.apply(event), case .reconnected = link { caughtUp += 1 }
            teams[event.team] = team
        case .reminder(let params):
            flash = Flash(text: Self.reminderText(params), tone: .warning, until: now.adding(seconds: 60))
        case .queueReportDue(let due):
            flash = Flash(
                text: "Queue report asked of you (\(TextRules.sanitizedForTerminal(due.team))): run \(EventText.queueCommand(team: due.team))",
                tone: .warning, until: due.dueBy)
        case .disconnected(let reason):
            if case .disconnected = link { return }
            link = .disconnected(reason: TextRules.sanitizedForTerminal(reason), since: now)
        case .gap:
            lostEvents = true
        }
    }

    mutating func install(_ join: JoinResult) {
        var team = TeamBoard(join: join)
        // Snapshots hold no messages: the one shown before a reconnect stays.
        team.lastMessage = teams[join.team]?.lastMessage
        teams[join.team] = team
        if !teamNames.contains(join.team) { teamNames.append(join.team) }
    }

    /// The link as shown at `now`: a reconnection is news for `noticeSeconds`, then just live.
    public func shownLink(at now: Timestamp) -> Link {
        if case .reconnected(let at, _) = link, at.adding(seconds: Self.noticeSeconds) <= now { return .live }
        return link
    }

    public func shownFlash(at now: Timestamp) -> Flash? {
        guard let flash, now < flash.until else { return nil }
        return flash
    }

    /// Tells the outcome of an acknowledgment sent for `alert`: nil for success, otherwise what
    /// went wrong. The alert itself leaves the board with the `alert_ack` event.
    public mutating func acknowledged(_ alert: Int64, failure: String?, now: Timestamp) {
        if let failure {
            show("could not acknowledge #\(alert): \(TextRules.sanitizedForTerminal(failure))", .bad, now: now)
        } else {
            show("acknowledged #\(alert)", .good, now: now)
        }
    }

    public mutating func show(_ text: String, _ tone: Tone, now: Timestamp) {
        flash = Flash(text: text, tone: tone, until: now.adding(seconds: Self.noticeSeconds))
    }

    /// `Reminder: your Break is past its time`, worded here for a known status.
    static func reminderText(_ params: JSONValue) -> String {
        if let status = params["status"]?.stringValue.flatMap(Status.init(rawValue:)) {
            return "Reminder: your \(status.label) is past its time"
        }
        if let text = params["text"]?.stringValue, !text.isEmpty {
            return "Reminder: " + TextRules.sanitizedForTerminal(text)
        }
        return "Reminder: your status is past its time"
    }
}

import HuddleProtocol

/// What a run of events changes in the floor's current state, read off the floor itself:
/// the events are applied (`Floor.apply`, the single way state changes) to a copy of the users
/// and teams they touch, and whatever differs afterwards is listed here as it then stands. The
/// store writes these beside the events, so that its current-state tables follow from the same
/// reading of an event as the server's floors, not from one of its own.
///
/// The records an event is itself (an alert raised or acknowledged, a policy version) are not
/// state and are not here: the store keeps them from the event.
public struct FloorChanges: Sendable, Equatable {
    /// A presence announcement: `at` is when it was made (the store keeps when a user went
    /// away, for the ghost-session clock after a restart).
    public struct Presence: Sendable, Equatable {
        public var team: String
        public var user: String
        public var connected: Bool
        public var at: Timestamp
    }

    /// A team's announced figures, each nil when the events left it as it was.
    public struct TeamChange: Sendable, Equatable {
        public var team: String
        public var coverage: CoverageFigures?
        /// With `coverage`: since when the team has been in breach (nil: it is not).
        public var breachSince: Timestamp?
        public var queue: QueueReport?
        public var waitlist: [WaitlistEntry]?
        /// The queue-report rota (SPEC §14), when the events moved it.
        public var rota: QueueReportRota?
    }

    /// What a bridge said of a user's phone, as it stands after the events.
    public struct Phone: Sendable, Equatable {
        public var user: String
        public var phone: PhoneState
    }

    /// Users whose status or overdue mark changed, as they stand after the events.
    public var users: [UserState] = []
    /// Users whose phone (call, login, its alerts' marks) changed.
    public var phones: [Phone] = []
    /// In the order the events made them.
    public var presence: [Presence] = []
    public var teams: [TeamChange] = []

    public init() {}

    public var isEmpty: Bool { users.isEmpty && phones.isEmpty && presence.isEmpty && teams.isEmpty }
}

extension Floor {
    /// The changes `events` make when applied to this floor (which is left as it is).
    public func changes(applying events: [Event]) -> FloorChanges {
        var touchedUsers: [String: UserState] = [:]
        var touchedTeams: [String: TeamState] = [:]
        for event in events {
            if touchedTeams[event.team] == nil, let team = teams[event.team] { touchedTeams[event.team] = team }
            if let name = event.payload.user, touchedUsers[name] == nil, let user = users[name] { touchedUsers[name] = user }
        }
        var part = Floor(users: touchedUsers, teams: touchedTeams, lastAlertID: lastAlertID)
        // Nothing here reads the part's coverage counts: an empty index spares counting its teams.
        part.coverageIndex = [:]
        var changes = FloorChanges()
        for event in events {
            part.apply(event)
            if case .presence(let user, _) = event.payload, let announced = part.teams[event.team]?.announcedConnected {
                changes.presence.append(.init(team: event.team, user: user, connected: announced.contains(user), at: event.at))
            }
        }
        for name in touchedUsers.keys.sorted() {
            guard let before = touchedUsers[name], let after = part.users[name] else { continue }
            if before.status != after.status || before.overdueAlertedSince != after.overdueAlertedSince {
                changes.users.append(after)
            }
            if before.phone != after.phone { changes.phones.append(.init(user: name, phone: after.phone)) }
        }
        for name in touchedTeams.keys.sorted() {
            guard let before = touchedTeams[name], let after = part.teams[name] else { continue }
            let change = FloorChanges.TeamChange(
                team: name, coverage: before.coverage == after.coverage ? nil : after.coverage,
                breachSince: after.breachSince, queue: before.queue == after.queue ? nil : after.queue,
                waitlist: before.waitlist == after.waitlist ? nil : after.waitlist,
                rota: before.rota == after.rota ? nil : after.rota)
            if change.coverage != nil || change.queue != nil || change.waitlist != nil || change.rota != nil {
                changes.teams.append(change)
            }
        }
        return changes
    }
}

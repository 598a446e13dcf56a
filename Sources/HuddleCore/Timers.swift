import HuddleProtocol

/// A nudge for one agent, sent to their connections only, never stored: their status is past
/// its limit or planned return, or (SPEC §10) a customer has been on hold a while, the call is
/// on mute, or they are Offline with the phone still logged in.
public struct Reminder: Sendable, Equatable {
    public enum About: String, Sendable {
        case status
        case hold
        case mute
        case phoneLogout = "phone_logout"
    }

    public var user: String
    public var about: About
    /// The status that is past its time (`about == .status` only).
    public var status: Status?
    public var since: Timestamp
    public var due: Timestamp
    public var text: String

    /// A status reminder is `{status, since, due, text}` as it always was; the others say what
    /// they are about instead: `{about, since, due, text}`.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["since": since.json, "due": due.json, "text": .string(text)]
        if let status { object["status"] = .string(status.rawValue) } else { object["about"] = .string(about.rawValue) }
        return .object(object)
    }
}

extension Reminder {
    /// A status past its time.
    public init(user: String, status: Status, since: Timestamp, due: Timestamp) {
        self.init(
            user: user, about: .status, status: status, since: since, due: due,
            text: "Your \(status.label) is past its \(status == .afterCallWork ? "limit" : "time"); please update your status.")
    }
}

/// Timers (SPEC §3) are not scheduled callbacks: they are facts derived from stored timestamps and
/// the policy, checked by the server's tick. So they survive a restart by construction: a break
/// that started before the restart still ends on time.
extension Floor {
    /// Runs everything that is due at `now`. `absentSince` says since when each user without a
    /// live session has had none; `reminded` remembers which status periods were reminded.
    public mutating func runTimers(absentSince: [String: Timestamp], reminded: inout [String: Timestamp], now: Timestamp)
        -> (events: [Event], reminders: [Reminder])
    {
        var events: [Event] = []
        var reminders: [Reminder] = []
        for name in users.keys.sorted() {
            guard let user = users[name], user.role.hasStatus, !user.teams.isEmpty else { continue }
            let record = user.status
            if record.status == .offline { continue }
            if !live.contains(name), let absent = absentSince[name],
                absent.adding(seconds: strictest(user, { $0.ghostAfterS }) ?? 120) <= now
            {
                events += systemStatus(user, .offline, now: now)
                events += leaveWaitlists(name, now: now)
                for team in user.teams.sorted() {
                    events.append(
                        raiseAlert(
                            team: team, kind: .ghostSession, severity: .warning, user: name,
                            text: "\(name) was \(record.status.label) with no connection; set Offline", now: now))
                }
                continue
            }
            guard record.status != .available, let due = due(user), now >= due else { continue }
            if record.status == .afterCallWork {
                events += systemStatus(user, .available, now: now)
                continue
            }
            // Reminded once per due time, and only when the agent is there to read it: one who
            // reconnects later (after a restart, say) still gets it.
            if reminded[name] != due && live.contains(name) {
                reminded[name] = due
                reminders.append(Reminder(user: name, status: record.status, since: record.since, due: due))
            }
            let grace = strictest(user, { $0.overdueGraceS }) ?? 120
            if now >= due.adding(seconds: grace), user.overdueAlertedSince != record.since {
                for team in user.teams.sorted() {
                    events.append(
                        raiseAlert(
                            team: team, kind: .overdueStatus, severity: .warning, user: name,
                            text: "\(name) has been on \(record.status.label) past \(record.expectedUntil == nil ? "its limit" : "the planned return")",
                            statusSince: record.since, now: now))
                }
            }
        }
        for teamName in teams.keys.sorted() {
            guard let team = teams[teamName] else { continue }
            for alert in team.openAlerts.values.sorted(by: { $0.id < $1.id })
            where alert.kind == .wellbeingBreak && !team.escalatedAlerts.contains(alert.id)
                && alert.createdAt.adding(seconds: team.policy.escalateAfterS) <= now
            {
                events.append(
                    raiseAlert(
                        team: teamName, kind: .escalation, severity: .critical, user: alert.user, reason: alert.reason,
                        text: "nobody has acknowledged alert \(alert.id) (\(alert.user ?? "an agent")'s wellbeing break)",
                        escalates: alert.id, now: now))
            }
        }
        events += checkMissingReports(now: now)
        return (events, reminders)
    }

    /// After any change: expired holds, the waitlists' progress, coverage announcements and the
    /// queue-report rota (SPEC §14) for the given teams.
    public mutating func settle(_ teamNames: [String], now: Timestamp) -> [Event] {
        settle(teamNames, now: now, folding: [:]).events
    }

    /// The same, for a caller that groups changes into commits: for the teams in `folding`, whose
    /// last `coverage` event has not been committed (so nobody has seen it), new figures are taken
    /// as announced and returned in `folded` for the caller to write into that event, instead of
    /// becoming an event of their own. `folding` holds when each of those events was made: the
    /// figures count as announced then, as the committed event will say. All waitlists move first, so that the figures announced
    /// count what they changed, in every team.
    public mutating func settle(
        _ teamNames: [String], now: Timestamp, folding: [String: Timestamp]
    ) -> (events: [Event], folded: [String: CoverageFigures]) {
        // Most changes touch one team: no set to build, nothing to sort.
        let names = teamNames.count > 1 ? Set(teamNames).sorted() : teamNames
        var events: [Event] = []
        var folded: [String: CoverageFigures] = [:]
        for team in names { events += reconsiderWaitlist(of: team, now: now) }
        for team in names {
            if let figures = coverage(of: team), teams[team]?.coverage != figures {
                if let at = folding[team] {
                    setAnnouncedCoverage(figures, of: team, at: at)
                    folded[team] = figures
                } else {
                    events.append(emit(team: team, .coverage(figures), at: now))
                }
            }
            events += checkBreach(of: team, now: now)
            events += checkRota(of: team, now: now)
        }
        return (events, folded)
    }
}

extension Floor {
    /// `coverage_breach` (SPEC §12): raised once a team has been in breach for
    /// `coverage_breach_after_s`, whatever put it there (an agent's own move, dropped connections,
    /// a ghost set offline, a forced change, a policy change); one open per team; closed by the
    /// system as soon as the team is out of breach.
    mutating func checkBreach(of teamName: String, now: Timestamp) -> [Event] {
        guard let team = teams[teamName], let figures = team.coverage else { return [] }
        guard figures.state == .breach else {
            return clearAlerts(.coverageBreach, in: teamName, note: "coverage is back", now: now)
        }
        guard let since = team.breachSince, since.adding(seconds: team.policy.coverageBreachAfterS) <= now,
            !team.openAlerts.values.contains(where: { $0.kind == .coverageBreach })
        else { return [] }
        let seconds = (now.milliseconds - since.milliseconds) / 1000
        return [
            raiseAlert(
                team: teamName, kind: .coverageBreach, severity: .warning,
                text: "coverage breached for \(seconds) s: \(figures.available) available, \(figures.required) required",
                now: now)
        ]
    }
}

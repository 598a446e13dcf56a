import HuddleProtocol

/// The reminders the call timers already sent, so that each goes once. Like the status
/// reminders they are not stored: after a restart a reminder that was due is sent again once.
public struct CallReminders: Sendable, Equatable {
    /// The due time of the last hold check-in, the mute that was reminded (its start), and the
    /// due time of the last phone-logout reminder, per user.
    var hold: [String: Timestamp] = [:]
    var mute: [String: Timestamp] = [:]
    var phone: [String: Timestamp] = [:]

    public init() {}
}

/// The call timers (SPEC §10) are facts derived from stored times and the policy, checked by the
/// server's tick like the status timers: a hold that began before a restart is checked in on
/// and alerted on from the time it began.
extension Floor {
    /// Hold check-ins, the long-hold alert, the mute reminder, and the forgotten phone logout.
    /// Reminders go only to agents with a live session; alerts are raised once per hold or per
    /// Offline-while-logged-in period, and the logout alert closes once it no longer holds.
    public mutating func runCallTimers(reminded: inout CallReminders, now: Timestamp)
        -> (events: [Event], reminders: [Reminder])
    {
        var events: [Event] = []
        var reminders: [Reminder] = []
        let stale = teams.values.flatMap { team in
            team.openAlerts.values.filter { $0.kind == .phoneStillLoggedIn }.compactMap(\.user)
        }
        for name in Set(stale).sorted() where !(users[name].map(forgotPhone) ?? false) {
            events += clearAlerts(.phoneStillLoggedIn, of: name, note: "the phone is logged out or the agent is back", now: now)
        }
        let watched = users.values.filter { $0.phone.call != nil || $0.phone.loggedIn == true }.map(\.name).sorted()
        for name in watched {
            guard let user = users[name] else { continue }
            if let call = user.phone.call {
                if call.state == .onHold {
                    let (holdEvents, checkin) = checkHold(user, call, reminded: &reminded, now: now)
                    events += holdEvents
                    if let checkin { reminders.append(checkin) }
                }
                if call.muted, let mutedSince = call.mutedSince, reminded.mute[name] != mutedSince, live.contains(name),
                    now >= mutedSince.adding(seconds: strictest(user, { $0.calls.muteRemindAfterS }) ?? 30)
                {
                    reminded.mute[name] = mutedSince
                    reminders.append(
                        Reminder(
                            user: name, about: .mute, since: mutedSince, due: now,
                            text: "You have been on mute for \(now.seconds(since: mutedSince)) s: put the customer on hold instead (music, not dead air)."))
                }
            }
            if forgotPhone(user) {
                let (phoneEvents, reminder) = checkPhone(user, reminded: &reminded, now: now)
                events += phoneEvents
                if let reminder { reminders.append(reminder) }
            }
        }
        return (events, reminders)
    }

    /// Offline in Huddle with the phone still logged in.
    func forgotPhone(_ user: UserState) -> Bool {
        user.status.status == .offline && user.phone.loggedIn == true
    }

    /// A check-in every `calls.hold_checkin_s` of the hold, and `long_hold` past
    /// `calls.hold_alert_after_s`.
    mutating func checkHold(_ user: UserState, _ call: CallRecord, reminded: inout CallReminders, now: Timestamp)
        -> ([Event], Reminder?)
    {
        let held = now.seconds(since: call.since)
        var events: [Event] = []
        let alertAfter = strictest(user, { $0.calls.holdAlertAfterS }) ?? 600
        if held >= alertAfter, user.phone.holdAlertedSince != call.since {
            for team in user.teams.sorted() {
                events.append(
                    raiseAlert(
                        team: team, kind: .longHold, severity: .warning, user: user.name,
                        text: "\(user.name) has had a customer on hold for \(Self.minutes(held))",
                        statusSince: call.since, now: now))
            }
        }
        let every = strictest(user, { $0.calls.holdCheckinS }) ?? 150
        let checkins = held / every
        guard checkins >= 1, live.contains(user.name) else { return (events, nil) }
        let due = call.since.adding(seconds: checkins * every)
        guard reminded.hold[user.name] != due else { return (events, nil) }
        reminded.hold[user.name] = due
        let reminder = Reminder(
            user: user.name, about: .hold, since: call.since, due: due,
            text: "Your customer has been on hold for \(Self.minutes(held)): check in with them.")
        return (events, reminder)
    }

    /// Past `calls.phone_logout_grace_s` of being Offline with the phone logged in: a reminder
    /// (once per due time, if connected) and `phone_still_logged_in` (once per period).
    mutating func checkPhone(_ user: UserState, reminded: inout CallReminders, now: Timestamp) -> ([Event], Reminder?) {
        let start = max(user.status.since, user.phone.loggedInSince ?? user.status.since)
        let due = start.adding(seconds: strictest(user, { $0.calls.phoneLogoutGraceS }) ?? 300)
        guard now >= due else { return ([], nil) }
        var events: [Event] = []
        if user.phone.logoutAlertedSince != start {
            for team in user.teams.sorted() {
                events.append(
                    raiseAlert(
                        team: team, kind: .phoneStillLoggedIn, severity: .warning, user: user.name,
                        text: "\(user.name) is Offline but still logged into the phone", statusSince: start, now: now))
            }
        }
        guard live.contains(user.name), reminded.phone[user.name] != due else { return (events, nil) }
        reminded.phone[user.name] = due
        let reminder = Reminder(
            user: user.name, about: .phoneLogout, since: start, due: due,
            text: "You are Offline but still logged into the phone: log out of it, or calls will still reach you.")
        return (events, reminder)
    }

    /// `2 min 30 s`, `45 s`.
    static func minutes(_ seconds: Int64) -> String {
        seconds < 60 ? "\(seconds) s" : seconds % 60 == 0 ? "\(seconds / 60) min" : "\(seconds / 60) min \(seconds % 60) s"
    }
}

import HuddleProtocol

/// One readable line per event for `huddle watch`, e.g.
/// `09:15:02 floor-a  alice  Break "be right back" (15m planned)`.
/// Every string that came from the wire passes through `TextRules.sanitizedForTerminal`.
public enum EventText {
    /// `timeOfDay` renders `at` (local time in the CLI; tests pass a fixed zone). `viewer` is the
    /// signed-in user, so that what concerns them can say "your".
    public static func line(
        _ event: EventNotification, viewer: String? = nil, timeOfDay: (Timestamp) -> String
    ) -> String {
        let time = event.at.map(timeOfDay) ?? "--:--:--"
        let (who, what) = describe(event, viewer: viewer, timeOfDay: timeOfDay)
        return "\(time) \(clean(event.team))  \(who)  \(what)"
    }

    static func describe(
        _ event: EventNotification, viewer: String?, timeOfDay: (Timestamp) -> String
    ) -> (String, String) {
        guard case .success(let known) = event.decoded else { return describeUnreadable(event) }
        switch known.payload {
        case .status(let change):
            return describeStatus(
                user: change.user, statusName: change.status.rawValue, note: change.note, since: change.since,
                until: change.expectedUntil, by: change.by)
        case let .presence(user, connected):
            return (clean(user), connected ? "connected" : "disconnected")
        case let .message(user, text):
            return (clean(user), "says: " + clean(text))
        case .queue(let report):
            var parts = ["\(report.callsWaiting) waiting", "oldest \(DurationText.short(seconds: report.oldestWaitSeconds))"]
            let nodes = report.nodesOut.map { $0.city.isEmpty ? clean($0.node) : "\(clean($0.node)) (\(clean($0.city)))" }
            if !nodes.isEmpty { parts.append("nodes out: " + nodes.joined(separator: ", ")) }
            var text = "queue: " + parts.joined(separator: ", ")
            if !report.note.isEmpty { text += " \"\(clean(report.note))\"" }
            return (clean(report.by), text)
        case let .policy(version, by, comment, _):
            var text = "policy v\(version)"
            if !comment.isEmpty { text += ": \(clean(comment))" }
            return (clean(by), text)
        case .coverage(let figures):
            return ("coverage", coverageText(figures))
        case .waitlist(let entries):
            let numbered = entries.enumerated().map { "\($0.offset + 1). \(clean($0.element.user)) (\($0.element.status.label))" }
            return ("waitlist", numbered.isEmpty ? "empty" : numbered.joined(separator: ", "))
        case let .waitlistReady(user, status, holdUntil):
            let slot = status.label.lowercased() + " slot"
            let until = " until \(timeOfDay(holdUntil))"
            if let viewer, user == viewer {
                var text = "your \(slot) is held\(until)"
                if let command = StatusNames.command(for: status) { text += "; run huddle \(command) to take it" }
                return (clean(user), text)
            }
            return (clean(user), "\(slot) held\(until)")
        case .alert(let alert):
            return ("ALERT", alertText(OpenAlert(alert)))
        case let .alertAck(id, by, note, _):
            var text = "acknowledged alert #\(id)"
            if !note.isEmpty { text += ": \(clean(note))" }
            return (clean(by), text)
        case .call(let change):
            return (clean(change.user), callText(change.call))
        case let .phone(user, loggedIn):
            return (clean(user), loggedIn ? "logged into the phone" : "logged out of the phone")
        case .notice(let status):
            let outcome =
                switch status.outcome {
                case .delivered: "delivered"
                case .retrying: "not delivered yet, retrying"
                case .givenUp: "given up"
                }
            return ("notice", "alert #\(status.alert) to \(clean(status.format)) (target \(status.target)): \(outcome)")
        case .queueReportAsked(let ask):
            return askedText(ask, team: event.team, viewer: viewer, timeOfDay: timeOfDay)
        }
    }

    /// `asked for the queue report, due by 10:35 (the one asked before did not answer)`; for the
    /// asked viewer, the command that answers.
    static func askedText(
        _ ask: QueueReportAsk, team: String, viewer: String?, timeOfDay: (Timestamp) -> String
    ) -> (String, String) {
        guard let user = ask.user else {
            return ("queue report", "nobody to ask: no agent is connected, Available and off a call")
        }
        let due = ask.dueBy.map { ", due by \(timeOfDay($0))" } ?? ""
        let why =
            switch ask.reason {
            case .due, .available: ""
            case .noAnswer: " (the one asked before did not answer)"
            case .unavailable: " (the one asked before is no longer available)"
            }
        if let viewer, user == viewer {
            return (clean(user), "you are asked for the queue report\(due)\(why); run: \(queueCommand(team: team))")
        }
        return (clean(user), "asked for the queue report\(due)\(why)")
    }

    /// The command that answers a queue-report request.
    public static func queueCommand(team: String) -> String {
        "huddle queue --team \(clean(team))"
    }

    /// `huddle watch`'s line for `queue_report_due`: what is asked, by when, and how to answer.
    public static func queueReportDueLine(_ due: QueueReportDue, timeOfDay: (Timestamp) -> String) -> String {
        "\(clean(due.team))  Queue report asked of you, due by \(timeOfDay(due.dueBy)): run \(queueCommand(team: due.team)) "
            + "(it asks for the figures), or \(queueCommand(team: due.team)) --waiting CALLS --oldest SECONDS "
            + "[--node NODE@CITY] [--note TEXT]"
    }

    /// `on a call`, `customer on hold (muted)`, `call ended`.
    public static func callText(_ call: CallRecord?) -> String {
        guard let call else { return "call ended" }
        let text =
            switch call.state {
            case .ringing: "phone ringing"
            case .talking: "on a call"
            case .onHold: "customer on hold"
            case .none: "call ended"
            }
        return call.muted ? text + " (muted)" : text
    }

    /// An event this client cannot read (a type, status or alert kind of a newer server), shown
    /// as sent where the shape is known and by its type otherwise.
    static func describeUnreadable(_ event: EventNotification) -> (String, String) {
        let p = event.params
        let user = p["user"]?.stringValue
        switch event.type {
        case "status":
            return describeStatus(
                user: user ?? "?", statusName: p["status"]?.stringValue ?? "?", note: p["note"]?.stringValue ?? "",
                since: time(p["since"]), until: time(p["expected_until"]), by: p["by"]?.stringValue ?? user ?? "?")
        case "alert":
            if let alert = OpenAlert(json: p, team: event.team) { return ("ALERT", alertText(alert)) }
        default:
            break
        }
        return (user.map(clean) ?? "-", clean(event.type))
    }

    /// `Break "be right back" (15m planned) (set by sam)`.
    static func describeStatus(
        user: String, statusName: String, note: String, since: Timestamp?, until: Timestamp?, by: String
    ) -> (String, String) {
        var text = label(statusName)
        if !note.isEmpty { text += " \"\(clean(note))\"" }
        if let since, let until { text += " (\(DurationText.short(from: since, to: until)) planned)" }
        if by != user { text += by == "system" ? " (by system)" : " (set by \(clean(by)))" }
        return (clean(user), text)
    }

    /// `2 available (2 required), 1 on break (max 1) — at risk`
    static func coverageText(_ figures: CoverageFigures) -> String {
        var text = "\(figures.available) available (\(figures.required) required)"
        text += ", \(figures.onBreak) on break (max \(figures.maxOnBreak))"
        if let from = figures.requiredFrom {
            text += " (required for \(number(from.callsPerHour)) calls/h at \(number(from.ahtSeconds))s"
            text += ", \(number(from.target * 100))% within \(from.withinSeconds)s)"
        }
        switch figures.state {
        case .atRisk: text += " — at risk"
        case .breach: text += " — BREACH"
        case .ok: break
        }
        return text
    }

    /// `wellbeing_break carol: <text> (critical, #1)`; the id is what `huddle ack` takes.
    static func alertText(_ alert: OpenAlert) -> String {
        var text = clean(alert.kind)
        if let concerned = alert.user { text += " \(clean(concerned))" }
        if !alert.text.isEmpty { text += ": \(clean(alert.text))" }
        var tags: [String] = []
        if !alert.severity.isEmpty { tags.append(clean(alert.severity)) }
        tags.append("#\(alert.id)")
        if let escalates = alert.escalates { tags.append("escalates #\(escalates)") }
        return text + " (\(tags.joined(separator: ", ")))"
    }

    /// A reminder notification (`{status, since, due, text}`) as one line.
    /// `Reminder: your Break is past its time (due 09:30:02).` Worded here for a known status; the
    /// server's text (sanitised) otherwise.
    public static func reminderLine(_ params: JSONValue, timeOfDay: (Timestamp) -> String) -> String {
        var text = "Reminder: "
        if let status = params["status"]?.stringValue.flatMap(Status.init(rawValue:)) {
            text += "your \(status.label) is past its time"
        } else if let body = params["text"]?.stringValue, !body.isEmpty {
            text += clean(body)
        } else {
            text += "your status is past its time"
        }
        if let due = time(params["due"]) { text += " (due \(timeOfDay(due)))" }
        return text
    }

    /// The label of a known status, the sanitised wire name otherwise.
    public static func label(_ statusName: String) -> String {
        Status(rawValue: statusName)?.label ?? clean(statusName)
    }

    static func clean(_ text: String) -> String {
        TextRules.sanitizedForTerminal(text)
    }

    static func time(_ value: JSONValue?) -> Timestamp? {
        value?.stringValue.flatMap { Timestamp(rfc3339: $0) }
    }

    /// `80`, `12.5`: whole numbers without a fraction.
    static func number(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
        return String(rounded)
    }
}

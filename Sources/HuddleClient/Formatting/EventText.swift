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
        let p = event.params
        let user = clean(p["user"]?.stringValue ?? "?")
        switch event.type {
        case "status":
            let statusName = p["status"]?.stringValue ?? "?"
            var text = label(statusName)
            if let note = p["note"]?.stringValue, !note.isEmpty { text += " \"\(clean(note))\"" }
            if let since = time(p["since"]), let until = time(p["expected_until"]) {
                text += " (\(DurationText.short(from: since, to: until)) planned)"
            }
            if let by = p["by"]?.stringValue, by != p["user"]?.stringValue {
                text += by == "system" ? " (by system)" : " (set by \(clean(by)))"
            }
            return (user, text)
        case "presence":
            return (user, p["connected"]?.boolValue == true ? "connected" : "disconnected")
        case "message":
            return (user, "says: " + clean(p["text"]?.stringValue ?? ""))
        case "queue":
            var parts: [String] = []
            if let waiting = p["calls_waiting"]?.intValue { parts.append("\(waiting) waiting") }
            if let oldest = p["oldest_wait_s"]?.intValue { parts.append("oldest \(DurationText.short(seconds: oldest))") }
            let nodes = (p["nodes_out"]?.arrayValue ?? []).compactMap { node -> String? in
                guard let name = node["node"]?.stringValue ?? node.stringValue else { return nil }
                if let city = node["city"]?.stringValue, !city.isEmpty { return "\(clean(name)) (\(clean(city)))" }
                return clean(name)
            }
            if !nodes.isEmpty { parts.append("nodes out: " + nodes.joined(separator: ", ")) }
            var text = "queue: " + parts.joined(separator: ", ")
            if let note = p["note"]?.stringValue, !note.isEmpty { text += " \"\(clean(note))\"" }
            return (clean(p["by"]?.stringValue ?? "queue"), text)
        case "policy":
            var text = "policy"
            if let version = p["version"]?.intValue { text += " v\(version)" }
            if let comment = p["comment"]?.stringValue, !comment.isEmpty { text += ": \(clean(comment))" }
            return (clean(p["by"]?.stringValue ?? "?"), text)
        case "coverage":
            // `2 available (2 required), 1 on break (max 1) — at risk`
            var text = "\(p["available"]?.intValue ?? 0) available (\(p["required"]?.intValue ?? 0) required)"
            text += ", \(p["on_break"]?.intValue ?? 0) on break (max \(p["max_on_break"]?.intValue ?? 0))"
            if let from = p["required_from"], let calls = from["calls_per_hour"]?.doubleValue,
                let aht = from["aht_s"]?.doubleValue
            {
                text += " (required for \(number(calls)) calls/h at \(number(aht))s"
                if let target = from["target"]?.doubleValue, let within = from["within_s"]?.intValue {
                    text += ", \(number(target * 100))% within \(within)s"
                }
                text += ")"
            }
            switch p["state"]?.stringValue {
            case "at_risk"?: text += " — at risk"
            case "breach"?: text += " — BREACH"
            default: break
            }
            return ("coverage", text)
        case "waitlist":
            let users = (p["users"]?.arrayValue ?? []).compactMap { entry -> String? in
                guard let name = entry["user"]?.stringValue else { return nil }
                var text = clean(name)
                if let status = entry["status"]?.stringValue { text += " (\(label(status)))" }
                return text
            }
            let numbered = users.enumerated().map { "\($0.offset + 1). \($0.element)" }
            return ("waitlist", numbered.isEmpty ? "empty" : numbered.joined(separator: ", "))
        case "waitlist_ready":
            let statusName = p["status"]?.stringValue ?? "?"
            let slot = label(statusName).lowercased() + " slot"
            let until = time(p["hold_until"]).map { " until \(timeOfDay($0))" } ?? ""
            if let viewer, p["user"]?.stringValue == viewer {
                var text = "your \(slot) is held\(until)"
                if let command = Status(rawValue: statusName).flatMap(StatusNames.command(for:)) {
                    text += "; run huddle \(command) to take it"
                }
                return (user, text)
            }
            return (user, "\(slot) held\(until)")
        case "alert":
            // `ALERT  wellbeing_break carol: <text> (critical, #1)`; the id is what `huddle ack` takes.
            var text = clean(p["kind"]?.stringValue ?? "?")
            if let concerned = p["user"]?.stringValue { text += " \(clean(concerned))" }
            if let body = p["text"]?.stringValue, !body.isEmpty { text += ": \(clean(body))" }
            var tags: [String] = []
            if let severity = p["severity"]?.stringValue { tags.append(clean(severity)) }
            if let id = p["alert"] { tags.append("#" + clean(scalar(id))) }
            if let escalates = p["escalates"] { tags.append("escalates #" + clean(scalar(escalates))) }
            if !tags.isEmpty { text += " (\(tags.joined(separator: ", ")))" }
            return ("ALERT", text)
        case "alert_ack":
            var text = "acknowledged alert"
            if let id = p["alert"] { text += " #\(clean(scalar(id)))" }
            if let note = p["note"]?.stringValue, !note.isEmpty { text += ": \(clean(note))" }
            return (clean(p["by"]?.stringValue ?? "?"), text)
        default:
            return (p["user"]?.stringValue != nil ? user : "-", clean(event.type))
        }
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

    static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): s
        case .int(let i): String(i)
        default: "?"
        }
    }
}

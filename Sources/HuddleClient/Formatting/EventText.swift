import HuddleProtocol

/// One readable line per event for `huddle watch`, e.g.
/// `09:15:02 floor-a  alice  Break "be right back" (15m planned)`.
/// Every string that came from the wire passes through `TextRules.sanitizedForTerminal`.
public enum EventText {
    /// `timeOfDay` renders `at` (local time in the CLI; tests pass a fixed zone).
    public static func line(_ event: EventNotification, timeOfDay: (Timestamp) -> String) -> String {
        let time = event.at.map(timeOfDay) ?? "--:--:--"
        let (who, what) = describe(event, timeOfDay: timeOfDay)
        return "\(time) \(clean(event.team))  \(who)  \(what)"
    }

    static func describe(_ event: EventNotification, timeOfDay: (Timestamp) -> String) -> (String, String) {
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
            var text = "\(p["available"]?.intValue ?? 0) available, \(p["required"]?.intValue ?? 0) required"
            text += "; \(p["on_break"]?.intValue ?? 0) on break (max \(p["max_on_break"]?.intValue ?? 0))"
            switch p["state"]?.stringValue {
            case "at_risk"?: text += ": at risk"
            case "breach"?: text += ": BREACH"
            default: break
            }
            return ("coverage", text)
        case "waitlist":
            let users = (p["users"]?.arrayValue ?? []).compactMap { entry -> String? in
                guard let name = entry["user"]?.stringValue else { return nil }
                guard let status = entry["status"]?.stringValue else { return clean(name) }
                return "\(clean(name)) (\(label(status)))"
            }
            return ("waitlist", users.isEmpty ? "empty" : users.joined(separator: ", "))
        case "waitlist_ready":
            var text = "may take \(label(p["status"]?.stringValue ?? "?")) now"
            if let until = time(p["hold_until"]) { text += " (held until \(timeOfDay(until)))" }
            return (user, text)
        case "alert":
            var text = "[\(clean(p["severity"]?.stringValue ?? "?"))] \(clean(p["kind"]?.stringValue ?? "?"))"
            if let id = p["alert"] { text += " #\(clean(scalar(id)))" }
            if let concerned = p["user"]?.stringValue { text += " \(clean(concerned))" }
            if let reason = p["reason"]?.stringValue { text += " (\(clean(reason)))" }
            if let body = p["text"]?.stringValue, !body.isEmpty { text += ": \(clean(body))" }
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
    public static func reminderLine(_ params: JSONValue, timeOfDay: (Timestamp) -> String) -> String {
        var text = "Reminder: "
        if let body = params["text"]?.stringValue, !body.isEmpty {
            text += clean(body)
        } else {
            text += "\(label(params["status"]?.stringValue ?? "?")) is past its time"
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

    static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): s
        case .int(let i): String(i)
        default: "?"
        }
    }
}

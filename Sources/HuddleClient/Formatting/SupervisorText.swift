import HuddleProtocol

/// `huddle alerts`: the open alerts of a supervisor's snapshot.
public enum AlertText {
    /// Columns ID, (TEAM,) KIND, SEVERITY, USER, AGE, TEXT, and NOTIFIED when an alert has notices
    /// (what became of them: `slack delivered, json retrying`); oldest first. Every string from
    /// the wire is sanitised.
    public static func table(_ alerts: [OpenAlert], now: Timestamp, showTeam: Bool = false) -> String {
        let notified = alerts.contains { !$0.notices.isEmpty }
        var header = ["ID", "KIND", "SEVERITY", "USER", "AGE", "TEXT"]
        if notified { header.append("NOTIFIED") }
        if showTeam { header.insert("TEAM", at: 1) }
        var rows = [header]
        for alert in alerts.sorted(by: { $0.id < $1.id }) {
            var text = clean(alert.text)
            if let escalates = alert.escalates { text += " (escalates #\(escalates))" }
            var row = [
                String(alert.id), clean(alert.kind), clean(alert.severity), alert.user.map(clean) ?? "-",
                alert.createdAt.map { DurationText.short(from: $0, to: now) } ?? "?", text,
            ]
            if notified { row.append(alert.notices.isEmpty ? "-" : clean(alert.noticeSummary)) }
            if showTeam { row.insert(clean(alert.team), at: 1) }
            rows.append(row)
        }
        return TextTable.render(rows, rightAligned: [0])
    }

    static func clean(_ text: String) -> String {
        TextRules.sanitizedForTerminal(text)
    }
}

/// `huddle waitlist`: a team's break queue, head first.
public enum WaitlistText {
    /// Columns #, USER, STATUS, WAITING, and `held until 09:31:05` while a slot is held. `clock`
    /// renders times in the viewer's zone; `viewer` is marked `(you)`.
    public static func table(
        _ places: [WaitlistPlace], now: Timestamp, viewer: String? = nil, clock: (Timestamp) -> String
    ) -> String {
        var rows: [[String]] = [["#", "USER", "STATUS", "WAITING", ""]]
        for (index, place) in places.enumerated() {
            var user = TextRules.sanitizedForTerminal(place.user)
            if place.user == viewer { user += " (you)" }
            var waiting = ""
            if let since = place.since {
                waiting = "since \(String(clock(since).prefix(5))) (\(DurationText.short(from: since, to: now)))"
            }
            rows.append([
                String(index + 1), user, TextRules.sanitizedForTerminal(place.statusLabel), waiting,
                place.holdUntil.map { "held until \(clock($0))" } ?? "",
            ])
        }
        return TextTable.render(rows, rightAligned: [0])
    }
}

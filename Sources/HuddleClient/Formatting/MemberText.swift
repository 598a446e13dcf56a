import HuddleProtocol

/// How members of a snapshot are shown: `huddle who` (a table) and `huddle status` (one line).
public enum MemberText {
    /// `12m`, or `12m/15m` when a return was planned.
    public static func elapsed(_ member: Member, now: Timestamp) -> String {
        guard let since = member.since else { return "" }
        var text = DurationText.short(from: since, to: now)
        if let until = member.expectedUntil {
            text += "/" + DurationText.short(from: since, to: until)
        }
        return text
    }

    /// Columns: connected marker, user, status, for how long, note. Sorted by user name.
    public static func table(_ members: [Member], now: Timestamp, noteWidth: Int = 48) -> String {
        var rows: [[String]] = [["", "USER", "STATUS", "FOR", "NOTE"]]
        for member in members.sorted(by: { $0.user < $1.user }) {
            rows.append([
                member.connected ? "●" : " ",
                TextRules.sanitizedForTerminal(member.user),
                TextRules.sanitizedForTerminal(member.statusLabel),
                elapsed(member, now: now),
                truncated(TextRules.sanitizedForTerminal(member.note), to: noteWidth),
            ])
        }
        var widths = [Int](repeating: 0, count: 5)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        return rows.map { row in
            var line = ""
            for (column, cell) in row.enumerated() {
                if column == row.count - 1 {
                    line += cell
                } else {
                    line += cell + String(repeating: " ", count: widths[column] - cell.count) + " "
                }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// `Break "be right back" for 12m (15m planned, back by 09:30)`; `hourMinute` renders the
    /// planned return in the viewer's time zone.
    public static func statusLine(_ member: Member, now: Timestamp, hourMinute: (Timestamp) -> String) -> String {
        var text = TextRules.sanitizedForTerminal(member.statusLabel)
        if !member.note.isEmpty { text += " \"\(TextRules.sanitizedForTerminal(member.note))\"" }
        if let since = member.since { text += " for \(DurationText.short(from: since, to: now))" }
        if let since = member.since, let until = member.expectedUntil {
            let planned = DurationText.short(from: since, to: until)
            if now < until {
                text += " (\(planned) planned, back by \(hourMinute(until)))"
            } else {
                text += " (\(planned) planned, \(DurationText.short(from: until, to: now)) over)"
            }
        }
        if !member.connected { text += ", not connected" }
        return text
    }

    static func truncated(_ text: String, to width: Int) -> String {
        guard text.count > width, width > 1 else { return text }
        return String(text.prefix(width - 1)) + "…"
    }
}

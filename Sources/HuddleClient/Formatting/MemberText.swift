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

    /// `on hold 3m`, `talking 2m (muted)`, `ringing`: the call a bridge reported, nil for none.
    public static func call(_ member: Member, now: Timestamp) -> String? {
        guard let call = member.call else { return nil }
        var text: String =
            switch call.state {
            case .ringing: "ringing"
            case .talking: "talking"
            case .onHold: "on hold"
            case .none: "call ended"
            }
        if call.state != .ringing { text += " " + DurationText.short(from: call.since, to: now) }
        if call.muted { text += " (muted)" }
        return text
    }

    /// Columns: connected marker, user, status, for how long, the call (when anyone is on
    /// one), note. Sorted by user name.
    public static func table(_ members: [Member], now: Timestamp, noteWidth: Int = 48) -> String {
        let calls = members.contains { $0.call != nil }
        var rows: [[String]] = [["", "USER", "STATUS", "FOR"] + (calls ? ["CALL"] : []) + ["NOTE"]]
        for member in members.sorted(by: { $0.user < $1.user }) {
            var row = [
                member.connected ? "●" : " ",
                TextRules.sanitizedForTerminal(member.user),
                TextRules.sanitizedForTerminal(member.statusLabel),
                elapsed(member, now: now),
            ]
            if calls { row.append(call(member, now: now) ?? "") }
            row.append(truncated(TextRules.sanitizedForTerminal(member.note), to: noteWidth))
            rows.append(row)
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
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
        if let call = call(member, now: now) { text += ", on the phone: \(call)" }
        if !member.connected { text += ", not connected" }
        return text
    }

    static func truncated(_ text: String, to width: Int) -> String {
        guard text.count > width, width > 1 else { return text }
        return String(text.prefix(width - 1)) + "…"
    }
}

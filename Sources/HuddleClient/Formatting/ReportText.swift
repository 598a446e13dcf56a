import HuddleProtocol

/// `huddle report`: the time-in-status rows as a table or as CSV.
public enum ReportText {
    /// `h:mm:ss`, e.g. `0:15:00`, `26:03:09`; negative reads as zero.
    public static func hms(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        return "\(s / 3600):" + DurationText.twoDigits(s / 60 % 60) + ":" + DurationText.twoDigits(s % 60)
    }

    /// By user, then in the order of SPEC §2 (Available first, Offline last).
    public static func sorted(_ rows: [ReportRow]) -> [ReportRow] {
        func rank(_ row: ReportRow) -> Int {
            row.status.flatMap { Status.allCases.firstIndex(of: $0) } ?? Status.allCases.count
        }
        return rows.sorted {
            if $0.user != $1.user { return $0.user < $1.user }
            if rank($0) != rank($1) { return rank($0) < rank($1) }
            return $0.statusName < $1.statusName
        }
    }

    /// Columns USER, STATUS, TIME, COUNT, OVERRUNS; numbers right-aligned.
    public static func table(_ rows: [ReportRow]) -> String {
        var cells: [[String]] = [["USER", "STATUS", "TIME", "COUNT", "OVERRUNS"]]
        for row in sorted(rows) {
            cells.append([
                TextRules.sanitizedForTerminal(row.user), TextRules.sanitizedForTerminal(row.statusLabel),
                hms(row.seconds), String(row.count), String(row.overruns),
            ])
        }
        return TextTable.render(cells, rightAligned: [2, 3, 4])
    }

    /// `user,status,seconds,count,overruns` and one line per row (wire status names, RFC 4180
    /// quoting), lines joined by `\n`.
    public static func csv(_ rows: [ReportRow]) -> String {
        var lines = ["user,status,seconds,count,overruns"]
        for row in sorted(rows) {
            lines.append(
                [csvField(row.user), csvField(row.statusName), String(row.seconds), String(row.count), String(row.overruns)]
                    .joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    /// `report.calls` rows: USER, CALLS, TALK, HOLD, LONGEST HOLD, HOLDS PAST CHECK-IN.
    public static func callsTable(_ rows: [JSONValue]) -> String {
        var cells: [[String]] = [["USER", "CALLS", "TALK", "HOLD", "LONGEST HOLD", "HOLDS PAST CHECK-IN"]]
        for row in rows {
            func number(_ key: String) -> Int64 { row[key]?.intValue ?? 0 }
            cells.append([
                TextRules.sanitizedForTerminal(row["user"]?.stringValue ?? "?"), String(number("calls")),
                hms(number("talk_s")), hms(number("hold_s")), hms(number("longest_hold_s")),
                String(number("holds_over_checkin")),
            ])
        }
        return TextTable.render(cells, rightAligned: [1, 2, 3, 4, 5])
    }

    /// `user,calls,talk_s,hold_s,longest_hold_s,holds_over_checkin` and a line per row.
    public static func callsCSV(_ rows: [JSONValue]) -> String {
        let keys = ["calls", "talk_s", "hold_s", "longest_hold_s", "holds_over_checkin"]
        var lines = ["user," + keys.joined(separator: ",")]
        for row in rows {
            lines.append(
                ([csvField(row["user"]?.stringValue ?? "")] + keys.map { String(row[$0]?.intValue ?? 0) })
                    .joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    /// Sanitised for the terminal, then quoted when it holds a comma, a quote or a space at either end.
    static func csvField(_ text: String) -> String {
        let clean = TextRules.sanitizedForTerminal(text)
        guard clean.contains(where: { $0 == "," || $0 == "\"" }) || clean.hasPrefix(" ") || clean.hasSuffix(" ") else {
            return clean
        }
        return "\"" + clean.replacing("\"", with: "\"\"") + "\""
    }
}

/// The times `huddle report --from/--to` takes.
///
/// - RFC 3339 (`2026-11-23T09:00:00Z`, `2026-11-23T10:00:00+01:00`): that instant.
/// - A date (`2026-11-23`), `today`, `yesterday`: a whole day from midnight to midnight in the
///   local time zone (the `offset` function), so `--from` takes its start and `--to` its end:
///   `--from 2026-11-23 --to 2026-11-23` is that one day, `--from yesterday --to yesterday` all of
///   yesterday, `--from today` today so far.
/// - `now`.
public enum ReportTime {
    public enum Edge: Sendable {
        case start
        case end
    }

    /// `offset(t)` is the local zone's offset from UTC in seconds at `t`.
    public static func parse(_ text: String, edge: Edge, now: Timestamp, offset: (Timestamp) -> Int) -> Timestamp? {
        switch text.lowercased() {
        case "now":
            return now
        case "today":
            return day(localDate(of: now, offset: offset), edge: edge, offset: offset)
        case "yesterday":
            let today = localDate(of: now, offset: offset)
            return day(shift(today, days: -1), edge: edge, offset: offset)
        default:
            break
        }
        if let instant = Timestamp(rfc3339: text) { return instant }
        guard isDate(text) else { return nil }
        return day(text, edge: edge, offset: offset)
    }

    /// `YYYY-MM-DD` that names a real day.
    static func isDate(_ text: String) -> Bool {
        guard text.utf8.count == 10, let midnight = Timestamp(rfc3339: text + "T00:00:00Z") else { return false }
        return midnight.rfc3339.hasPrefix(text)
    }

    static func localDate(of time: Timestamp, offset: (Timestamp) -> Int) -> String {
        String(time.adding(seconds: Int64(offset(time))).rfc3339.prefix(10))
    }

    /// The date `days` after `date` (UTC arithmetic on the calendar date alone).
    static func shift(_ date: String, days: Int64) -> String {
        let midnight = Timestamp(rfc3339: date + "T00:00:00Z") ?? Timestamp(milliseconds: 0)
        return String(midnight.adding(seconds: days * 86400).rfc3339.prefix(10))
    }

    /// Local midnight at the start (or, for `.end`, the end) of `date`.
    static func day(_ date: String, edge: Edge, offset: (Timestamp) -> Int) -> Timestamp? {
        let name = edge == .start ? date : shift(date, days: 1)
        guard let utcMidnight = Timestamp(rfc3339: name + "T00:00:00Z") else { return nil }
        // The offset at local midnight, found in two steps so a daylight-saving change that day
        // still lands on the right hour.
        let guess = utcMidnight.adding(seconds: -Int64(offset(utcMidnight)))
        return utcMidnight.adding(seconds: -Int64(offset(guess)))
    }
}

import HuddleProtocol

/// Draws a `BoardState` into exactly `height` lines of at most `width` columns: a header, a
/// connection banner while it matters, the open alerts (supervisors), then per team its coverage,
/// queue, members, waitlist and latest message; a notice and the key footer at the bottom. Pure:
/// the time and the way clock times are written are given.
public struct BoardRenderer {
    public var width: Int
    public var height: Int
    public var now: Timestamp
    /// `HH:MM:SS` in the viewer's zone (tests pass UTC).
    public var timeOfDay: (Timestamp) -> String

    /// Alerts listed at most; the digits select among these.
    public static let maxAlertRows = 9

    public init(width: Int, height: Int, now: Timestamp, timeOfDay: @escaping (Timestamp) -> String) {
        self.width = max(0, width)
        self.height = max(0, height)
        self.now = now
        self.timeOfDay = timeOfDay
    }

    public static func render(
        _ state: BoardState, width: Int, height: Int, now: Timestamp, timeOfDay: @escaping (Timestamp) -> String
    ) -> [BoardLine] {
        BoardRenderer(width: width, height: height, now: now, timeOfDay: timeOfDay).lines(state)
    }

    public func lines(_ state: BoardState) -> [BoardLine] {
        guard height > 0 else { return [] }
        var top: [BoardLine] = [header(state)]
        var bottom: [BoardLine] = []
        if height > 1 { bottom.append(footer(state)) }
        if height > 2, let flash = state.shownFlash(at: now) {
            bottom.insert(BoardLine(" " + flash.text, Self.style(flash.tone)), at: 0)
        }
        let room = height - top.count - bottom.count
        let body = self.body(state)
        if body.count <= room {
            top += body
            top += Array(repeating: BoardLine(), count: room - body.count)
        } else if room > 0 {
            top += body.prefix(room - 1)
            let hidden = body.count - (room - 1)
            top.append(BoardLine("… \(hidden) more line\(hidden == 1 ? "" : "s"): make the window taller", .dim))
        }
        return (top + bottom).map { $0.fitted(to: width) }
    }

    // MARK: - Header and footer

    func header(_ state: BoardState) -> BoardLine {
        var left = " Huddle board"
        if let viewer = state.viewer {
            left += "  \(clean(viewer))"
            if let role = state.roleName { left += " (\(clean(role)))" }
        }
        if !state.teamNames.isEmpty { left += "  " + state.teamNames.map(clean).joined(separator: ", ") }
        let right: String
        switch state.shownLink(at: now) {
        case .connecting: right = "connecting…"
        case .live: right = "● live"
        case .disconnected: right = "disconnected — reconnecting…"
        case .reconnected: right = "● reconnected"
        }
        let clock = " " + timeOfDay(now) + " "
        let rightText = right + " " + clock
        let leftRoom = width - TerminalWidth.of(rightText) - 1
        var line = BoardLine()
        if leftRoom >= 10 {
            line.append(BoardLine(left, BoardStyle.inverse.with(bold: true)).padded(to: leftRoom, .inverse))
            line.append(" ", .inverse)
            line.append(rightText, .inverse)
        } else {
            line = BoardLine(left, BoardStyle.inverse.with(bold: true)).padded(to: width, .inverse)
        }
        return line.padded(to: width, .inverse)
    }

    func footer(_ state: BoardState) -> BoardLine {
        if case .note(let alert, let text) = state.input {
            var line = BoardLine(" Note for #\(alert): ", .bold)
            line.append(text)
            line.append("▏", .bold)
            line.append("  Enter acknowledges · Esc cancels", .dim)
            return line
        }
        let keys = state.seesAlerts ? BoardState.supervisorKeys : BoardState.agentKeys
        return BoardLine(" " + keys, .inverse).padded(to: width, .inverse)
    }

    // MARK: - Body

    func body(_ state: BoardState) -> [BoardLine] {
        var lines: [BoardLine] = []
        if let banner = banner(state) { lines.append(banner) }
        if state.seesAlerts {
            lines.append("")
            lines += alerts(state)
        }
        for name in state.teamNames {
            guard let team = state.teams[name] else { continue }
            lines.append("")
            lines += teamLines(team, in: state)
        }
        if state.teamNames.isEmpty, case .connecting = state.link {
            lines.append("")
            lines.append(BoardLine(" Signing in and joining your teams…", .dim))
        }
        return lines
    }

    func banner(_ state: BoardState) -> BoardLine? {
        switch state.shownLink(at: now) {
        case .disconnected(let reason, let since):
            return BoardLine(
                " disconnected — reconnecting… (since \(timeOfDay(since)): \(clean(reason))); what you see may be out of date",
                BoardStyle.red.with(bold: true))
        case .reconnected(let at, let recovered):
            let detail: String
            if !recovered {
                detail = "what was missed could not be replayed; showing a fresh snapshot"
            } else if state.caughtUp == 0 {
                detail = "nothing was missed"
            } else {
                detail = "caught up on \(state.caughtUp) missed event\(state.caughtUp == 1 ? "" : "s")"
            }
            return BoardLine(" reconnected at \(timeOfDay(at)): \(detail)", BoardStyle.green.with(bold: true))
        case .connecting, .live:
            if state.lostEvents {
                return BoardLine(" some events were lost on the way; restart the board to be sure", BoardStyle.red.with(bold: true))
            }
            return nil
        }
    }

    func alerts(_ state: BoardState) -> [BoardLine] {
        let open = state.openAlerts
        guard !open.isEmpty else { return [BoardLine([BoardSpan(" ALERTS", .bold), BoardSpan("  none open", .dim)])] }
        let worst: BoardStyle =
            open.contains { $0.severity == "critical" } ? .red : open.contains { $0.severity == "warning" } ? .amber : .plain
        var lines = [BoardLine([BoardSpan(" ALERTS", worst.with(bold: true)), BoardSpan("  \(open.count) open")])]
        let selected = state.selectedAlertID
        let showTeam = state.teamNames.count > 1
        let shown = Array(open.prefix(Self.maxAlertRows))
        let kindWidth = shown.map { TerminalWidth.of(clean($0.kind)) }.max() ?? 0
        let userWidth = shown.map { TerminalWidth.of(clean($0.user ?? "-")) }.max() ?? 0
        for (index, alert) in shown.enumerated() {
            let isSelected = alert.id == selected
            let base: BoardStyle = isSelected ? .bold : .plain
            var line = BoardLine(isSelected ? " ▶ " : "   ", base)
            line.append("\(index + 1)  ", base)
            line.append(pad("#\(alert.id)", 5), base)
            line.append(pad(clean(alert.severity), 10), Self.severityStyle(alert.severity).with(bold: isSelected))
            if showTeam { line.append(pad(clean(alert.team), 12), base) }
            line.append(pad(clean(alert.kind), kindWidth + 2), base)
            line.append(pad(clean(alert.user ?? "-"), userWidth + 2), base)
            line.append(pad(alert.createdAt.map { DurationText.short(from: $0, to: now) } ?? "?", 7), .dim)
            var text = clean(alert.text)
            if let escalates = alert.escalates { text += " (escalates #\(escalates))" }
            line.append(text, base)
            // Whether the chat or webhook got it (SPEC §12): a failing one stands out.
            if !alert.notices.isEmpty {
                let failing = alert.notices.contains { $0.outcome != .delivered }
                line.append("  [\(clean(alert.noticeSummary))]", failing ? Self.severityStyle("warning") : .dim)
            }
            lines.append(line)
        }
        if open.count > shown.count {
            lines.append(BoardLine("   … and \(open.count - shown.count) more", .dim))
        }
        return lines
    }

    func teamLines(_ team: TeamBoard, in state: BoardState) -> [BoardLine] {
        var lines: [BoardLine] = []
        let title = " " + clean(team.name) + " "
        var titleLine = BoardLine("──", .dim)
        titleLine.append(title, .bold)
        titleLine.append(String(repeating: "─", count: max(0, width - 2 - TerminalWidth.of(title))), .dim)
        lines.append(titleLine)
        lines += coverageLines(team.coverage)
        lines += queueLines(team.queue)
        if let request = team.reportRequest { lines.append(reportRequestLine(request)) }
        lines += memberLines(team, in: state)
        lines += waitlistLines(team)
        if let message = team.lastMessage {
            var line = BoardLine(" Message   ", .bold)
            line.append(clean(message.user), .bold)
            if let at = message.at { line.append(" \(String(timeOfDay(at).prefix(5)))", .dim) }
            line.append("  " + clean(message.text))
            lines.append(line)
        }
        return lines
    }

    func coverageLines(_ coverage: BoardCoverage?) -> [BoardLine] {
        guard let coverage else { return [BoardLine([BoardSpan(" Coverage  ", .bold), BoardSpan("unknown", .dim)])] }
        let figures = coverage.figures
        let style: BoardStyle
        let word: String
        switch coverage.state {
        case .ok: (style, word) = (.green, "OK")
        case .atRisk: (style, word) = (.amber, "AT RISK")
        case .breach: (style, word) = (.red, "BREACH")
        }
        var line = BoardLine(" Coverage  ", .bold)
        line.append("\(figures.available) available / \(figures.required) required", style.with(bold: true))
        line.append("  ")
        line.append(word, style.with(bold: true, inverse: coverage.state == .breach))
        line.append("   on break \(figures.onBreak) of max \(figures.maxOnBreak)")
        var lines = [line]
        if let from = figures.requiredFrom {
            lines.append(
                BoardLine(
                    "           required by Erlang C: \(EventText.number(from.callsPerHour)) calls/h, AHT "
                        + "\(EventText.number(from.ahtSeconds))s, \(EventText.number(from.target * 100))% answered "
                        + "within \(from.withinSeconds)s", .dim))
        }
        return lines
    }

    func queueLines(_ queue: QueueReport?) -> [BoardLine] {
        guard let queue else { return [BoardLine([BoardSpan(" Queue     ", .bold), BoardSpan("no report yet", .dim)])] }
        var line = BoardLine(" Queue     ", .bold)
        let busy: BoardStyle = queue.pressure ? BoardStyle.amber.with(bold: true) : .plain
        line.append("\(queue.callsWaiting) waiting", busy)
        line.append(" · oldest ")
        line.append(DurationText.short(seconds: queue.oldestWaitSeconds), busy)
        if let calls = queue.callsPerHour { line.append(" · \(EventText.number(calls)) calls/h") }
        if let aht = queue.ahtSeconds { line.append(" · AHT \(EventText.number(aht))s") }
        if queue.pressure { line.append("  QUEUE PRESSURE", BoardStyle.amber.with(bold: true, inverse: true)) }
        if queue.nodeOutage { line.append("  NODE OUTAGE", BoardStyle.red.with(bold: true, inverse: true)) }
        line.append("  (\(DurationText.short(from: queue.at, to: now)) ago, by \(clean(queue.by)))", .dim)
        if !queue.note.isEmpty { line.append("  \"\(clean(queue.note))\"") }
        var lines = [line]
        if !queue.nodesOut.isEmpty {
            var nodes = BoardLine("           nodes out: ", .red)
            nodes.append(
                queue.nodesOut.map { "\(clean($0.node)) (\(clean($0.city)))" }.joined(separator: ", "),
                BoardStyle.red.with(bold: true))
            lines.append(nodes)
        }
        return lines
    }

    /// `           report asked of bob 2m ago, due in 3m` (SPEC §14): who the daemon asked for
    /// the queue report, and whether it is late.
    func reportRequestLine(_ request: QueueReportRequest) -> BoardLine {
        var line = BoardLine("           ")
        guard let asked = request.asked else {
            line.append("report: nobody to ask (no agent Available); a supervisor can send it", BoardStyle.amber.with(bold: true))
            return line
        }
        line.append("report asked of ", .dim)
        line.append(clean(asked), .bold)
        line.append(" \(DurationText.short(from: request.askedAt, to: now)) ago", .dim)
        if let due = request.dueBy {
            if due <= now {
                line.append("  LATE by \(DurationText.short(from: due, to: now))", BoardStyle.amber.with(bold: true))
            } else {
                line.append(", due in \(DurationText.short(from: now, to: due))", .dim)
            }
        }
        return line
    }

    func memberLines(_ team: TeamBoard, in state: BoardState) -> [BoardLine] {
        let viewer = state.viewer
        guard !team.members.isEmpty else { return [BoardLine("   nobody on the floor", .dim)] }
        struct Row {
            var member: Member
            var user: String
            var status: String
            var time: String
            var over: Bool
        }
        let rows = team.members.map { member -> Row in
            var user = clean(member.user)
            if member.role == Role.supervisor.rawValue { user += " (sup)" }
            var time = ""
            var over = false
            if let since = member.since {
                time = DurationText.short(from: since, to: now)
                if let due = state.due(member) {
                    time += "/" + DurationText.short(from: since, to: due)
                    over = now > due
                }
            }
            return Row(member: member, user: user, status: clean(member.statusLabel), time: time, over: over)
        }
        let userWidth = min(24, max(4, rows.map { TerminalWidth.of($0.user) }.max() ?? 0))
        let statusWidth = min(18, max(6, rows.map { TerminalWidth.of($0.status) }.max() ?? 0))
        let timeWidth = max(4, rows.map { TerminalWidth.of($0.time) }.max() ?? 0)
        var lines = [
            BoardLine(
                "   " + pad("USER", userWidth + 2) + pad("STATUS", statusWidth + 2) + pad("TIME", timeWidth + 2) + "NOTE",
                .dim)
        ]
        for row in rows {
            let member = row.member
            let away = !member.connected && member.status == .offline
            let base: BoardStyle = away ? .dim : .plain
            var line = BoardLine(" ")
            line.append(member.connected ? "●" : "○", member.connected ? .green : .dim)
            line.append(" ")
            line.append(pad(row.user, userWidth + 2), member.user == viewer ? base.with(bold: true) : base)
            let statusStyle: BoardStyle = member.status == .available ? .green : base
            line.append(pad(row.status, statusWidth + 2), statusStyle)
            line.append(pad(row.time, timeWidth + 2), row.over ? BoardStyle.red.with(bold: true) : base)
            if let call = MemberText.call(member, now: now) {
                line.append("☎ \(call)  ", member.call?.state == .onHold ? BoardStyle.amber.with(bold: true) : .plain)
            }
            line.append(clean(member.note), base)
            lines.append(line)
        }
        return lines
    }

    func waitlistLines(_ team: TeamBoard) -> [BoardLine] {
        guard !team.waitlist.isEmpty else { return [BoardLine([BoardSpan(" Waitlist  ", .bold), BoardSpan("empty", .dim)])] }
        var lines = [BoardLine(" Waitlist  ", .bold)]
        for (index, place) in team.waitlist.enumerated() {
            var line = BoardLine("   \(index + 1). ")
            line.append(clean(place.user), .bold)
            line.append("  " + clean(place.statusLabel))
            if let since = place.since { line.append("  waiting \(DurationText.short(from: since, to: now))", .dim) }
            if let hold = place.holdUntil {
                if now < hold {
                    line.append(
                        "  slot held until \(timeOfDay(hold)) (\(DurationText.short(from: now, to: hold)) left)",
                        BoardStyle.green.with(bold: true))
                } else {
                    line.append("  hold expired", .amber)
                }
            }
            lines.append(line)
        }
        return lines
    }

    // MARK: - Helpers

    static func style(_ tone: BoardState.Tone) -> BoardStyle {
        switch tone {
        case .info: .plain
        case .good: BoardStyle.green.with(bold: true)
        case .warning: BoardStyle.amber.with(bold: true)
        case .bad: BoardStyle.red.with(bold: true)
        }
    }

    static func severityStyle(_ severity: String) -> BoardStyle {
        switch severity {
        case "critical": .red
        case "warning": .amber
        default: .plain
        }
    }

    /// `text` followed by spaces up to `columns` (at least one space after it).
    func pad(_ text: String, _ columns: Int) -> String {
        let missing = max(1, columns - TerminalWidth.of(text))
        return text + String(repeating: " ", count: missing)
    }

    func clean(_ text: String) -> String {
        TextRules.sanitizedForTerminal(text)
    }
}

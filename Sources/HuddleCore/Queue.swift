import HuddleProtocol

/// Queue reports (SPEC §3): pressure and node outages with hysteresis, and the alerts they raise
/// and clear. A cleared alert is acknowledged by `system`, so supervisors see it end.
extension Floor {
    /// Pressure rises at either threshold and clears only when both figures fall below 80% of
    /// theirs, so a queue hovering around a threshold does not flap.
    public static func pressure(after report: QueueReport, was: Bool, policy: Policy) -> Bool {
        let waiting = Double(report.callsWaiting)
        let oldest = Double(report.oldestWaitSeconds)
        let cw = Double(policy.queuePressureCallsWaiting)
        let ow = Double(policy.queuePressureOldestWaitS)
        if was { return !(waiting < 0.8 * cw && oldest < 0.8 * ow) }
        return waiting >= cw || oldest >= ow
    }

    /// `queue.report` from a bot or supervisor of the team, or from an agent asked for it
    /// (`checkReporter`, SPEC §14).
    public mutating func reportQueue(_ report: QueueReport, team teamName: String, now: Timestamp) throws(RPCError)
        -> [Event]
    {
        let user = try user(report.by)
        let team = try requireMember(report.by, of: teamName)
        try checkReporter(user, of: team)
        var report = report
        report.pressure = Self.pressure(after: report, was: team.queuePressure, policy: team.policy)
        report.nodeOutage = !report.nodesOut.isEmpty
        var events = [emit(team: teamName, .queue(report), at: now)]
        if report.pressure && !team.queuePressure {
            events.append(
                raiseAlert(
                    team: teamName, kind: .queuePressure, severity: .warning,
                    text: "queue under pressure: \(report.callsWaiting) waiting, oldest \(report.oldestWaitSeconds) s; breaks and lunches are on hold",
                    now: now))
        } else if !report.pressure && team.queuePressure {
            events += clearAlerts(.queuePressure, in: teamName, note: "the queue recovered", now: now)
        }
        if report.nodeOutage && !team.nodeOutage {
            let nodes = report.nodesOut.map { "\($0.node) (\($0.city))" }.joined(separator: ", ")
            events.append(
                raiseAlert(
                    team: teamName, kind: .nodeOutage, severity: .critical,
                    text: "network nodes out: \(nodes); time off the phones is frozen", now: now))
        } else if !report.nodeOutage && team.nodeOutage {
            events += clearAlerts(.nodeOutage, in: teamName, note: "every node is back", now: now)
        }
        events += clearAlerts(.queueReportMissing, in: teamName, note: "a report came in", now: now)
        return events
    }

    /// Acknowledges, as `system`, the open alerts of a kind that no longer hold.
    mutating func clearAlerts(_ kind: Alert.Kind, in teamName: String, note: String, now: Timestamp) -> [Event] {
        let open = teams[teamName]?.openAlerts.values.filter { $0.kind == kind }.sorted { $0.id < $1.id } ?? []
        return open.map { emit(team: teamName, .alertAck(alert: $0.id, by: "system", note: note, at: now), at: now) }
    }

    /// `queue_report_missing` when a team expects reports from bots every `queue_report_every_s`
    /// and none came for 1.5 times that (when agents report, the rota raises it: `checkRota`).
    mutating func checkMissingReports(now: Timestamp) -> [Event] {
        var events: [Event] = []
        for name in teams.keys.sorted() {
            guard let team = teams[name], team.policy.queueReportBy == .bots, let every = team.policy.queueReportEveryS
            else { continue }
            let last = max(team.queue?.at ?? Timestamp(milliseconds: 0), team.policySince ?? Timestamp(milliseconds: 0))
            guard now.milliseconds - last.milliseconds >= every * 1500,
                (team.missingReportRaisedAt.map { $0 < last } ?? true)
            else { continue }
            events.append(
                raiseAlert(
                    team: name, kind: .queueReportMissing, severity: .warning,
                    text: "no queue report for \((now.milliseconds - last.milliseconds) / 1000) s (expected every \(every) s)",
                    now: now))
        }
        return events
    }
}

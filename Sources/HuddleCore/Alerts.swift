import HuddleProtocol

/// Alerts (SPEC §4): raised by the rules and timers, stored, shown to supervisors and admins
/// only, acknowledged by a supervisor of the team.
extension Floor {
    mutating func raiseAlert(
        team: String, kind: Alert.Kind, severity: Alert.Severity, user: String? = nil, reason: StatusReason? = nil,
        text: String, statusSince: Timestamp? = nil, escalates: Int64? = nil, now: Timestamp
    ) -> Event {
        let alert = Alert(
            id: lastAlertID + 1, kind: kind, severity: severity, team: team, user: user, reason: reason, text: text,
            createdAt: now, statusSince: statusSince, escalates: escalates)
        return emit(team: team, .alert(alert), at: now)
    }

    /// `alert.ack`: a supervisor of the alert's team (or an admin) acknowledges it with a note.
    public mutating func acknowledgeAlert(_ id: Int64, by name: String, note: String, now: Timestamp) throws(RPCError)
        -> [Event]
    {
        let user = try user(name)
        guard user.role == .supervisor || user.role == .admin else {
            throw .forbidden("only supervisors acknowledge alerts")
        }
        guard let team = teams.values.first(where: { $0.openAlerts[id] != nil }) else {
            throw RPCError(.unknownEntity, "no open alert \(id)", data: ["alert": .int(id)])
        }
        guard user.role == .admin || team.members.contains(name) else {
            throw .forbidden("alert \(id) belongs to \(team.name), which is not \(name)'s team")
        }
        let note = try TextRules.check(note, param: "note", maxScalars: TextRules.maxNoteScalars, allowEmpty: true)
        var events = [emit(team: team.name, .alertAck(alert: id, by: name, note: note, at: now), at: now)]
        // Answering a wellbeing alert also answers its escalation.
        for escalation in team.openAlerts.values.filter({ $0.escalates == id }).sorted(by: { $0.id < $1.id }) {
            events.append(
                emit(team: team.name, .alertAck(alert: escalation.id, by: name, note: "alert \(id) acknowledged", at: now), at: now))
        }
        return events
    }
}

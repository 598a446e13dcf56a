import HuddleProtocol

extension Floor {
    /// The floor's members as a snapshot shows them: agents and supervisors, sorted by name, each
    /// with their call (or null). Only supervisors and admins see why someone is on a wellbeing
    /// break, and whether their phone is logged in (null until a bridge has said).
    public func members(of teamName: String, viewer: Role, viewerName: String? = nil) -> [JSONValue] {
        guard let team = teams[teamName] else { return [] }
        return team.members.sorted().compactMap { name -> JSONValue? in
            guard let user = users[name], user.role.hasStatus else { return nil }
            var member: [String: JSONValue] = [
                "user": .string(name), "role": .string(user.role.rawValue), "status": .string(user.status.status.rawValue),
                "note": .string(user.status.note), "since": user.status.since.json,
                "connected": .bool(team.announcedConnected.contains(name)),
            ]
            if let until = user.status.expectedUntil { member["expected_until"] = until.json }
            member["call"] = user.phone.call?.json ?? .null
            if viewer.seesSupervisorStream { member["phone_logged_in"] = user.phone.loggedIn.map(JSONValue.bool) ?? .null }
            if viewer.seesSupervisorStream || name == viewerName, let reason = user.status.reason {
                member["reason"] = .string(reason.rawValue)
            }
            return .object(member)
        }
    }

    /// The `snapshot` of `team.join`, as seen by `viewer`.
    public func snapshot(of teamName: String, viewer: Role, viewerName: String? = nil) -> JSONValue {
        guard let team = teams[teamName] else { return .null }
        var snapshot: [String: JSONValue] = [
            "members": .array(members(of: teamName, viewer: viewer, viewerName: viewerName)),
            "policy": team.policy.json,
            "queue": team.queue?.json ?? .null,
            "coverage": coverage(of: teamName)?.json ?? .null,
            "waitlist": .array(team.waitlist.map(\.snapshotJSON)),
        ]
        if viewer.seesSupervisorStream {
            snapshot["alerts"] = .array(team.openAlerts.values.sorted { $0.id < $1.id }.map(\.snapshotJSON))
        }
        // The open queue-report request (SPEC §14), while there is one: for supervisors, and for
        // the agent it is asked of (who reconnects and still sees it).
        if let request = team.rota.request, viewer.seesSupervisorStream || (viewerName != nil && request.asked == viewerName) {
            snapshot["queue_report_request"] = request.json
        }
        return .object(snapshot)
    }
}

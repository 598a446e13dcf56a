/// The statuses of SPEC §2, by their wire names.
public enum Status: String, Sendable, CaseIterable, Codable {
    case available
    case afterCallWork = "after_call_work"
    case onBreak = "break"
    case lunch
    case meeting
    case training
    case admin
    case offline

    public var label: String {
        switch self {
        case .available: "Available"
        case .afterCallWork: "After Call Work"
        case .onBreak: "Break"
        case .lunch: "Lunch"
        case .meeting: "Meeting"
        case .training: "Catalog Training"
        case .admin: "Admin"
        case .offline: "Offline"
        }
    }

    /// The default limit in seconds, for the six statuses that have one.
    public var defaultLimitSeconds: Int64? {
        switch self {
        case .available, .offline: nil
        case .afterCallWork: 120
        case .onBreak: 15 * 60
        case .lunch: 60 * 60
        case .meeting: 60 * 60
        case .training: 120 * 60
        case .admin: 30 * 60
        }
    }

    public static let limited: [Status] = allCases.filter { $0.defaultLimitSeconds != nil }

    /// When a period in this status is due to end (PROTOCOL §12): the planned return, else its
    /// start plus the smallest of `limits` (this status's limit in each team the person is in:
    /// status is per person, so the strictest team's holds), else the default limit. Nil for a
    /// status without a limit. The server's reminders and overdue alerts and the board's
    /// overdue mark all read it here.
    public func due(since: Timestamp, expectedUntil: Timestamp?, limits: [Int64]) -> Timestamp? {
        if let expectedUntil { return expectedUntil }
        return (limits.min() ?? defaultLimitSeconds).map { since.adding(seconds: $0) }
    }
}

/// Why a status was set, when the agent says so. Only supervisors ever see it.
public enum StatusReason: String, Sendable, Codable {
    case abusiveCall = "abusive_call"
}

/// Roles of SPEC §1.
public enum Role: String, Sendable, CaseIterable, Codable {
    case agent
    case supervisor
    case bot
    case admin

    /// Supervisors and admins read the supervisors' stream.
    public var seesSupervisorStream: Bool { self == .supervisor || self == .admin }

    /// Agents and supervisors are members of the floor and have a status.
    public var hasStatus: Bool { self == .agent || self == .supervisor }
}

import HuddleProtocol

/// How statuses are named on the command line.
public enum StatusNames {
    /// A status as a person types it: the wire name (`after_call_work`), its label in any case
    /// (`Catalog Training`), the CLI command (`acw`, `back`) or with dashes for underscores.
    public static func parse(_ text: String) -> Status? {
        let word = text.trimmingSpaces().lowercased()
        if let status = Status(rawValue: word.replacingDashes()) { return status }
        for status in Status.allCases {
            if status.label.lowercased() == word || command(for: status) == word { return status }
        }
        switch word {
        case "after call work", "aftercallwork": return .afterCallWork
        case "on_break", "on-break": return .onBreak
        default: return nil
        }
    }

    /// The `huddle` subcommand that asks for `status`.
    public static func command(for status: Status) -> String? {
        switch status {
        case .available: "back"
        case .afterCallWork: "acw"
        case .onBreak: "break"
        case .lunch: "lunch"
        case .meeting: "meeting"
        case .training: "training"
        case .admin: "admin"
        case .offline: "offline"
        }
    }

    /// What one queues for: `a break`, `lunch`, `a meeting`, `training`, `admin time`.
    public static func request(for status: Status) -> String {
        switch status {
        case .onBreak: "a break"
        case .lunch: "lunch"
        case .meeting: "a meeting"
        case .training: "training"
        case .admin: "admin time"
        case .available, .afterCallWork, .offline: status.label
        }
    }

    /// The names `parse` understands, for help and error messages.
    public static var choices: String {
        Status.allCases.map(\.rawValue).joined(separator: ", ")
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " { scalars.removeLast() }
        return String(scalars)
    }

    fileprivate func replacingDashes() -> String {
        String(map { $0 == "-" ? "_" : $0 })
    }
}

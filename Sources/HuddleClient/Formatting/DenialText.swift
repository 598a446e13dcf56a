import HuddleProtocol

/// One sentence explaining a -32010 denial from its figures, e.g.
/// `Break not granted: 2 agents must stay Available and only 2 are. Queue with --queue.`
public enum DenialText {
    public static func sentence(for status: Status, _ denial: CoverageDenial, queueHint: Bool = true) -> String {
        let head = "\(status.label) not granted"
        var text: String
        switch denial.rule {
        case "min_available":
            let required = denial.required ?? 0
            let available = denial.available ?? 0
            if available > required {
                // The figures do not count slots held for the waitlist; only they can explain this.
                text = "\(head): \(agents(required)) must stay Available; \(available) \(verb(available)) now, "
                    + "but slots held for the waitlist would leave too few."
            } else {
                text = "\(head): \(agents(required)) must stay Available and only \(available) \(verb(available))."
            }
        case "max_on_break":
            let onBreak = denial.onBreak ?? 0
            let most = denial.maxOnBreak ?? 0
            let away = status == .lunch ? "on break or at lunch" : "on break"
            if onBreak < most {
                text = "\(head): only \(most) may be \(away) at once; \(onBreak) \(verb(onBreak)) now "
                    + "and slots are held for the waitlist."
            } else {
                text = "\(head): only \(most) may be \(away) at once and \(onBreak) \(verb(onBreak))."
            }
        case "queue_pressure":
            var figures: [String] = []
            if let waiting = denial.callsWaiting { figures.append("\(waiting) waiting") }
            if let oldest = denial.oldestWaitSeconds { figures.append("oldest \(DurationText.short(seconds: oldest))") }
            text = "\(head): the queue is under pressure" + (figures.isEmpty ? "" : " (\(figures.joined(separator: ", ")))") + "."
        case "node_outage":
            // Cities say more on the floor than node names; a node without one is named.
            let places = denial.nodesOut.map { node in
                TextRules.sanitizedForTerminal(node.city.flatMap { $0.isEmpty ? nil : $0 } ?? node.node)
            }
            var unique: [String] = []
            for place in places where !unique.contains(place) { unique.append(place) }
            let which =
                denial.nodesOut.count > 1 ? "\(denial.nodesOut.count) network nodes are out" : "a network node is out"
            let frozen =
                switch status {
                case .onBreak: "breaks are frozen"
                case .lunch: "lunches are frozen"
                default: "time off the phones is frozen"
                }
            text = "\(head): \(which)" + (unique.isEmpty ? "" : " (\(unique.joined(separator: ", ")))")
                + " — \(frozen) until \(denial.nodesOut.count > 1 ? "they clear" : "it clears")."
        default:
            text = "\(head) (\(TextRules.sanitizedForTerminal(denial.rule)))."
        }
        if queueHint { text += " Queue with --queue." }
        return text
    }

    static func agents(_ count: Int64) -> String {
        count == 1 ? "1 agent" : "\(count) agents"
    }

    static func verb(_ count: Int64) -> String {
        count == 1 ? "is" : "are"
    }
}

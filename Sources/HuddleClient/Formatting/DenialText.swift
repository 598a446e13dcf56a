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
            text = "\(head): \(agents(required)) must stay Available and only \(available) \(verb(available))."
        case "max_on_break":
            let onBreak = denial.onBreak ?? 0
            let most = denial.maxOnBreak ?? 0
            text =
                "\(head): \(agents(onBreak)) \(verb(onBreak)) already on break or lunch"
                + " and at most \(most) may be at once."
        case "queue_pressure":
            var figures: [String] = []
            if let waiting = denial.callsWaiting { figures.append(waiting == 1 ? "1 call waiting" : "\(waiting) calls waiting") }
            if let oldest = denial.oldestWaitSeconds { figures.append("oldest waiting \(DurationText.short(seconds: oldest))") }
            text = "\(head): the queue is under pressure" + (figures.isEmpty ? "" : " (\(figures.joined(separator: ", ")))") + "."
        case "node_outage":
            let nodes = denial.nodesOut.map { node in
                let name = TextRules.sanitizedForTerminal(node.node)
                guard let city = node.city, !city.isEmpty else { return name }
                return "\(name) in \(TextRules.sanitizedForTerminal(city))"
            }
            let which = nodes.isEmpty ? "a phone node is out" : "phone node \(nodes.joined(separator: ", ")) is out"
            text = "\(head): \(which), so time off the phones is on hold until it is back."
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

import HuddleProtocol

/// The floor's 30-minute queue report as questions (SPEC §14), for `huddle queue` in a terminal:
/// calls in queue, minutes the oldest call has waited, whether a network node is out and in
/// what city, and a comment, the fields of the pop-up page it replaces. A value with no input
/// of its own: `ask` is given each question and returns the line typed (nil at end of input).
public struct QueueForm: Sendable {
    public struct Figures: Sendable, Equatable {
        public var callsWaiting: Int64
        public var oldestWaitSeconds: Int64
        public var nodesOut: [QueueReport.NodeOut]
        public var note: String

        /// `queue.report`'s params, without the team.
        public var params: [String: JSONValue] {
            [
                "calls_waiting": .int(callsWaiting), "oldest_wait_s": .int(oldestWaitSeconds),
                "nodes_out": .array(nodesOut.map { ["node": .string($0.node), "city": .string($0.city)] }),
                "note": .string(note),
            ]
        }
    }

    public struct Abandoned: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// How often one question is asked again after an answer it cannot take.
    public static let attempts = 3

    public init() {}

    /// Asks every question; `say` shows what was wrong with an answer.
    public func run(ask: (String) -> String?, say: (String) -> Void) throws(Abandoned) -> Figures {
        let calls = try question("Calls in queue: ", ask: ask, say: say, read: Self.count)
        let oldest = try question("Minutes the oldest call has waited (e.g. 3 or 2:30): ", ask: ask, say: say, read: Self.minutes)
        var nodes: [QueueReport.NodeOut] = []
        var prompt = "Is a network node out? [y/N] "
        while nodes.count < 20, try question(prompt, ask: ask, say: say, read: Self.yesNo) {
            let node = try question("  Node (e.g. sw-3): ", ask: ask, say: say, read: Self.text(required: true))
            let city = try question("  City: ", ask: ask, say: say, read: Self.text(required: true))
            nodes.append(.init(node: node, city: city))
            prompt = "Another node out? [y/N] "
        }
        let note = try question("Comment (optional): ", ask: ask, say: say, read: Self.text(required: false))
        return Figures(callsWaiting: calls, oldestWaitSeconds: oldest, nodesOut: nodes, note: note)
    }

    private func question<T>(
        _ prompt: String, ask: (String) -> String?, say: (String) -> Void, read: (String) -> Result<T, Abandoned>
    ) throws(Abandoned) -> T {
        for _ in 0..<Self.attempts {
            guard let line = ask(prompt) else { throw Abandoned(description: "no answer to \"\(Self.trimmed(prompt))\"; nothing was sent") }
            switch read(line.trimmedOfSpaces) {
            case .success(let value): return value
            case .failure(let problem): say(problem.description)
            }
        }
        throw Abandoned(description: "no usable answer to \"\(Self.trimmed(prompt))\"; nothing was sent")
    }

    private static func trimmed(_ prompt: String) -> String {
        String(prompt.trimmedOfSpaces.dropLast(prompt.trimmedOfSpaces.hasSuffix(":") ? 1 : 0))
    }

    static func count(_ text: String) -> Result<Int64, Abandoned> {
        guard let n = Int64(text), n >= 0, n <= 1_000_000 else {
            return .failure(Abandoned(description: "a whole number of calls, 0 or more"))
        }
        return .success(n)
    }

    /// Minutes as the page asks for them: `3`, `2.5` or `2:30`; read as whole seconds.
    static func minutes(_ text: String) -> Result<Int64, Abandoned> {
        let wrong = Abandoned(description: "minutes, e.g. 3, 2.5 or 2:30")
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var seconds: Double
        if parts.count == 2, let m = Int64(parts[0]), let s = Int64(parts[1]), m >= 0, (0..<60).contains(s) {
            seconds = Double(m * 60 + s)
        } else if parts.count == 1, let m = Double(text), m.isFinite, m >= 0 {
            seconds = (m * 60).rounded()
        } else {
            return .failure(wrong)
        }
        guard seconds <= 10_000_000 else { return .failure(wrong) }
        seconds.round()
        return .success(Int64(seconds))
    }

    static func yesNo(_ text: String) -> Result<Bool, Abandoned> {
        switch text.lowercased() {
        case "", "n", "no": .success(false)
        case "y", "yes": .success(true)
        default: .failure(Abandoned(description: "y or n"))
        }
    }

    static func text(required: Bool) -> (String) -> Result<String, Abandoned> {
        { text in
            if required && text.isEmpty { return .failure(Abandoned(description: "this one is needed")) }
            guard text.isEmpty || (try? TextRules.check(text, param: "note", maxScalars: TextRules.maxNoteScalars, allowEmpty: false)) != nil
            else {
                return .failure(
                    Abandoned(description: "at most \(TextRules.maxNoteScalars) characters, with no control characters"))
            }
            return .success(text)
        }
    }
}

extension String {
    fileprivate var trimmedOfSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" || first == "\r" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" || last == "\r" { scalars.removeLast() }
        return String(scalars)
    }
}

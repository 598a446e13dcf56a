import HuddleClient
import HuddleProtocol

/// What the status commands (`break`, `lunch`, `back`, …) share: reading `[MINUTES] [NOTE...]`,
/// asking for the change and saying what happened.
struct StatusChange {
    var status: Status
    var words: [String]
    /// Whether a leading number means minutes (statuses with a limit).
    var takesMinutes: Bool
    var queue: Bool = false
    var reason: StatusReason? = nil

    /// (minutes, note); a first word that is a whole number is the minutes.
    func parsed() throws -> (Int64?, String?) {
        var rest = words
        var minutes: Int64?
        if takesMinutes, let first = rest.first, let number = Int64(first) {
            guard number > 0, number <= 24 * 60 else {
                throw CLIFailure.usage("minutes must be between 1 and \(24 * 60), not \(first)")
            }
            minutes = number
            rest.removeFirst()
        }
        let note = rest.joined(separator: " ")
        guard !note.isEmpty else { return (minutes, nil) }
        do {
            _ = try TextRules.check(note, param: "note", maxScalars: TextRules.maxNoteScalars, allowEmpty: false)
        } catch {
            throw CLIFailure.usage("the note \(noteProblem(error))")
        }
        return (minutes, note)
    }

    func run(_ options: GlobalOptions) async throws {
        let minutes: Int64?
        let note: String?
        do {
            (minutes, note) = try parsed()
        } catch let failure as CLIFailure {
            throw failure.report(json: options.json)
        }
        try await SignedIn.run(options, status: status) { session in
            let result = try await session.connection.setStatus(
                status, note: note, expectedSeconds: minutes.map { $0 * 60 }, reason: reason, queue: queue)
            if options.json {
                Console.json(result.raw)
                return
            }
            Console.out(describe(result, note: note, minutes: minutes))
        }
    }

    func describe(_ result: StatusSetResult, note: String?, minutes: Int64?) -> String {
        switch result.decision {
        case .waitlisted(let position):
            let place = position.map { "position \($0)" } ?? "in line"
            let team = result.team.map { " on \(TextRules.sanitizedForTerminal($0))" } ?? ""
            let command = StatusNames.command(for: status) ?? status.rawValue
            return "Queued for \(StatusNames.request(for: status)): \(place)\(team). You will be told when it is your turn.\n"
                + "Keep huddle watch open: when your slot is held, run huddle \(command) within 2 minutes to take it "
                + "(huddle waitlist cancel leaves the queue)."
        case .granted:
            if reason == .abusiveCall {
                // Discreet on purpose: the screen may be seen by others.
                return "Break started. Take the time you need; your supervisor has been told."
            }
            var text = "Status: \(status.label)"
            if let note { text += " \"\(TextRules.sanitizedForTerminal(note))\"" }
            if let minutes {
                let now = ClockText.now()
                let back = now.adding(seconds: minutes * 60)
                text += " (\(DurationText.short(seconds: minutes * 60)) planned, back by \(ClockText.hourMinute(back, offsetSeconds: ClockText.localOffsetSeconds(at: back))))"
            }
            return text + "."
        }
    }

    private func noteProblem(_ error: RPCError) -> String {
        switch error.data?["reason"]?.stringValue {
        case "too_long"?: "is longer than \(TextRules.maxNoteScalars) characters"
        case "forbidden_character"?: "contains a control or bidirectional-override character"
        default: "is not acceptable"
        }
    }
}

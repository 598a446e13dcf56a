import ArgumentParser
import HuddleClient
import HuddleProtocol

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Time in each status per agent over a period (supervisors), e.g. huddle report --from yesterday --to yesterday.",
        discussion: """
            TIME is an RFC 3339 instant (2026-11-23T09:00:00Z, 2026-11-23T10:00:00+01:00), now, or a day: \
            YYYY-MM-DD, today or yesterday. A day runs from midnight to midnight in this computer's time zone; \
            --from takes its start and --to its end, so --from 2026-11-23 --to 2026-11-23 is that whole day \
            and --from today is today so far. Statuses still running count up to now.

            COUNT is how many periods of the status overlap the report; OVERRUNS how many of them lasted \
            longer than the status's limit or planned return. --csv prints user,status,seconds,count,overruns \
            with a header line (status by its wire name).
            """)

    @OptionGroup var options: GlobalOptions

    @Option(help: ArgumentHelp("Start of the period.", valueName: "time"))
    var from: String

    @Option(help: ArgumentHelp("End of the period.", valueName: "time"))
    var to: String = "now"

    @OptionGroup var team: OneTeam

    @Flag(help: "Comma-separated values with a header line, for spreadsheets.")
    var csv = false

    func period(now: Timestamp) throws -> (Timestamp, Timestamp) {
        let offset = ClockText.localOffsetSeconds(at:)
        guard let start = ReportTime.parse(from, edge: .start, now: now, offset: offset) else {
            throw ValidationError("--from: '\(TextRules.sanitizedForTerminal(from))' is not a time (RFC 3339, YYYY-MM-DD, today, yesterday or now)")
        }
        guard let end = ReportTime.parse(to, edge: .end, now: now, offset: offset) else {
            throw ValidationError("--to: '\(TextRules.sanitizedForTerminal(to))' is not a time (RFC 3339, YYYY-MM-DD, today, yesterday or now)")
        }
        guard start < end else {
            throw ValidationError("the period is empty: --from \(start.rfc3339) is not before --to \(end.rfc3339)")
        }
        return (start, end)
    }

    func validate() throws {
        _ = try period(now: ClockText.now())
    }

    mutating func run() async throws {
        let (start, end): (Timestamp, Timestamp)
        do {
            (start, end) = try period(now: ClockText.now())
        } catch {
            throw CLIFailure.usage("\(error)").report(json: options.json)
        }
        let json = options.json
        let csv = self.csv
        try await SignedIn.run(options, in: team) { session, target in
            let report = try await session.connection.timeInStatus(team: target, from: start, to: end)
            if json {
                Console.json(report.raw)
            } else if csv {
                Console.out(ReportText.csv(report.rows))
            } else {
                Console.out(
                    "\(session.clean(target)), \(ClockText.localDateTime(start)) to \(ClockText.localDateTime(end)):")
                Console.out(report.rows.isEmpty ? "(no status time in this period)" : ReportText.table(report.rows))
            }
        }
    }
}

import ArgumentParser
import HuddleClient
import HuddleProtocol

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Reports over a period (supervisors): time in status (the default) or calls.",
        subcommands: [TimeInStatusCommand.self, CallsReportCommand.self],
        defaultSubcommand: TimeInStatusCommand.self)
}

/// The period of a report: `--from` and `--to` as `huddle report` reads them.
struct ReportPeriod: ParsableArguments {
    @Option(help: ArgumentHelp("Start of the period.", valueName: "time"))
    var from: String

    @Option(help: ArgumentHelp("End of the period.", valueName: "time"))
    var to: String = "now"

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

    /// The period now, or the usage failure the command exits with.
    func resolved(json: Bool) throws -> (Timestamp, Timestamp) {
        do {
            return try period(now: ClockText.now())
        } catch {
            throw CLIFailure.usage("\(error)").report(json: json)
        }
    }
}

/// `huddle report calls`: per agent, calls, talk and hold time, the longest hold, and holds
/// longer than the check-in interval.
struct CallsReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calls",
        abstract: "Calls per agent over a period (supervisors): calls, talk and hold time, longest hold, holds past the check-in.",
        discussion: "TIME as for huddle report. --csv prints user,calls,talk_s,hold_s,longest_hold_s,holds_over_checkin.")

    @OptionGroup var options: GlobalOptions

    @OptionGroup var when: ReportPeriod

    @OptionGroup var team: OneTeam

    @Flag(help: "Comma-separated values with a header line, for spreadsheets.")
    var csv = false

    mutating func run() async throws {
        let (start, end) = try when.resolved(json: options.json)
        let json = options.json
        let csv = self.csv
        try await SignedIn.run(options, in: team) { session, target in
            let report = try await session.connection.request(
                Method.reportCalls.rawValue, ["team": .string(target), "from": start.json, "to": end.json])
            let rows = report["rows"]?.arrayValue ?? []
            if json {
                Console.json(report)
            } else if csv {
                Console.out(ReportText.callsCSV(rows))
            } else {
                Console.out(
                    "\(session.clean(target)), \(ClockText.localDateTime(start)) to \(ClockText.localDateTime(end)):")
                Console.out(rows.isEmpty ? "(no calls in this period)" : ReportText.callsTable(rows))
            }
        }
    }
}

struct TimeInStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "time",
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

    @OptionGroup var when: ReportPeriod

    @OptionGroup var team: OneTeam

    @Flag(help: "Comma-separated values with a header line, for spreadsheets.")
    var csv = false

    mutating func run() async throws {
        let (start, end) = try when.resolved(json: options.json)
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

import HuddleCore
import HuddleProtocol
import HuddleStore
import NIOCore

/// The supervisors' reports (`report.time_in_status`, `report.calls`): read from the stored log
/// off the event loops, answered on the session.
extension Hub {
    /// `report.time_in_status`, for supervisors: read from the log off the event loops.
    func report(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        try answerReport(request, session, read: store.reportInputs) { changes, policy, from, to, now in
            TimeInStatusReport.compute(
                changes: changes, limit: { status, at in policy(at).limit(for: status) }, from: from, to: to, now: now
            ).map(\.json)
        }
    }

    /// `report.calls`, for supervisors, with the checks and period of `report.time_in_status`.
    func reportCalls(_ request: RPCRequest, _ session: Session) throws(RPCError) {
        try answerReport(request, session, read: store.callReportInputs) { changes, policy, from, to, now in
            CallReport.compute(
                changes: changes, checkin: { policy($0).calls.holdCheckinS }, from: from, to: to, now: now
            ).map(\.json)
        }
    }

    /// A report: its period checked, its inputs read from the log off the event loops, its rows
    /// computed with the policy in force at a time (version 1 before the first), then answered.
    private func answerReport<Change: Sendable>(
        _ request: RPCRequest, _ session: Session,
        read: (String, @escaping @Sendable (Result<([Change], [PolicyVersion]), any Error>) -> Void) -> Void,
        rows: @escaping @Sendable ([Change], (Timestamp) -> Policy, Timestamp, Timestamp, Timestamp) -> [JSONValue]
    ) throws(RPCError) {
        let (team, from, to) = try reportPeriod(request, session)
        let now = clock.now()
        try session.beginRead()
        read(team) { result in
            defer { session.endRead() }
            switch result {
            case .success(let (changes, versions)):
                let policy = { (at: Timestamp) in (versions.last { $0.at <= at } ?? versions.first)?.policy ?? Policy() }
                session.reply(request.id, ["rows": .array(rows(changes, policy, from, to, now))])
            case .failure(let error):
                self.logger.error("report read failed", metadata: ["error": "\(error)"])
                session.reply(request.id, error: .internalError)
            }
        }
    }

    /// A report's `team`, `from` and `to`, checked in the order PROTOCOL.md §5 gives.
    private func reportPeriod(_ request: RPCRequest, _ session: Session) throws(RPCError) -> (String, Timestamp, Timestamp) {
        let team = try request.params.string("team")
        guard let from = Timestamp(rfc3339: try request.params.string("from")) else {
            throw .invalidParam("from", "from must be an RFC 3339 time")
        }
        guard let to = Timestamp(rfc3339: try request.params.string("to")) else {
            throw .invalidParam("to", "to must be an RFC 3339 time")
        }
        guard from < to else { throw .invalidParam("to", "to must be after from") }
        try withState { state throws(RPCError) in
            _ = try state.pipeline.committed.requireMember(session.user, of: team)
            guard session.role == .supervisor || session.role == .admin else {
                throw .forbidden("reports are for supervisors")
            }
        }
        return (team, from, to)
    }
}

import HuddleCore
import HuddleProtocol

/// What the hub needs of a store: load the floor, append a batch, read ranges of a team's
/// history, prune it. The hub and its request paths see only this, so that another store
/// (PostgreSQL for several nodes, docs/MULTI-NODE.md's plan) can stand beside the SQLite one.
///
/// SQLite's own upkeep is not part of it: WAL syncs and checkpoints, the lock probe and the run's
/// marks in the data folder are the `Durability` service's and `huddled serve`'s business, with
/// the concrete `Store`.
///
/// Callbacks run on the store's own threads; a caller that must not wait for a read (fan-out
/// and every request path) uses the completion forms.
public protocol HubStore: Sendable {
    // MARK: The floor

    /// Users, teams, statuses, seqs, policies, open alerts, and each user's token key.
    func loadFloorAsync() async throws -> (floor: Floor, tokenKeys: [String: String])
    func loadCredentials() async throws -> [String: Credential]
    /// When each user's presence last turned false (for the ghost-session clock after a restart).
    func loadAbsences() async throws -> [String: Timestamp]
    /// Moves with every admin change (users, teams, tokens) made by any process.
    func adminVersion() async throws -> Int64

    // MARK: Appending

    /// Stores a batch of events and the current state they leave (`Floor.changes(applying:)`),
    /// in one transaction: all of it or nothing.
    func commit(
        _ batch: [EncodedEvent], state: FloorChanges, completion: @escaping @Sendable (Result<Void, any Error>) -> Void)

    // MARK: Reading ranges

    /// Several ranges of one team's streams, whole, read together (one snapshot of the history).
    /// `wanted` is asked when the read starts: a read for a client gone since is skipped.
    func replay(
        team: String, ranges: [(stream: EventStream, after: Int64, through: Int64)],
        wanted: @escaping @Sendable () -> Bool,
        completion: @escaping @Sendable (Result<[[StoredEvent]], any Error>) -> Void)
    /// The first events of each range as stored lines, at most `maxEvents` and `maxBytes` (but
    /// at least one): a long replay is read in such pieces.
    func replayLines(
        team: String, ranges: [(stream: EventStream, after: Int64, through: Int64)],
        maxEvents: Int, maxBytes: Int, wanted: @escaping @Sendable () -> Bool,
        completion: @escaping @Sendable (Result<[StoredLines], any Error>) -> Void)
    func policyHistory(team: String, completion: @escaping @Sendable (Result<[PolicyVersion], any Error>) -> Void)
    /// The inputs of the time-in-status report: the team's status changes and policy versions.
    func reportInputs(
        team: String,
        completion: @escaping @Sendable (Result<([TimeInStatusReport.Change], [PolicyVersion]), any Error>) -> Void)
    /// The inputs of the call report: the team's call events and policy versions.
    func callReportInputs(
        team: String, completion: @escaping @Sendable (Result<([CallReport.Change], [PolicyVersion]), any Error>) -> Void)

    // MARK: The wallboard

    /// Display links, by key (`huddled display add`).
    func loadDisplays() async throws -> [String: Display]
    /// Browser sessions that have not expired, by key; the expired ones are forgotten.
    func loadBoardSessions(now: Timestamp) async throws -> [String: BoardSession]
    func addBoardSession(_ session: BoardSession) async throws
    func removeBoardSession(key: String) async throws

    // MARK: Retention

    /// Deletes history older than `cutoff`; returns how many events went.
    func prune(before cutoff: Timestamp) async throws -> Int
}

extension Store: HubStore {}

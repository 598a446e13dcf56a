import HuddleCore
import HuddleProtocol
import NIOConcurrencyHelpers

/// What became of a batch of phone-system records: `applied` were read and applied (whether or
/// not they changed anything: a repeated state changes nothing), `skipped` are fine but not for
/// Huddle (another stream's record, an agent Huddle does not know), `errors` could not be read
/// or were refused, each with its index in the batch.
public struct BridgeOutcome: Sendable, Equatable {
    public var applied = 0
    public var skipped = 0
    public var errors: [(index: Int, reason: String)] = []

    public static func == (a: BridgeOutcome, b: BridgeOutcome) -> Bool {
        a.applied == b.applied && a.skipped == b.skipped && a.errors.map(\.index) == b.errors.map(\.index)
            && a.errors.map(\.reason) == b.errors.map(\.reason)
    }

    public var json: JSONValue {
        [
            "applied": .int(Int64(applied)), "skipped": .int(Int64(skipped)),
            "errors": .array(errors.map { ["index": .int(Int64($0.index)), "reason": .string($0.reason)] }),
        ]
    }
}

extension Hub {
    /// Applies Amazon Connect agent event stream records for the bridge holding `token` (a bot
    /// of the agents' teams), all in one change, answered once committed. A record that cannot
    /// be read, or that the rules refuse, is reported by its index; it never stops the others.
    func applyAmazonConnect(
        token: String, records: [Result<JSONValue, AmazonConnectRecord.Refusal>], agents: AgentDirectory
    ) async -> Result<BridgeOutcome, RPCError> {
        let bridge: String
        do throws(RPCError) {
            bridge = try await authenticate(token: token)
        } catch {
            return .failure(error)
        }
        return await withCheckedContinuation { continuation in
            let now = clock.now()
            do throws(RPCError) {
                try change { state throws(RPCError) in
                    guard let role = state.pipeline.working.users[bridge]?.role,
                        role == .bot || role == .supervisor || role == .admin
                    else { throw .forbidden("phone updates come from bridges (bots)") }
                    var outcome = BridgeOutcome()
                    var events: [Event] = []
                    let phoneIDs = Self.phoneIDs(of: state.pipeline.working)
                    let parsed = records.map { entry in
                        Result { () throws(AmazonConnectRecord.Refusal) in try AmazonConnectRecord(try entry.get()) }
                    }
                    // The batch's records that name their agent teach the directory the agent's
                    // ARN first, so that a LOGIN ahead of them in the same batch is matched.
                    for case .success(let record) in parsed where record.username != nil {
                        _ = agents.user(for: record, phoneIDs: phoneIDs, floor: state.pipeline.working)
                    }
                    for (index, entry) in parsed.enumerated() {
                        do throws(AmazonConnectRecord.Refusal) {
                            let record = try entry.get()
                            guard let user = agents.user(for: record, phoneIDs: phoneIDs, floor: state.pipeline.working)
                            else { throw .skip("no Huddle user for Connect agent \(record.username ?? record.agentARN)") }
                            events += try Self.apply(record, of: user, by: bridge, to: &state.pipeline.working, now: now)
                            outcome.applied += 1
                        } catch {
                            switch error {
                            case .skip: outcome.skipped += 1
                            case .bad(let reason): outcome.errors.append((index, reason))
                            }
                        }
                    }
                    let answered = outcome
                    let reply = Reply(result: answered.json) { result in
                        continuation.resume(returning: result.map { _ in answered })
                    }
                    return (events, reply)
                }
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
    }

    /// One record's changes: the phone's login, the call, the mirrored status.
    private static func apply(
        _ record: AmazonConnectRecord, of user: String, by bridge: String, to floor: inout Floor, now: Timestamp
    ) throws(AmazonConnectRecord.Refusal) -> [Event] {
        let loggedIn: Bool? =
            switch record.kind {
            case .login: true
            case .logout: false
            // A status other than Offline is one only a logged-in agent has: a LOGIN the
            // bridge missed (sent before the daemon ran) is caught up here. Heartbeats go on
            // for an hour after a logout, with the status Offline, so nothing says the reverse.
            case .stateChange, .heartBeat: record.statusName.map { $0.lowercased() != "offline" } == true ? true : nil
            }
        do throws(RPCError) {
            var events = try floor.updatePhone(
                by: bridge, PhoneUpdate(user: user, loggedIn: loggedIn, call: record.call, at: record.at), now: now)
            if let status = record.status { events += try floor.mirrorStatus(by: bridge, user: user, status, now: now) }
            return events
        } catch {
            throw .bad(error.message)
        }
    }

    /// Each phone id on the floor, to its user.
    static func phoneIDs(of floor: Floor) -> [String: String] {
        var ids: [String: String] = [:]
        for user in floor.users.values { if let id = user.phoneID { ids[id] = user.name } }
        return ids
    }
}

/// Which Huddle user a Connect agent is (SPEC §10): the user whose phone id is the record's
/// `Username`, else the user of that name; for LOGIN and LOGOUT, which carry only the agent's
/// ARN, the user whose phone id is the ARN or the agent id at its end, else the user an earlier
/// record of the same ARN was matched to since the daemon started (a heartbeat comes every
/// 120 s while the agent is logged in, so the ARN is known well before a logout).
final class AgentDirectory: Sendable {
    private let byARN = NIOLockedValueBox<[String: String]>([:])

    func user(for record: AmazonConnectRecord, phoneIDs: [String: String], floor: Floor) -> String? {
        let agentID = record.agentARN.split(separator: "/").last.map(String.init)
        var found: String?
        if let username = record.username {
            found = phoneIDs[username] ?? (floor.users[username] != nil ? username : nil)
        }
        found = found ?? phoneIDs[record.agentARN] ?? agentID.flatMap { phoneIDs[$0] }
        if let found {
            byARN.withLockedValue { $0[record.agentARN] = found }
            return found
        }
        return byARN.withLockedValue { $0[record.agentARN] }
    }
}

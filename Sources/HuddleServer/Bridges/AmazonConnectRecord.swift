import Foundation
import HuddleCore
import HuddleProtocol

/// One record of Amazon Connect's agent event stream, read as what Huddle needs of it (SPEC
/// §10): whose it is, whether the phone logged in or out, the voice call its snapshot shows, and
/// the agent status when it changed. The record's shape is Amazon's (`AgentARN`, `EventType`,
/// `EventTimestamp`, `CurrentAgentSnapshot {AgentStatus {Name}, Configuration {Username},
/// Contacts [{ContactId, Channel, State}]}`, `PreviousAgentSnapshot`); fields Huddle does not
/// use are not read, so records with more of them (newer versions) read the same.
struct AmazonConnectRecord: Sendable, Equatable {
    enum Kind: String, Sendable {
        case login = "LOGIN"
        case logout = "LOGOUT"
        case stateChange = "STATE_CHANGE"
        case heartBeat = "HEART_BEAT"
    }

    /// Why a record is not taken: `skip` for one that is fine but not for Huddle (another
    /// stream's record), `bad` for one that cannot be read.
    enum Refusal: Error, Sendable, Equatable {
        case skip(String)
        case bad(String)
    }

    var kind: Kind
    var agentARN: String
    /// `Configuration.Username` of the current snapshot (else the previous one); LOGIN and
    /// LOGOUT records carry no snapshot.
    var username: String?
    var at: Timestamp
    /// What the snapshot says of the call (`unchanged` without a snapshot).
    var call: PhoneUpdate.Call
    /// The agent status the record changed to, when its name is a Huddle status.
    var status: Status?
    /// The agent status's name in the current snapshot, whatever it is.
    var statusName: String?

    init(_ json: JSONValue) throws(Refusal) {
        guard json.objectValue != nil else { throw .bad("a record must be a JSON object") }
        guard let type = json["EventType"]?.stringValue, let arn = json["AgentARN"]?.stringValue else {
            throw .skip("not an agent event (no EventType and AgentARN): another stream's record")
        }
        guard let kind = Kind(rawValue: type) else { throw .bad("unknown EventType '\(Self.short(type))'") }
        guard let text = json["EventTimestamp"]?.stringValue, let at = Timestamp(rfc3339: text) else {
            throw .bad("EventTimestamp is missing or not an ISO 8601 time")
        }
        self.kind = kind
        self.agentARN = arn
        self.at = at
        let current = json["CurrentAgentSnapshot"]
        let previous = json["PreviousAgentSnapshot"]
        username =
            current?["Configuration"]?["Username"]?.stringValue ?? previous?["Configuration"]?["Username"]?.stringValue
        switch kind {
        case .login, .logout:
            call = .unchanged
            status = nil
            statusName = nil
        case .stateChange, .heartBeat:
            guard let current, current.objectValue != nil else {
                throw .bad("a \(type) record without CurrentAgentSnapshot")
            }
            call = Self.call(in: current["Contacts"]?.arrayValue ?? [])
            // Only a change is mirrored: a heartbeat, or a record about a contact, repeats the
            // status the agent already had in Connect, which Huddle may since have changed.
            let now = current["AgentStatus"]?["Name"]?.stringValue
            let before = previous?["AgentStatus"]?["Name"]?.stringValue
            statusName = now
            status = kind == .stateChange && now != before ? now.flatMap(Self.status(named:)) : nil
        }
    }

    /// The voice contact that says the most: one on hold, else one connected, else one
    /// ringing, else one that ended (the agent is in After Contact Work in Connect). Chats and
    /// tasks are not calls. No voice contact: no call.
    static func call(in contacts: [JSONValue]) -> PhoneUpdate.Call {
        var best: (rank: Int, call: PhoneUpdate.Call)?
        for contact in contacts where contact["Channel"]?.stringValue == "VOICE" {
            guard let id = contact["ContactId"]?.stringValue, !id.isEmpty, id.utf8.count <= PhoneUpdate.maxCallIDLength
            else { continue }
            let candidate: (Int, PhoneUpdate.Call)
            switch contact["State"]?.stringValue {
            case "CONNECTED_ONHOLD": candidate = (4, .live(id: id, state: .onHold, muted: false))
            case "CONNECTED": candidate = (3, .live(id: id, state: .talking, muted: false))
            case "CONNECTING", "INCOMING", "PENDING": candidate = (2, .live(id: id, state: .ringing, muted: false))
            case "ENDED", "MISSED", "REJECTED", "ERROR": candidate = (1, .ended(id: id))
            default: continue  // PAUSED (tasks only) or a state of a newer Connect
            }
            if best.map({ candidate.0 > $0.rank }) ?? true { best = candidate }
        }
        return best?.call ?? .endedAny
    }

    /// A Connect agent status named like a Huddle status (case-insensitive). After Call Work is
    /// not one: in Connect it is a contact's state, not a status the agent picks.
    static func status(named name: String) -> Status? {
        let folded = name.trimmingCharacters(in: .whitespaces).lowercased()
        return Status.allCases.first { $0 != .afterCallWork && $0.label.lowercased() == folded }
    }

    static func short(_ text: String) -> String { text.count > 40 ? String(text.prefix(40)) + "…" : text }
}

/// The body of `POST /v1/bridges/amazon-connect`: one record, an array of records, a Kinesis
/// batch as a forwarding function receives it (`{"Records": [{"kinesis": {"data": BASE64}}]}`),
/// or a Kinesis Data Firehose delivery (`{"requestId", "timestamp", "records": [{"data":
/// BASE64}]}`). Each entry is decoded on its own, so a bad one is reported by its index and the
/// others still count.
enum AmazonConnectBatch {
    /// Each record's JSON, or why it could not be read.
    static func records(in body: JSONValue) -> [Result<JSONValue, AmazonConnectRecord.Refusal>] {
        if let list = body.arrayValue { return list.map { .success($0) } }
        if let kinesis = body["Records"]?.arrayValue {
            return kinesis.map { decode($0["kinesis"]?["data"]) }
        }
        if let firehose = body["records"]?.arrayValue, body["requestId"] != nil {
            return firehose.map { decode($0["data"]) }
        }
        return [.success(body)]
    }

    static func decode(_ data: JSONValue?) -> Result<JSONValue, AmazonConnectRecord.Refusal> {
        guard let text = data?.stringValue else { return .failure(.bad("no base64 data")) }
        guard let bytes = Data(base64Encoded: text) else { return .failure(.bad("the data is not base64")) }
        do {
            return .success(try JSONParser.parse([UInt8](bytes)))
        } catch {
            return .failure(.bad("the data is not JSON: \(error.message)"))
        }
    }
}

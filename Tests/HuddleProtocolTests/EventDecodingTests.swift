@testable import HuddleProtocol
import Testing

/// The typed decoder reads back everything the wire form carries, for every kind of event, and
/// refuses what is not an event of its kind.
@Suite struct EventDecodingTests {
    static let at = Timestamp(milliseconds: 1_796_000_000_123)

    /// A policy event carries its policy at that version.
    static func policy(version: Int64) -> Policy {
        var policy = Policy()
        policy.version = version
        return policy
    }

    static let payloads: [EventPayload] = [
        .status(StatusEvent(user: "alice", status: .onBreak, note: "15, be right back", since: at, expectedUntil: at.adding(seconds: 900), by: "alice")),
        .status(StatusEvent(user: "bob", status: .available, note: "", since: at, expectedUntil: nil, by: "system")),
        .presence(user: "alice", connected: false),
        .message(user: "sam", text: "team huddle at 3 — «bring coffee»"),
        .policy(version: 4, by: "sam", comment: "lunch rush", policy: policy(version: 4)),
        .coverage(CoverageFigures(available: 3, required: 2, onBreak: 1, maxOnBreak: 1)),
        .coverage(CoverageFigures(available: 5, required: 8, onBreak: 0, maxOnBreak: 2, requiredFrom: .init(callsPerHour: 60, ahtSeconds: 300, target: 0.8, withinSeconds: 20))),
        .waitlist([WaitlistEntry(user: "carol", status: .lunch, since: at), WaitlistEntry(user: "dan", status: .onBreak, since: at)]),
        .waitlist([]),
        .waitlistReady(user: "carol", status: .lunch, holdUntil: at.adding(seconds: 120)),
        .alert(Alert(id: 7, kind: .wellbeingBreak, severity: .critical, team: "floor-a", user: "carol", reason: .abusiveCall,
                     text: "carol ended an abusive call", createdAt: at)),
        .alert(Alert(id: 8, kind: .escalation, severity: .critical, team: "floor-a", user: "carol", text: "unanswered",
                     createdAt: at, escalates: 7)),
        .alertAck(alert: 7, by: "sam", note: "with her now", at: at),
        .notice(NoticeStatus(alert: 7, target: 2, format: "slack", outcome: .delivered)),
        .notice(NoticeStatus(alert: 8, target: 3, format: "json", outcome: .givenUp)),
        .queue(QueueReport(by: "qbot", at: at, callsWaiting: 12, oldestWaitSeconds: 340, callsPerHour: 90, ahtSeconds: 200,
                           nodesOut: [QueueReport.NodeOut(node: "n7", city: "Leeds")], note: "storm", pressure: true, nodeOutage: true)),
    ]

    @Test(arguments: payloads)
    func whatTheWireCarriesIsReadBack(_ payload: EventPayload) throws {
        let event = Event(team: "floor-a", seq: 42, at: Self.at, payload: payload)
        let decoded = try Event(params: event.params)
        #expect(decoded.params == event.params)
        #expect(decoded.payload.type == payload.type && decoded.stream == event.stream && decoded.seq == 42)
        let line = event.encodedLine()
        #expect(try Event(storedLine: Array(line.dropLast())).params == event.params)
    }

    @Test func theStatusOfAStatusEventIsTyped() throws {
        let event = Event(team: "floor-a", seq: 1, at: Self.at, payload: Self.payloads[0])
        guard case .status(let change) = try Event(params: event.params).payload else {
            Issue.record("not a status event")
            return
        }
        #expect(change.status == .onBreak && change.expectedUntil == Self.at.adding(seconds: 900) && change.reason == nil)
    }

    @Test func whatIsNotAnEventOfItsKindIsRefusedNamingTheField() throws {
        let good = Event(team: "floor-a", seq: 1, at: Self.at, payload: Self.payloads[0]).params
        func without(_ key: String) -> JSONValue {
            var object = good.objectValue ?? [:]
            object[key] = nil
            return .object(object)
        }
        func with(_ key: String, _ value: JSONValue) -> JSONValue {
            var object = good.objectValue ?? [:]
            object[key] = value
            return .object(object)
        }
        #expect(throws: EventDecodingError(type: "status", field: "since")) { try Event(params: without("since")) }
        #expect(throws: EventDecodingError(type: "status", field: "status")) { try Event(params: with("status", "nap")) }
        #expect(throws: EventDecodingError(type: "status", field: "stream")) { try Event(params: with("stream", "supervisors")) }
        #expect(throws: EventDecodingError(type: "teleport", field: "type")) { try Event(params: with("type", "teleport")) }
        #expect(throws: EventDecodingError(type: "status", field: "seq")) { try Event(params: with("seq", "one")) }
    }
}

extension EventPayload: CustomTestStringConvertible {
    public var testDescription: String { type }
}

import Foundation
import HuddleCore
import HuddleProtocol
import Testing

@testable import HuddleServer

/// Reading Amazon Connect agent event stream records (the fixtures are Amazon's shape).
@Suite struct AmazonConnectRecordTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/amazon-connect").path

    static func fixture(_ name: String) throws -> JSONValue {
        try JSONParser.parse(try String(contentsOfFile: "\(fixtures)/\(name)", encoding: .utf8))
    }

    @Test func eachEventTypeReadsAsWhatHuddleNeeds() throws {
        let day = try #require(try Self.fixture("agent-day.json").arrayValue)
        let login = try AmazonConnectRecord(day[0])
        #expect(login.kind == .login && login.username == nil && login.call == .unchanged)
        #expect(login.agentARN.hasSuffix("/agent/2f0d3d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"))
        let available = try AmazonConnectRecord(day[1])
        #expect(available.kind == .stateChange && available.username == "alice.martin" && available.status == .available)
        #expect(available.call == .endedAny, "no contact: no call")
        let hold = try AmazonConnectRecord(day[4])
        #expect(hold.call == .live(id: "c5a7e1b2-3d4f-4a6b-8c9d-0e1f2a3b4c5d", state: .onHold, muted: false))
        #expect(hold.at == Timestamp(rfc3339: "2026-12-07T09:02:10.004Z") && hold.status == nil)
        let heartbeat = try AmazonConnectRecord(day[5])
        #expect(heartbeat.kind == .heartBeat && heartbeat.status == nil, "a heartbeat mirrors nothing")
        #expect(try AmazonConnectRecord(day[7]).call == .ended(id: "c5a7e1b2-3d4f-4a6b-8c9d-0e1f2a3b4c5d"))
        #expect(try AmazonConnectRecord(day[9]).status == .onBreak)
        #expect(try AmazonConnectRecord(day[11]).kind == .logout)
    }

    @Test func agentStatusNamesAreHuddlesLabelsInAnyCase() {
        #expect(AmazonConnectRecord.status(named: "catalog training") == .training)
        #expect(AmazonConnectRecord.status(named: " LUNCH ") == .lunch)
        #expect(AmazonConnectRecord.status(named: "After Call Work") == nil)
        #expect(AmazonConnectRecord.status(named: "Meal") == nil)
    }

    @Test func theBodyMayBeOneRecordAnArrayAKinesisBatchOrAFirehoseDelivery() throws {
        let day = try #require(try Self.fixture("agent-day.json").arrayValue)
        let base64 = JSONValue.string(Data(JSONWriter.encode(day[0])).base64EncodedString())
        #expect(AmazonConnectBatch.records(in: day[0]).count == 1)
        #expect(AmazonConnectBatch.records(in: .array(day)).count == day.count)
        let kinesis = AmazonConnectBatch.records(in: ["Records": [["kinesis": ["data": base64]]]])
        #expect(try kinesis.first?.get() == day[0])
        let firehose = AmazonConnectBatch.records(in: ["requestId": "r", "timestamp": 1, "records": [["data": base64]]])
        #expect(try firehose.first?.get() == day[0])
        #expect(AmazonConnectBatch.decode("@@@") == .failure(.bad("the data is not base64")))
    }

    @Test func whatIsNotAnAgentEventIsSkippedAndWhatCannotBeReadIsRefused() throws {
        let other = try #require(try Self.fixture("mixed.json")["contact-trace-record"])
        #expect(throws: AmazonConnectRecord.Refusal.skip("not an agent event (no EventType and AgentARN): another stream's record")) {
            try AmazonConnectRecord(other)
        }
        #expect(throws: AmazonConnectRecord.Refusal.bad("a record must be a JSON object")) { try AmazonConnectRecord("text") }
        #expect(throws: AmazonConnectRecord.Refusal.self) {
            try AmazonConnectRecord(["EventType": "STATE_CHANGE", "AgentARN": "a", "EventTimestamp": "yesterday"])
        }
        #expect(throws: AmazonConnectRecord.Refusal.self) {
            try AmazonConnectRecord(["EventType": "STATE_CHANGE", "AgentARN": "a", "EventTimestamp": "2026-12-07T09:00:00Z"])
        }
    }
}

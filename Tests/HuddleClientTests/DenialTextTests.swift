import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct DenialTextTests {
    @Test func minAvailable() {
        let denial = CoverageDenial(rule: "min_available", available: 2, required: 2, onBreak: 0, maxOnBreak: 2)
        #expect(
            DenialText.sentence(for: .onBreak, denial)
                == "Break not granted: 2 agents must stay Available and only 2 are. Queue with --queue.")
    }

    @Test func minAvailableSingular() {
        let denial = CoverageDenial(rule: "min_available", available: 1, required: 1)
        #expect(
            DenialText.sentence(for: .meeting, denial, queueHint: false)
                == "Meeting not granted: 1 agent must stay Available and only 1 is.")
    }

    @Test func minAvailableWithSlotsHeldForTheWaitlist() {
        // The figures leave out held slots; more Available than required can only mean those.
        let denial = CoverageDenial(rule: "min_available", available: 2, required: 1)
        #expect(
            DenialText.sentence(for: .onBreak, denial, queueHint: false)
                == "Break not granted: 1 agent must stay Available; 2 are now, but slots held for the waitlist would leave too few.")
    }

    @Test func maxOnBreak() {
        let denial = CoverageDenial(rule: "max_on_break", available: 5, required: 2, onBreak: 2, maxOnBreak: 2)
        #expect(
            DenialText.sentence(for: .onBreak, denial)
                == "Break not granted: only 2 may be on break at once and 2 are. Queue with --queue.")
        let one = CoverageDenial(rule: "max_on_break", available: 2, required: 1, onBreak: 1, maxOnBreak: 1)
        #expect(
            DenialText.sentence(for: .lunch, one, queueHint: false)
                == "Lunch not granted: only 1 may be on break or at lunch at once and 1 is.")
        let held = CoverageDenial(rule: "max_on_break", available: 3, required: 1, onBreak: 0, maxOnBreak: 1)
        #expect(
            DenialText.sentence(for: .onBreak, held, queueHint: false)
                == "Break not granted: only 1 may be on break at once; 0 are now and slots are held for the waitlist.")
    }

    @Test func queuePressure() {
        let denial = CoverageDenial(rule: "queue_pressure", callsWaiting: 12, oldestWaitSeconds: 360)
        #expect(
            DenialText.sentence(for: .onBreak, denial)
                == "Break not granted: the queue is under pressure (12 waiting, oldest 6m). Queue with --queue.")
        #expect(
            DenialText.sentence(for: .lunch, CoverageDenial(rule: "queue_pressure"), queueHint: false)
                == "Lunch not granted: the queue is under pressure.")
    }

    @Test func nodeOutage() {
        let denial = CoverageDenial(rule: "node_outage", nodesOut: [.init(node: "pbx-2", city: "Lyon")])
        #expect(
            DenialText.sentence(for: .onBreak, denial)
                == "Break not granted: a network node is out (Lyon) — breaks are frozen until it clears. Queue with --queue.")
        #expect(
            DenialText.sentence(for: .training, denial, queueHint: false)
                == "Catalog Training not granted: a network node is out (Lyon) — time off the phones is frozen until it clears.")
        let two = CoverageDenial(
            rule: "node_outage", nodesOut: [.init(node: "pbx-2", city: "Lyon"), .init(node: "pbx-9", city: nil)])
        #expect(
            DenialText.sentence(for: .lunch, two, queueHint: false)
                == "Lunch not granted: 2 network nodes are out (Lyon, pbx-9) — lunches are frozen until they clear.")
        #expect(
            DenialText.sentence(for: .onBreak, CoverageDenial(rule: "node_outage"), queueHint: false)
                == "Break not granted: a network node is out — breaks are frozen until it clears.")
    }

    @Test func cityNamesAreSanitized() {
        let denial = CoverageDenial(rule: "node_outage", nodesOut: [.init(node: "n", city: "Ly\u{1B}[2Jon")])
        let text = DenialText.sentence(for: .onBreak, denial, queueHint: false)
        #expect(!text.unicodeScalars.contains { TextRules.isForbidden($0) })
        #expect(text.contains("(Ly\u{FFFD}[2Jon)"))
    }

    @Test func readsTheErrorData() throws {
        let error = RPCError(
            .deniedByCoverage, "denied",
            data: [
                "rule": "queue_pressure", "team": "floor-a", "available": 4, "required": 2, "on_break": 1,
                "max_on_break": 2, "queue": ["calls_waiting": 11, "oldest_wait_s": 30, "nodes_out": [["node": "pbx-1", "city": "Oslo"]]],
            ])
        let denial = try #require(CoverageDenial(error))
        #expect(denial.rule == "queue_pressure")
        #expect(denial.callsWaiting == 11)
        #expect(denial.oldestWaitSeconds == 30)
        #expect(denial.onBreak == 1)
        #expect(denial.nodesOut == [.init(node: "pbx-1", city: "Oslo")])
        #expect(CoverageDenial(RPCError(.forbidden, "no")) == nil)
    }

    @Test func theTranscriptsDenial() throws {
        // Protocol/examples/05-coverage.jsonl: Bob's break while Alice is on hers.
        let error = try #require(
            RPCError(
                json: try JSONParser.parse(
                    #"{"code":-32010,"data":{"available":2,"max_on_break":1,"on_break":1,"required":1,"rule":"max_on_break","team":"floor-a"},"message":"not granted: 1 agent may be on break at once and 1 is"}"#
                )))
        let denial = try #require(CoverageDenial(error))
        #expect(
            DenialText.sentence(for: .onBreak, denial)
                == "Break not granted: only 1 may be on break at once and 1 is. Queue with --queue.")
    }

    @Test func unknownRuleIsSanitized() {
        let denial = CoverageDenial(rule: "new\u{1B}[2Jrule")
        #expect(DenialText.sentence(for: .admin, denial, queueHint: false) == "Admin not granted (new\u{FFFD}[2Jrule).")
    }
}

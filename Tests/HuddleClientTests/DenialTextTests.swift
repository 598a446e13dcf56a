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

    @Test func maxOnBreak() {
        let denial = CoverageDenial(rule: "max_on_break", available: 5, required: 2, onBreak: 2, maxOnBreak: 2)
        #expect(
            DenialText.sentence(for: .lunch, denial)
                == "Lunch not granted: 2 agents are already on break or lunch and at most 2 may be at once."
                + " Queue with --queue.")
    }

    @Test func queuePressure() {
        let denial = CoverageDenial(rule: "queue_pressure", callsWaiting: 12, oldestWaitSeconds: 360)
        #expect(
            DenialText.sentence(for: .onBreak, denial, queueHint: false)
                == "Break not granted: the queue is under pressure (12 calls waiting, oldest waiting 6m).")
    }

    @Test func nodeOutage() {
        let denial = CoverageDenial(rule: "node_outage", nodesOut: [.init(node: "pbx-2", city: "Lyon")])
        #expect(
            DenialText.sentence(for: .training, denial, queueHint: false)
                == "Catalog Training not granted: phone node pbx-2 in Lyon is out,"
                + " so time off the phones is on hold until it is back.")
    }

    @Test func readsTheErrorData() throws {
        let error = RPCError(
            .deniedByCoverage, "denied",
            data: [
                "rule": "queue_pressure", "available": 4, "required": 2, "on_break": 1, "max_on_break": 2,
                "queue": ["calls_waiting": 11, "oldest_wait_s": 30, "nodes_out": []],
            ])
        let denial = try #require(CoverageDenial(error))
        #expect(denial.rule == "queue_pressure")
        #expect(denial.callsWaiting == 11)
        #expect(denial.oldestWaitSeconds == 30)
        #expect(denial.onBreak == 1)
        #expect(CoverageDenial(RPCError(.forbidden, "no")) == nil)
    }

    @Test func unknownRuleIsSanitized() {
        let denial = CoverageDenial(rule: "new\u{1B}[2Jrule")
        #expect(DenialText.sentence(for: .admin, denial, queueHint: false) == "Admin not granted (new\u{FFFD}[2Jrule).")
    }
}

import HuddleProtocol
import Testing

@testable import HuddleClient

/// The CLI's side of SPEC §14: the questions of `huddle queue`, the request in `huddle watch`
/// and on the board.
@Suite struct QueueRotaClientTests {
    /// Runs the form on scripted answers; returns the figures (or the reason it gave up) and what
    /// it said about answers it could not take.
    func fill(_ answers: [String]) -> (Result<QueueForm.Figures, QueueForm.Abandoned>, [String]) {
        var remaining = answers[...]
        var said: [String] = []
        let result = Result { () throws(QueueForm.Abandoned) in
            try QueueForm().run(ask: { _ in remaining.popFirst() }, say: { said.append($0) })
        }
        return (result, said)
    }

    @Test func theFormReadsThePagesFields() throws {
        let (result, said) = fill(["12", "2:30", "y", "sw-3", "Lyon", "yes", "core-1", "Paris", "", "rush after lunch"])
        let figures = try result.get()
        #expect(figures.callsWaiting == 12 && figures.oldestWaitSeconds == 150)
        #expect(figures.nodesOut == [.init(node: "sw-3", city: "Lyon"), .init(node: "core-1", city: "Paris")])
        #expect(figures.note == "rush after lunch" && said.isEmpty)
        #expect(figures.params["oldest_wait_s"] == 150 && figures.params["nodes_out"]?.arrayValue?.count == 2)
    }

    @Test func minutesReadAsThePageWritesThem() throws {
        #expect(try QueueForm.minutes("3").get() == 180)
        #expect(try QueueForm.minutes("2.5").get() == 150)
        #expect(try QueueForm.minutes("0:45").get() == 45)
        for bad in ["", "-1", "2:75", "abc", "1:2:3", "nan", "inf"] {
            #expect((try? QueueForm.minutes(bad).get()) == nil, "\(bad)")
        }
    }

    @Test func badAnswersAreAskedAgainAndTheEndOfInputSendsNothing() throws {
        let (retried, said) = fill(["many", "-3", "4", "1", "n", ""])
        #expect(try retried.get().callsWaiting == 4)
        #expect(said.count == 2)
        // Three bad answers to one question, or no more input, give up with nothing sent.
        let (gaveUp, _) = fill(["x", "y", "z"])
        #expect(throws: QueueForm.Abandoned.self) { try gaveUp.get() }
        let (ended, _) = fill(["4"])
        #expect(throws: QueueForm.Abandoned.self) { try ended.get() }
        // A comment with a control character is refused.
        let (control, complaints) = fill(["4", "1", "n", "bad\u{7}bell", "fine"])
        #expect(try control.get().note == "fine" && complaints.count == 1)
    }

    @Test func watchShowsTheRequestWithTheCommandThatAnswersIt() throws {
        let at = try #require(Timestamp(rfc3339: "2026-12-07T10:30:00.000Z"))
        let due = QueueReportDue(team: "floor-a", dueBy: at.adding(seconds: 300), askedAt: at)
        let line = EventText.queueReportDueLine(due) { ClockText.timeOfDay($0) }
        #expect(line.hasPrefix("floor-a  Queue report asked of you, due by 10:35:00: run huddle queue --team floor-a"))
        let asked: [String: JSONValue] = [
            "team": "floor-a", "stream": "supervisors", "seq": 3, "at": "2026-12-07T10:35:00.000Z",
            "type": "queue_report_asked", "user": "bob", "request_at": "2026-12-07T10:30:00.000Z",
            "due_by": "2026-12-07T10:40:00.000Z", "reason": "no_answer",
        ]
        let event = WireEvents.notification(asked)
        #expect(
            EventText.line(event) { ClockText.timeOfDay($0) }
                == "10:35:00 floor-a  bob  asked for the queue report, due by 10:40:00 (the one asked before did not answer)")
        #expect(EventText.line(event, viewer: "bob") { ClockText.timeOfDay($0) }.contains("run: huddle queue --team floor-a"))
        var nobody = asked
        nobody["user"] = .null
        nobody["due_by"] = .null
        #expect(EventText.line(WireEvents.notification(nobody)) { ClockText.timeOfDay($0) }.contains("nobody to ask"))
    }

    @Test func theBoardKeepsTheRequestUntilAReport() throws {
        var team = TeamBoard(name: "floor-a", supervisorsSeq: 0)
        let asked: [String: JSONValue] = [
            "team": "floor-a", "stream": "supervisors", "seq": 1, "at": "2026-12-07T10:30:00.000Z",
            "type": "queue_report_asked", "user": "bob", "request_at": "2026-12-07T10:30:00.000Z",
            "due_by": "2026-12-07T10:35:00.000Z", "reason": "due",
        ]
        let took = team.apply(WireEvents.notification(asked))
        #expect(took)
        #expect(team.reportRequest?.asked == "bob")
        let report: [String: JSONValue] = [
            "team": "floor-a", "stream": "team", "seq": 1, "at": "2026-12-07T10:31:00.000Z", "type": "queue",
            "by": "bob", "calls_waiting": 3, "oldest_wait_s": 40, "nodes_out": [], "note": "", "pressure": false,
            "node_outage": false,
        ]
        let tookReport = team.apply(WireEvents.notification(report))
        #expect(tookReport)
        #expect(team.reportRequest == nil)
    }

    @Test func policyTakesTheRotaWords() {
        #expect(PolicyAssignments.value("agents") == .string("agents"))
        #expect(PolicyAssignments.value("bots") == .string("bots"))
    }
}

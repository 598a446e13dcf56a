import Testing

@testable import HuddleProtocol

/// The field-by-field lines must be byte for byte what the generic writer makes of `params`:
/// what clients parse, what is stored and what replays splice.
@Suite struct EventLineTests {
    static let texts = [
        "", "15, be right back", "quote \" and backslash \\", "tab\tnew\nline", "\u{1}\u{1F}\u{7F}", "é 😀 中文",
        "</script>", String(repeating: "x", count: 140),
    ]
    static let times = [Timestamp(milliseconds: 0), Timestamp(milliseconds: 1_795_425_302_120), Timestamp(milliseconds: -1)]

    static var events: [Event] {
        var events: [Event] = []
        var seq: Int64 = 0
        func add(_ payload: EventPayload, team: String = "floor-a", at: Timestamp = times[1]) {
            seq += 1
            events.append(Event(team: team, seq: seq, at: at, payload: payload))
        }
        for (i, text) in texts.enumerated() {
            let time = times[i % times.count]
            for status in Status.allCases {
                add(
                    .status(
                        StatusEvent(
                            user: "alice", status: status, note: text, since: time,
                            expectedUntil: i.isMultiple(of: 2) ? nil : time.adding(seconds: 900), by: i == 3 ? "system" : text,
                            reason: i == 4 ? .abusiveCall : nil)), team: text.isEmpty ? "t" : "floor-\(i)", at: time)
            }
            add(.presence(user: text.isEmpty ? "bob" : text, connected: i.isMultiple(of: 2)))
            add(.message(user: "sam", text: text))
        }
        add(.coverage(CoverageFigures(available: 3, required: 2, onBreak: 1, maxOnBreak: 2)))
        add(.coverage(CoverageFigures(available: 0, required: 2, onBreak: 0, maxOnBreak: 2)))
        add(.coverage(CoverageFigures(available: 2, required: 2, onBreak: 5, maxOnBreak: 2)))
        add(
            .coverage(
                CoverageFigures(
                    available: 7, required: 8, onBreak: 1, maxOnBreak: 3,
                    requiredFrom: .init(callsPerHour: 60, ahtSeconds: 300.5, target: 0.8, withinSeconds: 20))))
        seq = Int64.max - 1
        add(.message(user: "sam", text: "last"))
        return events
    }

    @Test func theCommonKindsAreWrittenAsTheGenericWriterWritesThem() throws {
        for event in Self.events {
            let direct = try #require(EventLine.encode(event))
            let generic = RPCFrame.notification("event", event.params)
            #expect(direct == generic, "\(String(decoding: direct, as: UTF8.self))")
        }
    }

    @Test func otherKindsTakeTheGenericWay() {
        let event = Event(team: "t", seq: 1, at: Self.times[1], payload: .waitlist([]))
        #expect(EventLine.encode(event) == nil)
        #expect(event.encodedLine() == RPCFrame.notification("event", event.params))
    }
}

import Testing

@testable import HuddleServer
@testable import HuddleStore

@Suite struct ReplayInterleaveTests {
    func lines(_ events: [(text: String, at: Int64)]) -> StoredLines {
        var lines = StoredLines()
        for event in events {
            lines.bytes += Array(event.text.utf8) + [0x0A]
            lines.ends.append(lines.bytes.count)
            lines.ats.append(event.at)
        }
        return lines
    }

    /// A supervisor's replay: two streams merged by time, the team's first on a tie, and each
    /// stream kept in its own order even where its clock once stepped back.
    @Test func twoStreamsInterleaveByTimeAndKeepTheirOrder() {
        let team = lines([("t1", 10), ("t2", 20), ("t3", 15), ("t4", 40)])
        let supervisors = lines([("s1", 20), ("s2", 30)])
        let merged = String(decoding: Hub.interleave([team, supervisors]), as: UTF8.self)
        #expect(merged == "t1\nt2\nt3\ns1\ns2\nt4\n")
    }

    @Test func oneStreamIsItsBytes() {
        let team = lines([("a", 1), ("b", 2)])
        #expect(Hub.interleave([team]) == team.bytes)
        #expect(Hub.interleave([]).isEmpty)
        #expect(Hub.interleave([team, StoredLines()]) == team.bytes)
    }
}

import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct DurationTextTests {
    static let cases: [(Int64, String)] = [
        (0, "0s"), (45, "45s"), (59, "59s"), (60, "1m"), (779, "12m"), (3599, "59m"),
        (3600, "1h00m"), (3900, "1h05m"), (38520, "10h42m"), (97200, "1d03h"), (-5, "0s"),
    ]

    @Test(arguments: cases)
    func short(seconds: Int64, expected: String) {
        #expect(DurationText.short(seconds: seconds) == expected)
    }

    @Test func betweenTimestamps() {
        let start = Timestamp(rfc3339: "2026-11-23T09:00:00.000Z")!
        let end = Timestamp(rfc3339: "2026-11-23T09:12:30.500Z")!
        #expect(DurationText.short(from: start, to: end) == "12m")
    }

    @Test func timeOfDay() {
        let time = Timestamp(rfc3339: "2026-11-23T09:15:02.120Z")!
        #expect(ClockText.timeOfDay(time) == "09:15:02")
        #expect(ClockText.timeOfDay(time, offsetSeconds: 3600) == "10:15:02")
        #expect(ClockText.timeOfDay(time, offsetSeconds: -10 * 3600) == "23:15:02")
        #expect(ClockText.hourMinute(time) == "09:15")
    }
}

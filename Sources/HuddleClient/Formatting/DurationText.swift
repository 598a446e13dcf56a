#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import HuddleProtocol

/// Short human durations as the floor reads them on a board: `45s`, `12m`, `1h05m`, `2d03h`.
public enum DurationText {
    /// Whole units, rounded down; negative durations read as zero.
    public static func short(seconds: Int64) -> String {
        let s = max(0, seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return "\(s / 3600)h" + twoDigits((s % 3600) / 60) + "m" }
        return "\(s / 86400)d" + twoDigits((s % 86400) / 3600) + "h"
    }

    public static func short(from start: Timestamp, to end: Timestamp) -> String {
        short(seconds: (end.milliseconds - start.milliseconds) / 1000)
    }

    static func twoDigits(_ value: Int64) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}

/// Wall-clock times for display.
public enum ClockText {
    /// `HH:MM:SS` in UTC shifted by `offsetSeconds`.
    public static func timeOfDay(_ time: Timestamp, offsetSeconds: Int = 0) -> String {
        let seconds = time.milliseconds / 1000 + Int64(offsetSeconds)
        let secondOfDay = ((seconds % 86400) + 86400) % 86400
        return DurationText.twoDigits(secondOfDay / 3600) + ":" + DurationText.twoDigits(secondOfDay / 60 % 60)
            + ":" + DurationText.twoDigits(secondOfDay % 60)
    }

    /// `HH:MM` in UTC shifted by `offsetSeconds`.
    public static func hourMinute(_ time: Timestamp, offsetSeconds: Int = 0) -> String {
        String(timeOfDay(time, offsetSeconds: offsetSeconds).prefix(5))
    }

    /// `2026-11-23 09:15` in UTC shifted by `offsetSeconds`.
    public static func dateTime(_ time: Timestamp, offsetSeconds: Int = 0) -> String {
        let text = time.adding(seconds: Int64(offsetSeconds)).rfc3339
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(5))
    }

    /// `2026-11-23 09:15` in the local time zone.
    public static func localDateTime(_ time: Timestamp) -> String {
        dateTime(time, offsetSeconds: localOffsetSeconds(at: time))
    }

    /// The local time zone's offset from UTC at `time`, daylight saving included.
    public static func localOffsetSeconds(at time: Timestamp) -> Int {
        var seconds = time_t(time.milliseconds / 1000)
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return 0 }
        return Int(parts.tm_gmtoff)
    }

    /// `HH:MM:SS` in the local time zone.
    public static func localTimeOfDay(_ time: Timestamp) -> String {
        timeOfDay(time, offsetSeconds: localOffsetSeconds(at: time))
    }

    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}

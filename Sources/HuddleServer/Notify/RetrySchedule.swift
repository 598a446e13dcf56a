import Foundation
import HuddleProtocol

/// When a notice that was not delivered is tried again (SPEC §12): exponential backoff from
/// 1 s up to 15 min between tries, with jitter (so that targets that failed together do not
/// come back together), honouring a receiver's `Retry-After` within the same ceiling; given up
/// 24 h after the notice was queued.
struct RetrySchedule: Sendable {
    var first: Int64 = 1_000
    var ceiling: Int64 = 15 * 60 * 1_000
    var giveUpAfter: Int64 = 24 * 60 * 60 * 1_000

    enum Next: Equatable {
        case retry(at: Timestamp)
        case giveUp
    }

    /// After the `attempts`-th failed try (1 for the first) at `now`. `jitter` is in [0, 1): the
    /// delay is drawn from its upper half, so it never falls below half the backoff.
    func next(
        attempts: Int, queuedAt: Timestamp, now: Timestamp, retryAfterSeconds: Int64? = nil, jitter: Double
    ) -> Next {
        let exponent = min(max(attempts - 1, 0), 30)
        let backoff = min(ceiling, first << Int64(exponent))
        var delay = Int64(Double(backoff) * (0.5 + 0.5 * min(max(jitter, 0), 1)))
        if let retryAfterSeconds { delay = max(delay, min(ceiling, retryAfterSeconds * 1_000)) }
        let at = now.adding(milliseconds: max(delay, 1))
        return at.milliseconds - queuedAt.milliseconds > giveUpAfter ? .giveUp : .retry(at: at)
    }

    /// `Retry-After` in seconds, or as an HTTP date, against `now`.
    static func retryAfter(_ value: String?, now: Timestamp) -> Int64? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int64(value) { return max(seconds, 0) }
        guard let date = HTTPDate.parse(value) else { return nil }
        return max((date.milliseconds - now.milliseconds) / 1_000, 0)
    }
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110 asks senders to use.
enum HTTPDate {
    static func parse(_ text: String) -> Timestamp? {
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]),
            let month = months.firstIndex(of: String(parts[2])), let year = Int(parts[3])
        else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3 else { return nil }
        let rfc3339 = String(
            format: "%04d-%02d-%02dT%02d:%02d:%02dZ", year, month + 1, day, clock[0], clock[1], clock[2])
        return Timestamp(rfc3339: rfc3339)
    }
}

import HuddleProtocol

/// A token bucket: `ratePerSecond` refill, `burst` capacity. Time is passed in (milliseconds of
/// a monotonic clock) so that it is tested without sleeping.
public struct RateLimiter: Sendable {
    public var ratePerSecond: Double
    public var burst: Double
    private var tokens: Double
    private var lastMillis: Int64

    public init(ratePerSecond: Double, burst: Double, nowMillis: Int64) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.tokens = burst
        self.lastMillis = nowMillis
    }

    /// Takes one token; when none is left returns how long until one is.
    public mutating func take(nowMillis: Int64) -> Int64? {
        let elapsed = Double(max(0, nowMillis - lastMillis)) / 1000
        lastMillis = nowMillis
        tokens = min(burst, tokens + elapsed * ratePerSecond)
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return Int64(((1 - tokens) / ratePerSecond * 1000).rounded(.up))
    }

    /// A new rate; the bucket starts full again (used once, when a bot says hello).
    public mutating func reset(ratePerSecond: Double, burst: Double) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        tokens = burst
    }
}

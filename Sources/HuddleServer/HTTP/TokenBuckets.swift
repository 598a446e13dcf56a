import NIOConcurrencyHelpers

/// The HTTP side's rate limit: one token bucket per authenticated user (one token each), at the
/// bots' rates, read from the configuration on each request so that a SIGHUP applies at once.
/// Keyed only after authentication, so a stranger cannot drain a bot's bucket with bad tokens,
/// and the map is bounded by the number of users.
final class TokenBuckets: Sendable {
    private let buckets = NIOLockedValueBox<[String: RateLimiter]>([:])

    /// Takes one request from `user`'s bucket: nil when it may go on, otherwise the
    /// milliseconds until it may.
    func take(_ user: String, ratePerSecond: Double, burst: Double, nowMillis: Int64) -> Int64? {
        buckets.withLockedValue { buckets in
            var limiter =
                buckets[user] ?? RateLimiter(ratePerSecond: ratePerSecond, burst: burst, nowMillis: nowMillis)
            if limiter.ratePerSecond != ratePerSecond || limiter.burst != burst {
                limiter.reset(ratePerSecond: ratePerSecond, burst: burst)
            }
            let wait = limiter.take(nowMillis: nowMillis)
            buckets[user] = limiter
            return wait
        }
    }
}

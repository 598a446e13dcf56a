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

/// Failed authentications per address on the HTTP side: each 401 takes a token from its
/// address's bucket (`http-auth-failures-per-min`, the same figure as burst); an address with
/// none left is answered 429 before its token is even looked at, so guessing tokens, or making
/// the daemon look up unknown ones (`AdminRefresh`), costs a stranger a minute per handful.
/// At most `maxAddresses` are remembered; past that, buckets that have refilled are forgotten
/// first, and all of them if none has (a flood from that many addresses is beyond what a
/// per-address figure can stop; the look-ups stay coalesced).
final class AuthFailureBuckets: Sendable {
    static let maxAddresses = 10_000
    private let buckets = NIOLockedValueBox<[String: (limiter: RateLimiter, blockedUntil: Int64)]>([:])

    /// Nil when `address` may try; otherwise the milliseconds until it may.
    func blocked(_ address: String, nowMillis: Int64) -> Int64? {
        buckets.withLockedValue { buckets in
            guard let entry = buckets[address], entry.blockedUntil > nowMillis else { return nil }
            return entry.blockedUntil - nowMillis
        }
    }

    /// Counts one failure of `address`.
    func failed(_ address: String, perMinute: Double, nowMillis: Int64) {
        buckets.withLockedValue { buckets in
            if buckets[address] == nil, buckets.count >= Self.maxAddresses {
                buckets = buckets.filter { $0.value.blockedUntil > nowMillis }
                if buckets.count >= Self.maxAddresses { buckets.removeAll() }
            }
            var entry =
                buckets[address]
                ?? (RateLimiter(ratePerSecond: perMinute / 60, burst: perMinute, nowMillis: nowMillis), 0)
            _ = entry.limiter.take(nowMillis: nowMillis)
            // Blocked as soon as the budget is spent: the next failure would be one too many.
            var probe = entry.limiter
            if let wait = probe.take(nowMillis: nowMillis) { entry.blockedUntil = nowMillis + wait }
            buckets[address] = entry
        }
    }
}

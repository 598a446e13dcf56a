import Testing

@testable import HuddleServer

@Suite struct RateLimiterTests {
    @Test func burstThenRate() {
        var limiter = RateLimiter(ratePerSecond: 20, burst: 40, nowMillis: 0)
        for _ in 0..<40 { #expect(limiter.take(nowMillis: 0) == nil) }
        #expect(limiter.take(nowMillis: 0) == 50)
        #expect(limiter.take(nowMillis: 50) == nil)
        #expect(limiter.take(nowMillis: 60) == 40)
        #expect(limiter.take(nowMillis: 10_000) == nil)
    }

    @Test func refillNeverExceedsBurst() {
        var limiter = RateLimiter(ratePerSecond: 1, burst: 2, nowMillis: 0)
        #expect(limiter.take(nowMillis: 1_000_000) == nil)
        #expect(limiter.take(nowMillis: 1_000_000) == nil)
        #expect(limiter.take(nowMillis: 1_000_000) != nil)
    }
}

import Testing

@testable import HuddleServer

/// What `/healthz` reports, from the outcomes the commit pipeline and `Durability` feed in, on
/// instants given by the test (no waiting).
@Suite struct StoreHealthTests {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let start = ContinuousClock.now

    @Test func failingCommitsAreAProblemUntilOneSucceeds() {
        let health = StoreHealth(now: start)
        #expect(health.problems(at: start + .seconds(1)).isEmpty)
        health.commitFinished(Result<Void, Failure>.failure(Failure(description: "database is locked")), at: start)
        health.commitFinished(Result<Void, Failure>.failure(Failure(description: "database is locked")), at: start + .seconds(2))
        health.synced(startedAt: start + .seconds(2))
        let problems = health.problems(at: start + .seconds(3))
        #expect(problems.count == 1)
        #expect(problems.first?.contains("the last 2 failed, over 3.0 s (database is locked)") == true, "\(problems)")
        health.commitFinished(Result<Void, Failure>.success(()))
        #expect(health.problems(at: start + .seconds(3)).isEmpty)
    }

    @Test func aSyncOlderThanTheLimitIsAProblemWithTheReason() {
        let health = StoreHealth(now: start)
        #expect(health.problems(at: start + StoreHealth.stuckAfter).isEmpty)
        #expect(health.problems(at: start + StoreHealth.stuckAfter + .milliseconds(100)).first?.contains("a sync is taking that long") == true)
        #expect(health.syncFailed(Failure(description: "I/O error"), at: start + .seconds(1)), "the first failure is the one logged")
        #expect(!health.syncFailed(Failure(description: "I/O error"), at: start + .seconds(2)))
        let problems = health.problems(at: start + .seconds(6))
        #expect(problems == ["the WAL has not reached the disk for 6.0 s (2 syncs failed: I/O error)"])
        health.synced(startedAt: start + .seconds(6))
        #expect(health.problems(at: start + .seconds(7)).isEmpty)
    }

    @Test func checkpointsFailingForLongerThanTheLimitAreAProblem() {
        let health = StoreHealth(now: start)
        #expect(health.checkpointFailed(Failure(description: "disk full"), at: start))
        health.synced(startedAt: start + .seconds(9))
        #expect(health.problems(at: start + .seconds(4)).isEmpty, "a few failed checkpoints are not yet a problem")
        #expect(health.problems(at: start + .seconds(9)).first?.contains("checkpoints have failed for 9.0 s") == true)
        #expect(health.checkpointSucceeded(), "the recovery is reported")
        #expect(!health.checkpointSucceeded())
        #expect(health.problems(at: start + .seconds(9)).isEmpty)
    }
}

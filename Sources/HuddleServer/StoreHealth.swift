import HuddleStore
import NIOConcurrencyHelpers

/// Whether the store does its job, for `/healthz`: commits succeed, the WAL reaches the disk
/// within the sync window, checkpoints work. Fed by the commit pipeline and by `Durability`;
/// read by the HTTP side. Ages are measured on the monotonic clock.
public final class StoreHealth: Sendable {
    /// A sync older than this, or checkpoints failing for longer, is a problem worth a 503: many
    /// times the 200 ms window, so a disk that is briefly slow does not flap the health check.
    public static let stuckAfter: Duration = .seconds(5)

    struct Failing {
        var since: ContinuousClock.Instant
        var count: Int
        var error: String
        var onALock = false
    }

    struct State {
        var commits: Failing?
        var syncedAt: ContinuousClock.Instant
        var sync: Failing?
        var checkpoints: Failing?
    }

    private let state: NIOLockedValueBox<State>

    public init(now: ContinuousClock.Instant = .now) {
        state = NIOLockedValueBox(State(syncedAt: now))
    }

    private static func failed(_ failing: inout Failing?, _ error: any Error, at now: ContinuousClock.Instant) {
        failing = Failing(since: failing?.since ?? now, count: (failing?.count ?? 0) + 1, error: "\(error)")
    }

    func commitFinished(_ result: Result<Void, some Error>, at now: ContinuousClock.Instant = .now) {
        state.withLockedValue { state in
            switch result {
            case .success: state.commits = nil
            case .failure(let error):
                Self.failed(&state.commits, error, at: now)
                state.commits?.onALock = Store.isLockError(error)
            }
        }
    }

    /// Commits fail, and the last one on another process's lock.
    var commitsFailingOnALock: Bool { state.withLockedValue { $0.commits?.onALock ?? false } }

    /// A sync that began at `startedAt` succeeded: everything committed before then is on disk.
    func synced(startedAt: ContinuousClock.Instant) {
        state.withLockedValue { state in
            state.syncedAt = max(state.syncedAt, startedAt)
            state.sync = nil
        }
    }

    /// Returns true for the first failure of a run of them (the one to log).
    func syncFailed(_ error: any Error, at now: ContinuousClock.Instant = .now) -> Bool {
        state.withLockedValue { state in
            Self.failed(&state.sync, error, at: now)
            return state.sync?.count == 1
        }
    }

    /// Returns true when checkpoints were failing until now.
    func checkpointSucceeded() -> Bool {
        state.withLockedValue { state in
            defer { state.checkpoints = nil }
            return state.checkpoints != nil
        }
    }

    /// Returns true for the first failure of a run of them.
    func checkpointFailed(_ error: any Error, at now: ContinuousClock.Instant = .now) -> Bool {
        state.withLockedValue { state in
            Self.failed(&state.checkpoints, error, at: now)
            return state.checkpoints?.count == 1
        }
    }

    /// What is wrong at `now`, one sentence each; empty when all is well.
    public func problems(at now: ContinuousClock.Instant = .now) -> [String] {
        state.withLockedValue { state in
            var problems: [String] = []
            if let commits = state.commits {
                problems.append(
                    "commits are failing: the last \(commits.count) failed, over \(Self.seconds(now - commits.since)) s (\(commits.error))")
            }
            let unsynced = now - state.syncedAt
            if unsynced > Self.stuckAfter {
                problems.append(
                    "the WAL has not reached the disk for \(Self.seconds(unsynced)) s"
                        + (state.sync.map { " (\($0.count) syncs failed: \($0.error))" } ?? " (a sync is taking that long)"))
            }
            if let checkpoints = state.checkpoints, now - checkpoints.since > Self.stuckAfter {
                problems.append(
                    "WAL checkpoints have failed for \(Self.seconds(now - checkpoints.since)) s, so the WAL grows (\(checkpoints.error))")
            }
            return problems
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        return "\(whole).\(fraction / 100_000_000_000_000_000)"
    }
}

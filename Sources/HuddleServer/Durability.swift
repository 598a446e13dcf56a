import Foundation
import HuddleStore
import Logging
import ServiceLifecycle

/// Gets commits to the disk and keeps the WAL short, in two loops that cannot hold each other
/// up: a sync may not wait for a checkpoint copying pages, nor for the writer, which a locked
/// database holds for the busy timeout.
///
/// - Every `syncInterval` the WAL is synced (`Store.syncLog`, whatever readers do): a commit
///   acknowledged at time t is on disk by t + 200 ms + one sync's duration. A sync that fails,
///   or that takes longer than `slowSync`, is logged and counted, and `/healthz` turns 503 when
///   none has succeeded for `StoreHealth.stuckAfter`.
/// - Every `checkpointInterval` committed pages are copied from the WAL into the database
///   (`Store.checkpoint`); past `restartPages` the writer's connection finishes the job so that
///   the WAL starts over instead of growing for as long as the load lasts. Durability does not
///   depend on it any more.
/// - While commits fail on another process's lock, a probe tells when it is released.
public struct Durability: Service {
    let hub: Hub
    /// SQLite's upkeep needs the SQLite store itself, not the hub's view of a store.
    let store: Store
    let lineage: Lineage?
    let logger: Logger

    static let syncInterval: Duration = .milliseconds(200)
    static let checkpointInterval: Duration = .milliseconds(200)
    static let slowSync: Duration = .seconds(1)
    static let probeInterval: Duration = .seconds(2)
    /// How often the side file's events watermark follows the syncs.
    static let watermarkInterval: Duration = .seconds(1)
    /// WAL pages (4 KiB each) past which the log is started over.
    static let restartPages = 1024

    public init(hub: Hub, store: Store, lineage: Lineage?, logger: Logger) {
        self.store = store
        self.hub = hub
        self.lineage = lineage
        self.logger = logger
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await syncLoop() }
            group.addTask { await checkpointLoop() }
            group.addTask { await probeLoop() }
        }
    }

    /// While commits fail on another process's lock, the write lock is tried every
    /// `probeInterval`, so that `/healthz` turns ok again once it is released even if nobody
    /// commits meanwhile (a quiet floor). Other failures (a full disk) wait for a real commit.
    func probeLoop() async {
        while await Self.sleep(until: ContinuousClock.now + Self.probeInterval) {
            guard hub.health.commitsFailingOnALock else { continue }
            let result: Result<Void, any Error>
            do {
                try await store.probeWriteLock()
                result = .success(())
            } catch {
                result = .failure(error)
            }
            hub.health.commitFinished(result)
            if case .success = result { logger.notice("the database is no longer locked by another process") }
        }
    }

    /// Sleeps until `deadline`; false when the daemon stops.
    private static func sleep(until deadline: ContinuousClock.Instant) async -> Bool {
        do {
            try await Task.sleep(until: deadline, clock: .continuous)
        } catch {
            return false
        }
        return !Task.isCancelled && !Task.isShuttingDownGracefully
    }

    func syncLoop() async {
        var next = ContinuousClock.now + Self.syncInterval
        var watermark = lineage
        var watermarkWritten = ContinuousClock.now
        var watermarkFailing = false
        while await Self.sleep(until: next) {
            let started = ContinuousClock.now
            let startedUnix = Date().timeIntervalSince1970
            next = started + Self.syncInterval
            do {
                let events = try await store.syncLog()
                let took = ContinuousClock.now - started
                hub.health.synced(startedAt: started)
                ServerMetrics.walSynced(unixTime: startedUnix, took: took)
                if took > Self.slowSync {
                    logger.warning(
                        "syncing the WAL took \(StoreHealth.seconds(took)) s: commits reached the disk that much later than 200 ms")
                }
                if var current = watermark, current.events != events,
                    ContinuousClock.now - watermarkWritten >= Self.watermarkInterval
                {
                    current.events = events
                    watermarkWritten = ContinuousClock.now
                    do {
                        try await store.recordOnDisk(current)
                        watermark = current
                        if watermarkFailing {
                            watermarkFailing = false
                            logger.notice("huddle.run is written again")
                        }
                    } catch {
                        // Not a sync failure: the commits are on disk, only the record of how
                        // many lags, which weakens restore detection until it is written.
                        if !watermarkFailing {
                            watermarkFailing = true
                            logger.warning("cannot update huddle.run; retrying every second", metadata: ["error": "\(error)"])
                        }
                    }
                }
            } catch {
                ServerMetrics.walSyncFailed()
                if hub.health.syncFailed(error) {
                    logger.error(
                        "syncing the WAL failed: commits are not reaching the disk; retrying every 200 ms",
                        metadata: ["error": "\(error)"])
                }
            }
        }
    }

    func checkpointLoop() async {
        var next = ContinuousClock.now + Self.checkpointInterval
        while await Self.sleep(until: next) {
            next = ContinuousClock.now + Self.checkpointInterval
            do {
                let (walPages, _) = try await store.checkpoint()
                if walPages > Self.restartPages { try await store.restartLog() }
                if hub.health.checkpointSucceeded() { logger.notice("WAL checkpoints work again") }
            } catch {
                ServerMetrics.walCheckpointFailed()
                // Once per run of failures, not five times a second (a full disk fails every one).
                if hub.health.checkpointFailed(error) {
                    logger.error("WAL checkpoint failed; retrying every 200 ms", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

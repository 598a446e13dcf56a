import HuddleProtocol
import Logging
import ServiceLifecycle

/// The daemon's clockwork: runs due timers (presence grace), checkpoints the WAL and prunes
/// history past its retention. (Admin changes are `AdminChanges`'.)
public struct Housekeeping: Service {
    let hub: Hub
    let logger: Logger

    /// WAL pages (4 KiB each) past which the log is started over.
    static let restartPages = 1024

    public init(hub: Hub, logger: Logger) {
        self.hub = hub
        self.logger = logger
    }

    public func run() async throws {
        var ticks = 0
        var checkpointFailing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await Task.sleep(for: .milliseconds(200))
            } catch {
                return
            }
            hub.tick()
            ticks += 1
            // The WAL is checkpointed here rather than inside a commit (see `Store.init`). Past a
            // few megabytes, the writer's own connection finishes the job so that the WAL starts
            // over instead of growing for as long as the load lasts.
            do {
                let (walPages, _) = try await hub.store.checkpoint()
                if walPages > Self.restartPages { try await hub.store.restartLog() }
                if checkpointFailing {
                    checkpointFailing = false
                    logger.notice("WAL checkpoints work again")
                }
            } catch {
                // Once per failure, not five times a second (a full disk fails every one).
                if !checkpointFailing {
                    checkpointFailing = true
                    logger.error("WAL checkpoint failed; retrying", metadata: ["error": "\(error)"])
                }
            }
            if ticks % 50 == 0 { Allocator.returnFreeMemory() }
            if ticks % 18_000 == 1 {
                let cutoff = hub.clock.now().adding(seconds: -hub.config.historyDays * 86_400)
                if let pruned = try? await hub.store.prune(before: cutoff), pruned > 0 {
                    logger.info("pruned history", metadata: ["events": "\(pruned)"])
                }
            }
        }
    }
}

import HuddleProtocol
import Logging
import ServiceLifecycle

/// Deletes history past `history-days`, at start and then hourly, in a task of its own: a prune
/// of a large backlog is one long transaction, and nothing that must run on time (timers, WAL
/// syncs) waits for it.
public struct HistoryPruning: Service {
    let hub: Hub
    let logger: Logger

    static let interval: Duration = .seconds(3600)

    public init(hub: Hub, logger: Logger) {
        self.hub = hub
        self.logger = logger
    }

    public func run() async throws {
        repeat {
            let cutoff = hub.clock.now().adding(seconds: -hub.config.historyDays * 86_400)
            do {
                let pruned = try await hub.store.prune(before: cutoff)
                if pruned > 0 { logger.info("pruned history", metadata: ["events": "\(pruned)"]) }
            } catch {
                logger.warning("pruning history failed; trying again in an hour", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: Self.interval) }
            } catch {
                return
            }
        } while !Task.isCancelled && !Task.isShuttingDownGracefully
    }
}

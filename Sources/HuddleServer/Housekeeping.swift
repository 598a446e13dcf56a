import HuddleProtocol
import Logging
import ServiceLifecycle

/// The daemon's clockwork: runs due timers (presence grace). (Admin changes are
/// `AdminChanges`'; WAL syncs and checkpoints are `Durability`'s, pruning is `HistoryPruning`'s:
/// none of them may wait for another.)
public struct Housekeeping: Service {
    let hub: Hub
    let logger: Logger

    public init(hub: Hub, logger: Logger) {
        self.hub = hub
        self.logger = logger
    }

    public func run() async throws {
        var ticks = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await Task.sleep(for: .milliseconds(200))
            } catch {
                return
            }
            hub.tick()
            ticks += 1
            if ticks % 50 == 0 { Allocator.returnFreeMemory() }
        }
    }
}

import Foundation
import HuddleCore
import HuddleProtocol
import HuddleStore

#if canImport(Glibc)
import Glibc
#endif

/// The cost of committing status changes through HuddleStore alone (no sockets, no hub): batches
/// the size group commit makes under load, each change a `status` event plus, now and then, a
/// `coverage` one, into a fresh database.
///   swift run -c release huddle-commit-bench [BATCHES] [BATCH-SIZE] [DIRECTORY] [checkpoint|commit]
@main
enum CommitBench {
    static func nowNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func main() async throws {
        let arguments = CommandLine.arguments
        let batches = arguments.count > 1 ? Int(arguments[1]) ?? 2_000 : 2_000
        let batchSize = arguments.count > 2 ? Int(arguments[2]) ?? 50 : 50
        let parent = arguments.count > 3 ? arguments[3] : NSTemporaryDirectory()
        let sync = arguments.count > 4 ? Store.Sync(rawValue: arguments[4]) ?? .checkpoint : .checkpoint
        let directory = (parent as NSString).appendingPathComponent("huddle-commit-bench-\(getpid())")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let store = try Store(path: directory + "/huddle.sqlite", sync: sync, backgroundCheckpoints: true)
        let agents = 100
        var now = Timestamp(milliseconds: 1_795_425_302_120)
        _ = try store.addTeam("bench", now: now)
        for i in 0..<agents { _ = try store.addUser("agent\(i)", role: .agent, teams: ["bench"], now: now) }
        var floor = try store.loadFloor().floor
        floor.teams["bench"]?.policy.minAvailable = .fixed(0)
        floor.teams["bench"]?.policy.maxOnBreak = 1_000
        for i in 0..<agents { floor.setLive("agent\(i)", true) }

        // The store writes each batch with the state it leaves, read off the committed floor as
        // the commit pipeline does; that reading is timed on its own below.
        var committed = floor
        var pending: [(events: [EncodedEvent], state: FloorChanges)] = []
        var stateNanos: UInt64 = 0
        for b in 0..<batches {
            var events: [Event] = []
            for k in 0..<batchSize {
                now = now.adding(milliseconds: 1)
                let name = "agent\((b * batchSize + k) % agents)"
                let target: Status = floor.users[name]?.status.status == .available ? .onBreak : .available
                events += (try? floor.setOwnStatus(user: name, StatusRequest(status: target), now: now).1) ?? []
            }
            events += floor.settle(["bench"], now: now)
            let started = nowNanos()
            let state = committed.changes(applying: events)
            stateNanos += nowNanos() - started
            for event in events { committed.apply(event) }
            pending.append((events.map(EncodedEvent.init), state))
        }
        let eventCount = pending.reduce(0) { $0 + $1.events.count }
        var checkpoints = 0
        let start = nowNanos()
        for (i, batch) in pending.enumerated() {
            try await store.commit(batch.events, state: batch.state)
            // As the daemon's housekeeping does, every 200 ms or so at this rate.
            if i % 64 == 63 {
                try await store.checkpoint()
                checkpoints += 1
            }
        }
        let elapsed = Double(nowNanos() - start) / 1e9
        let perEvent = elapsed / Double(eventCount) * 1e6
        let perBatch = elapsed / Double(batches) * 1e3
        let statePerEvent = Double(stateNanos) / Double(eventCount) / 1e3
        print(
            "commit cost: \(String(format: "%.2f", perEvent)) µs per event, \(String(format: "%.3f", perBatch)) ms per batch (\(batches) batches of \(batchSize) changes, \(eventCount) events, \(checkpoints) checkpoints, sync \(sync.rawValue), in \(directory)); reading the state a batch leaves: \(String(format: "%.2f", statePerEvent)) µs per event"
        )
        print(#"{"bench":"commit","microseconds_per_event":\#(perEvent),"milliseconds_per_batch":\#(perBatch),"events":\#(eventCount),"batches":\#(batches),"state_microseconds_per_event":\#(statePerEvent)}"#)
        try store.close()
    }
}

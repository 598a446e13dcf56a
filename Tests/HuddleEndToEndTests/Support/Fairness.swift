import Foundation

/// Runs blocking work (a socket read with a timeout, a pipe read) on a thread of its own: on the
/// test process's cooperative pool (two threads on two cores) it would stall every other test's
/// tasks for as long as it waits, and their daemons would close them for not saying hello.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}

/// One heavy test at a time (10,000-event replays, stuck readers under a flood of messages):
/// side by side on two cores with each other and sixty lighter tests, they starve everyone's
/// TLS handshakes and first requests past any deadline worth testing. Lighter tests still run
/// beside the one heavy test.
actor HeavyTests {
    static let shared = HeavyTests()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    static func one<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await shared.acquire()
        do {
            let value = try await body()
            await shared.release()
            return value
        } catch {
            await shared.release()
            throw error
        }
    }

    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}

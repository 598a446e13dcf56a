import NIOConcurrencyHelpers

/// Wakes one waiting task: `ring` from anywhere (a commit's completion, another task), `wait`
/// until the next ring or a timeout. A ring with nobody waiting is kept for the next `wait`, so
/// none is lost between a look at the outbox and the wait that follows it.
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func ring() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns at the next ring (or one that came since the last wait), after `timeout`, or when
    /// the task is cancelled. One task waits on a bell at a time.
    func wait(timeout: Duration) async {
        let already = state.withLockedValue { state -> Bool in
            defer { state.rung = false }
            return state.rung
        }
        if already || Task.isCancelled { return }
        let timer = Task { [self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            ring()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            ring()
        }
        timer.cancel()
    }
}

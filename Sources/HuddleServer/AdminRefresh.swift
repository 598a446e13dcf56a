import NIOConcurrencyHelpers

/// Looks at the admin changes committed so far before the daemon refuses anything that a recent
/// `huddled user|team …` could have made valid (an unknown token, an unknown team): SPEC §9 says
/// such a change is in force on the very next request.
///
/// Callers register what to do once the database has been looked at (`afterNextLook`); the
/// `AdminChanges` service does the looking. Every caller that registered before a look started
/// is served by that look, and the looks are spaced (`minimumSpacing`), so a flood of bad tokens
/// costs one read of a single row per spacing at most, whatever its size.
public final class AdminRefresh: Sendable {
    private struct State {
        var waiting: [@Sendable () -> Void] = []
        var running = false
    }

    private let state = NIOLockedValueBox(State())
    private let wake: AsyncStream<Void>.Continuation
    let wakeups: AsyncStream<Void>

    /// How many callers may wait for one look; past that a caller is answered at once with what
    /// the daemon knows (a refusal), so that waiting cannot be made to grow without bound.
    static let maxWaiting = 10_000

    init() {
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs `then` after the next look at the database has started and finished. Returns false
    /// (and runs nothing) when no look will come: the service is not running, or too many
    /// callers are waiting already; the caller then decides with what it has.
    func afterNextLook(_ then: @escaping @Sendable () -> Void) -> Bool {
        let queued = state.withLockedValue { state -> Bool in
            guard state.running, state.waiting.count < Self.maxWaiting else { return false }
            state.waiting.append(then)
            return true
        }
        if queued { wake.yield() }
        return queued
    }

    /// The async form, for the HTTP side and the admin socket: returns once a look that started
    /// after the call has finished (at once when none will come).
    func nextLook() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !afterNextLook({ continuation.resume() }) { continuation.resume() }
        }
    }

    /// The callers a look that starts now serves.
    func takeWaiting() -> [@Sendable () -> Void] {
        state.withLockedValue { state in
            defer { state.waiting = [] }
            return state.waiting
        }
    }

    /// Asks for a look without anyone waiting for it (the safety-net poll).
    func poke() { wake.yield() }

    func setRunning(_ running: Bool) {
        let abandoned = state.withLockedValue { state -> [@Sendable () -> Void] in
            state.running = running
            guard !running else { return [] }
            defer { state.waiting = [] }
            return state.waiting
        }
        // Nobody is left to look: let the callers decide with what the daemon knows.
        for caller in abandoned { caller() }
    }
}

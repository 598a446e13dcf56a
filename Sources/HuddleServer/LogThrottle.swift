import NIOConcurrencyHelpers
import NIOCore

/// Keeps a line that a stranger can cause (a refused hello, a refused connection) from flooding
/// the journal: at most `lines` per `window`; what is left out is counted and the next line
/// that gets through says how many were.
final class LogThrottle: Sendable {
    private struct State {
        var windowStart = NIODeadline.distantPast
        var logged = 0
        var suppressed = 0
    }

    let lines: Int
    let window: TimeAmount
    private let state = NIOLockedValueBox(State())

    init(lines: Int = 10, window: TimeAmount = .seconds(10)) {
        self.lines = lines
        self.window = window
    }

    /// Nil when this line is to be left out; otherwise how many were left out before it.
    func take(now: NIODeadline = .now()) -> Int? {
        state.withLockedValue { state in
            if now - state.windowStart >= window {
                state.windowStart = now
                state.logged = 0
            }
            guard state.logged < lines else {
                state.suppressed += 1
                return nil
            }
            state.logged += 1
            defer { state.suppressed = 0 }
            return state.suppressed
        }
    }
}

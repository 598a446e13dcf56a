import ArgumentParser
import Dispatch
import Foundation
import HuddleClient
import HuddleProtocol
import UnixSignals

struct Board: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live full-screen board of your teams: coverage, queue, members, waitlist and alerts.",
        discussion: """
            Redrawn as events arrive (never by polling); reconnects by itself and catches up on what it \
            missed. Keys: q (or Ctrl-C) quits, r redraws. Supervisors: 1-9 select the n-th open alert, j/k or \
            the arrow keys move the selection, a acknowledges the selected alert, n acknowledges it with a note \
            (type it, Enter sends, Esc cancels).
            """)

    @OptionGroup var options: GlobalOptions

    @Option(name: .customLong("team"), help: "Only this team; repeat for several (default: all your teams).")
    var teams: [String] = []

    mutating func run() async throws {
        if options.json {
            throw CLIFailure.usage("huddle board has no JSON form; use huddle watch --json").report(json: false)
        }
        let settings: LoginSettings
        do {
            settings = try StoredLogin.settings(for: options)
        } catch {
            throw CLIFailure.from(error, endpoint: nil).report(json: false)
        }
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw CLIFailure.usage("huddle board needs a terminal; in a script use huddle watch").report(json: false)
        }
        let watcher = TeamWatcher(
            host: settings.endpoint.host, port: settings.endpoint.port, trust: settings.trust,
            token: settings.token, client: SignedIn.clientName, teams: teams.isEmpty ? nil : teams)
        let failure: (any Error)?
        do {
            try BoardTerminal.enter()
            failure = await BoardScreen(settings: settings).run(watcher)
        } catch {
            failure = error
        }
        BoardTerminal.leave()
        if let failure {
            throw CLIFailure.from(failure, endpoint: settings.endpoint).report(json: false)
        }
    }
}

/// Everything that can wake the board up, in one stream so one loop owns the state.
private enum BoardWake: Sendable {
    case update(WatchUpdate)
    case watcherEnded((any Error)?)
    case keys([UInt8])
    case inputClosed
    case signal(Int32)
    case tick
    case render
    case acknowledged(alert: Int64, failure: String?)
}

/// The board's loop: applies watcher updates, keys, signals and ticks to a `BoardState` and
/// redraws the whole screen from it after each (bursts are coalesced).
private struct BoardScreen {
    let settings: LoginSettings

    /// Returns nil on a normal exit (q, Ctrl-C, SIGINT, SIGTERM, SIGHUP, the terminal closing),
    /// otherwise why the board could not go on (the watcher gave up).
    func run(_ watcher: TeamWatcher) async -> (any Error)? {
        let (wakes, sink) = AsyncStream.makeStream(of: BoardWake.self)
        let keyboard = BoardKeyboard.install(sink)
        // A resized window redraws; SIGINT, SIGTERM and SIGHUP end the board like q, so the
        // terminal is always given back as it was.
        let signals = Task {
            for await signal in await UnixSignalsSequence(trapping: .sigwinch, .sigint, .sigterm, .sighup) {
                sink.yield(.signal(signal.rawValue))
            }
        }
        let watching = Task {
            do {
                try await watcher.run { update in sink.yield(.update(update)) }
                sink.yield(.watcherEnded(nil))
            } catch {
                sink.yield(.watcherEnded(error))
            }
        }
        let ticking = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
                sink.yield(.tick)
            }
        }
        defer {
            watching.cancel()
            ticking.cancel()
            signals.cancel()
            keyboard.cancel()
        }

        var state = BoardState()
        var decoder = BoardKeyDecoder()
        var lastDraw = ContinuousClock.now
        var drawPending = false
        draw(state, clear: true)
        for await wake in wakes {
            let now = ClockText.now()
            var clear = false
            var immediate = false
            switch wake {
            case .update(let update):
                state.apply(update, now: now)
            case .watcherEnded(let error):
                return error ?? CLIFailure(code: ExitStatus.failure, message: "stopped watching")
            case .keys(let bytes):
                immediate = true
                for key in decoder.decode(bytes) {
                    switch state.handle(key, now: now) {
                    case .quit?:
                        return nil
                    case .redraw?:
                        clear = true
                    case .acknowledge(let alert, let note)?:
                        let settings = settings
                        Task {
                            let failure = await Self.acknowledge(alert, note: note, settings: settings)
                            sink.yield(.acknowledged(alert: alert, failure: failure))
                        }
                    case nil:
                        break
                    }
                }
            case .inputClosed:
                return nil
            case .signal(let number):
                if number == SIGWINCH {
                    clear = true
                    immediate = true
                } else {
                    return nil
                }
            case .tick:
                break
            case .render:
                drawPending = false
                immediate = true
            case .acknowledged(let alert, let failure):
                state.acknowledged(alert, failure: failure, now: now)
            }
            // A burst of events (a replay) is drawn once at its end, at most every 30 ms.
            if immediate || clear || ContinuousClock.now - lastDraw >= .milliseconds(30) {
                draw(state, clear: clear)
                lastDraw = ContinuousClock.now
            } else if !drawPending {
                drawPending = true
                Task {
                    try? await Task.sleep(for: .milliseconds(30))
                    sink.yield(.render)
                }
            }
        }
        return nil
    }

    func draw(_ state: BoardState, clear: Bool) {
        let size = BoardTerminal.size()
        let lines = BoardRenderer.render(
            state, width: size.width, height: size.height, now: ClockText.now(), timeOfDay: ClockText.localTimeOfDay)
        BoardTerminal.write(BoardFrame.encode(lines, width: size.width, clear: clear))
    }

    /// Acknowledges on a short session of its own (the watcher's connection only listens).
    /// Returns nil on success, otherwise what went wrong.
    static func acknowledge(_ alert: Int64, note: String?, settings: LoginSettings) async -> String? {
        do {
            let connection = try await HuddleConnection.connect(
                host: settings.endpoint.host, port: settings.endpoint.port, trust: settings.trust)
            do {
                _ = try await connection.hello(token: settings.token, client: SignedIn.clientName)
                try await connection.acknowledgeAlert(alert, note: note)
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
            return nil
        } catch let rpc as RPCError {
            return rpc.message
        } catch {
            return CLIFailure.from(error, endpoint: settings.endpoint).message
        }
    }
}

/// The keyboard as wakes: one read source on standard input.
private struct BoardKeyboard {
    let source: any DispatchSourceRead

    static func install(_ sink: AsyncStream<BoardWake>.Continuation) -> BoardKeyboard {
        let keyboard = DispatchSource.makeReadSource(
            fileDescriptor: STDIN_FILENO, queue: DispatchQueue(label: "huddle.board.input"))
        keyboard.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = read(STDIN_FILENO, &buffer, buffer.count)
            if count > 0 {
                sink.yield(.keys(Array(buffer[0..<count])))
            } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                keyboard.cancel()
                sink.yield(.inputClosed)
            }
        }
        keyboard.resume()
        return BoardKeyboard(source: keyboard)
    }

    func cancel() { source.cancel() }
}

/// The terminal as it was before the board took it over, for every way out (including `exit`).
nonisolated(unsafe) private var boardSavedTerminal = termios()
nonisolated(unsafe) private var boardTerminalTaken = false
nonisolated(unsafe) private var boardAtExitRegistered = false

/// Raw mode, the alternate screen and a hidden cursor while the board runs; all three undone by
/// `leave`, which is also registered with `atexit`.
enum BoardTerminal {
    static func enter() throws {
        guard tcgetattr(STDIN_FILENO, &boardSavedTerminal) == 0 else {
            throw CLIFailure(code: ExitStatus.failure, message: "cannot read the terminal's settings")
        }
        var raw = boardSavedTerminal
        cfmakeraw(&raw)
        guard tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0 else {
            throw CLIFailure(code: ExitStatus.failure, message: "cannot put the terminal in raw mode")
        }
        boardTerminalTaken = true
        if !boardAtExitRegistered {
            boardAtExitRegistered = true
            atexit { BoardTerminal.leave() }
        }
        write(BoardFrame.enter)
    }

    /// Safe to call more than once.
    static func leave() {
        guard boardTerminalTaken else { return }
        boardTerminalTaken = false
        write(BoardFrame.leave)
        _ = tcsetattr(STDIN_FILENO, TCSANOW, &boardSavedTerminal)
    }

    /// Columns and rows, from TIOCGWINSZ on standard output (or input); 80×24 if neither says.
    static func size() -> (width: Int, height: Int) {
        for fd in [STDOUT_FILENO, STDIN_FILENO] {
            var size = winsize()
            if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 {
                return (Int(size.ws_col), Int(size.ws_row))
            }
        }
        return (80, 24)
    }

    /// One write of the whole text (retried until it is all out).
    static func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return Foundation.write(STDOUT_FILENO, base + offset, bytes.count - offset)
            }
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EINTR || errno == EAGAIN) {
                continue
            } else {
                return
            }
        }
    }
}

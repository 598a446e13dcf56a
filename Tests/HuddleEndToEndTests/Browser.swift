import Foundation
import HuddleProtocol
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A real headless Chromium for the wallboard's tests: `Tests/Browser/driver.py` run by Debian's
/// `/usr/bin/python3` (chromium, chromium-driver and python3-selenium, installed by Scripts/test),
/// spoken to one JSON line at a time. Every command has a deadline, so a hung browser fails its
/// test instead of hanging the run. End each test with `quit()`; a browser dropped without it is
/// sent SIGTERM, and the driver quits Chromium when the test process goes away too.
final class Browser: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Where `get` ended up, after redirects.
    struct Page: Sendable, Equatable {
        var url: String
        var title: String
        /// The HTTP status of the page's last response; nil for `about:` and `data:` pages.
        var status: Int?
    }

    struct Cookie: Sendable, Equatable {
        var name: String
        var value: String
        var path: String?
        var httpOnly: Bool
        var secure: Bool
        /// "Strict", "Lax" or "None".
        var sameSite: String?
        /// Seconds since 1970; nil for a session cookie.
        var expiry: Int64?
    }

    /// A console message, a failed load or a Content Security Policy violation (source
    /// "security", level "SEVERE").
    struct ConsoleEntry: Sendable, Equatable {
        var level: String
        var message: String
        var source: String
    }

    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let driver = "\(packageRoot)/Tests/Browser/driver.py"

    /// `HUDDLE_SCREENSHOTS` (relative to the package root unless absolute), else
    /// `.build/screenshots/`.
    static var screenshots: String {
        guard let folder = ProcessInfo.processInfo.environment["HUDDLE_SCREENSHOTS"], !folder.isEmpty else {
            return "\(packageRoot)/.build/screenshots"
        }
        return folder.hasPrefix("/") ? folder : "\(packageRoot)/\(folder)"
    }

    /// What the driver said so far. Answers come in the order of the commands, so the nth line
    /// answers the nth command, whichever task sent it.
    private struct Conversation {
        var partial: [UInt8] = []
        var answers: [Int: [UInt8]] = [:]
        var received = 0
        var sent = 0
        var ended = false
        var stderr: [UInt8] = []
        var stderrEnded = false

        mutating func receive(_ bytes: ArraySlice<UInt8>) {
            partial += bytes
            while let newline = partial.firstIndex(of: 0x0A) {
                answers[received] = Array(partial[..<newline])
                received += 1
                partial.removeSubrange(...newline)
            }
        }

        mutating func keepErrors(_ bytes: ArraySlice<UInt8>) {
            stderr += bytes
            if stderr.count > 8192 { stderr.removeFirst(stderr.count - 8192) }
        }
    }

    /// For every command but `wait` (whose own timeout is added to it) and the first.
    let commandTimeout: Duration
    private let process: ChildProcess
    private let input: FileHandle
    private let conversation = NIOLockedValueBox(Conversation())

    /// Starts Chromium with a window of `width` × `height` (the page's viewport is a little
    /// shorter: see `window`) and waits until it answers.
    init(width: Int = 1280, height: Int = 800, commandTimeout: Duration = .seconds(30)) async throws {
        self.commandTimeout = commandTimeout
        let process: ChildProcess
        do {
            process = try ChildProcess(
                ["/usr/bin/python3", Self.driver, "--window-size", "\(width),\(height)"], directory: Self.packageRoot,
                stdin: .pipe, stdout: .pipe, stderr: .pipe)
        } catch {
            throw Failure(description: "browser: cannot run /usr/bin/python3 \(Self.driver) (Scripts/test installs it): \(error)")
        }
        self.process = process
        guard let input = process.input, let output = process.output, let errors = process.errors else {
            throw Failure(description: "browser: no pipes to the driver")
        }
        self.input = input
        Self.collect(output, into: conversation, answers: true)
        Self.collect(errors, into: conversation, answers: false)
        do {
            // Chromium's start: about a second and a half on an idle machine, far more beside a
            // whole test suite.
            _ = try await send(["cmd": "version"], timeout: .seconds(60))
        } catch {
            process.signal(SIGTERM)
            throw error
        }
    }

    deinit {
        // The driver quits Chromium on SIGTERM (and on end of input, when the pipe closes).
        process.signal(SIGTERM)
    }

    // MARK: Commands

    /// Loads `url` and waits for its load event. A page that cannot be loaded at all (refused,
    /// TLS failure) throws; an HTTP error page does not (see `Page.status`).
    @discardableResult
    func get(_ url: String) async throws -> Page {
        let page = try await send(["cmd": "get", "url": .string(url)])
        return Page(
            url: page["url"]?.stringValue ?? "", title: page["title"]?.stringValue ?? "",
            status: page["status"]?.intValue.map(Int.init))
    }

    /// Evaluates `js` (a function body: `return …`) every 50 ms until its value is truthy, and
    /// returns that value; throws with the last value (or error) after `timeout`.
    @discardableResult
    func wait(_ js: String, timeout: Duration = .seconds(10)) async throws -> JSONValue {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        return try await send(["cmd": "wait", "js": .string(js), "timeout": .double(seconds)], timeout: timeout + commandTimeout)
    }

    /// Runs `js` (a function body: `return …`) in the page. Elements come back as their HTML
    /// (200 characters at most), `undefined` and `NaN` as null.
    @discardableResult
    func js(_ js: String) async throws -> JSONValue {
        try await send(["cmd": "js", "js": .string(js)])
    }

    /// The `textContent` of the first element matching `css`, nil when none does.
    func text(_ css: String) async throws -> String? {
        try await send(["cmd": "text", "css": .string(css)]).stringValue
    }

    func count(_ css: String) async throws -> Int {
        Int(try await send(["cmd": "count", "css": .string(css)]).intValue ?? 0)
    }

    /// A real click (WebDriver's: scrolled into view, refused if something covers it).
    func click(_ css: String) async throws {
        try await send(["cmd": "click", "css": .string(css)])
    }

    /// Types into the first element matching `css`, after emptying it when `clear`.
    func type(_ css: String, _ text: String, clear: Bool = false) async throws {
        try await send(["cmd": "type", "css": .string(css), "text": .string(text), "clear": .bool(clear)])
    }

    /// Submits the form of the first element matching `css` as its submit button would
    /// (`requestSubmit`: validation, then the submit event, then the navigation).
    func submit(_ css: String) async throws {
        try await send(["cmd": "submit", "css": .string(css)])
    }

    /// Presses keys on whatever has the focus, one after another: Selenium's key names (`TAB`,
    /// `ENTER`, `ESCAPE`, `SPACE`, `ARROW_DOWN`…), combinations (`SHIFT+TAB`), or text to type.
    func keys(_ keys: [String]) async throws {
        try await send(["cmd": "keys", "keys": .array(keys.map(JSONValue.string))])
    }

    func keys(_ keys: String...) async throws {
        try await self.keys(keys)
    }

    /// The first 200 characters of the focused element's HTML (`<body…` when nothing is).
    func focused() async throws -> String? {
        try await send(["cmd": "focused"]).stringValue
    }

    /// Saves a PNG of the viewport as `NAME.png` in `Browser.screenshots` and returns its path.
    @discardableResult
    func screenshot(_ name: String) async throws -> String {
        let folder = Self.screenshots
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = "\(folder)/\(name.hasSuffix(".png") ? name : "\(name).png")"
        return try await send(["cmd": "screenshot", "path": .string(path)]).stringValue ?? path
    }

    /// Resizes the window, or with `viewport` the page's viewport (headless Chromium's is some
    /// 140 pixels shorter than its window); returns the viewport's size.
    @discardableResult
    func window(width: Int, height: Int, viewport: Bool = false) async throws -> (width: Int, height: Int) {
        let size = try await send(
            ["cmd": "window", "width": JSONValue(width), "height": JSONValue(height), "viewport": .bool(viewport)])
        return (Int(size["width"]?.intValue ?? 0), Int(size["height"]?.intValue ?? 0))
    }

    /// The cookies the current page can see, HttpOnly ones included.
    func cookies() async throws -> [Cookie] {
        try await send(["cmd": "cookies"]).arrayValue?.map { cookie in
            Cookie(
                name: cookie["name"]?.stringValue ?? "", value: cookie["value"]?.stringValue ?? "",
                path: cookie["path"]?.stringValue, httpOnly: cookie["httpOnly"]?.boolValue ?? false,
                secure: cookie["secure"]?.boolValue ?? false, sameSite: cookie["sameSite"]?.stringValue,
                expiry: cookie["expiry"]?.intValue)
        } ?? []
    }

    /// Sets a cookie for the current page's site (load a page of the daemon first).
    func setCookie(
        _ name: String, _ value: String, path: String = "/", secure: Bool? = nil, httpOnly: Bool? = nil,
        sameSite: String? = nil
    ) async throws {
        var command: [String: JSONValue] = [
            "cmd": "set_cookie", "name": .string(name), "value": .string(value), "path": .string(path),
        ]
        if let secure { command["secure"] = .bool(secure) }
        if let httpOnly { command["httpOnly"] = .bool(httpOnly) }
        if let sameSite { command["sameSite"] = .string(sameSite) }
        try await send(command)
    }

    func deleteCookies() async throws {
        try await send(["cmd": "delete_cookies"])
    }

    /// What the browser logged since the last call.
    func console() async throws -> [ConsoleEntry] {
        try await send(["cmd": "console"]).arrayValue?.map { entry in
            ConsoleEntry(
                level: entry["level"]?.stringValue ?? "", message: entry["message"]?.stringValue ?? "",
                source: entry["source"]?.stringValue ?? "")
        } ?? []
    }

    /// Chromium's version (and chromedriver's, which is the same).
    func version() async throws -> String {
        try await send(["cmd": "version"])["browser"]?.stringValue ?? ""
    }

    /// Quits Chromium and the driver. A driver that has not exited 5 s later, or is still busy
    /// with a command that timed out, gets SIGTERM (it still quits Chromium, within some 7 s),
    /// then SIGKILL (its guard then kills what is left of Chromium).
    func quit() async {
        guard process.isRunning else { return }
        let deadline = ContinuousClock.now + .seconds(5)
        let busy = conversation.withLockedValue { $0.received < $0.sent }
        if !busy {
            _ = try? await send(["cmd": "quit"], timeout: .seconds(5))
            try? input.close()
            if await exited(by: deadline) { return }
        }
        process.signal(SIGTERM)
        if await exited(by: .now + .seconds(15)) { return }
        process.signal(SIGKILL)
        _ = await exited(by: .now + .seconds(5))
    }

    /// Sends any command (see driver.py) and returns its `value`; throws the driver's error, or
    /// when no answer comes within `timeout` (`commandTimeout` by default) or the driver died.
    @discardableResult
    func send(_ command: [String: JSONValue], timeout: Duration? = nil) async throws -> JSONValue {
        let line = JSONWriter.encode(.object(command))
        let shown = String(decoding: line.prefix(300), as: UTF8.self)
        let descriptor = input.fileDescriptor
        let number = conversation.withLockedValue { conversation -> Int? in
            // Under the lock: the order of the lines is the order of the numbers.
            guard !conversation.ended, Self.write(line + [0x0A], to: descriptor) else { return nil }
            conversation.sent += 1
            return conversation.sent - 1
        }
        guard let number else { throw await failure("the driver is gone; cannot send \(shown)") }
        let deadline = ContinuousClock.now + (timeout ?? commandTimeout)
        while true {
            let answer = conversation.withLockedValue { conversation -> [UInt8]?? in
                if let answer = conversation.answers.removeValue(forKey: number) { return .some(answer) }
                return conversation.ended ? .some(nil) : nil
            }
            switch answer {
            case .some(.some(let bytes)):
                guard let reply = try? JSONParser.parse(bytes), let ok = reply["ok"]?.boolValue else {
                    throw await failure("\(shown): not an answer: \(String(decoding: bytes, as: UTF8.self))")
                }
                guard ok else { throw await failure("\(shown): \(reply["error"]?.stringValue ?? "failed")") }
                return reply["value"] ?? .null
            case .some(.none):
                throw await failure("\(shown): the driver ended without answering")
            case .none:
                guard ContinuousClock.now < deadline else {
                    throw await failure("\(shown): no answer within \(timeout ?? commandTimeout)")
                }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    // MARK: The driver process

    private func failure(_ what: String) async -> Failure {
        // A driver that died has its last words in flight on the other pipe.
        let deadline = ContinuousClock.now + .seconds(1)
        while !conversation.withLockedValue({ !$0.ended || $0.stderrEnded }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let stderr = conversation.withLockedValue { String(decoding: $0.stderr, as: UTF8.self) }
        let status = process.isRunning ? "running" : "exited \(process.terminationStatus)"
        return Failure(description: "browser: \(what)\n--- driver.py (\(status)), end of its stderr:\n\(stderr)")
    }

    private func exited(by deadline: ContinuousClock.Instant) async -> Bool {
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Reads a pipe of the driver's until it closes, on a thread of its own (see `offThePool`).
    private static func collect(_ handle: FileHandle, into conversation: NIOLockedValueBox<Conversation>, answers: Bool) {
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(handle.fileDescriptor, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                conversation.withLockedValue { conversation in
                    switch (answers, n > 0) {
                    case (true, true): conversation.receive(chunk[..<n])
                    case (true, false): conversation.ended = true
                    case (false, true): conversation.keepErrors(chunk[..<n])
                    case (false, false): conversation.stderrEnded = true
                    }
                }
                if n <= 0 { return }
            }
        }
    }

    /// Writes all of `bytes`; false when the driver has gone. SIGPIPE is held back on this thread
    /// meanwhile: a dead driver must fail its test, not kill the test process.
    private static func write(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBufferPointer { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if errno == EPIPE {
                    // Take the SIGPIPE this write raised, so it is not delivered once unblocked.
                    var now = timespec()
                    _ = sigtimedwait(&pipeSignal, nil, &now)
                }
                return false
            }
            written += n
        }
        return true
    }
}

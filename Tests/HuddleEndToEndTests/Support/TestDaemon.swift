import Foundation
import HuddleClient
import HuddleProtocol
import NIOConcurrencyHelpers

/// The real `huddled` binary, started in a temporary data folder on a free loopback port.
/// Stopped by PID (its own) at the end of each test.
final class TestDaemon: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `swift test` runs the test bundle from the build folder that also holds the executables.
    static let binDirectory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }()
    static var huddled: String { "\(binDirectory)/huddled" }
    static var huddle: String { "\(binDirectory)/huddle" }

    let directory: String
    let extraArguments: [String]
    let plaintext: Bool
    private(set) var process: ChildProcess?
    private(set) var port = 0
    /// The HTTP side's port (`--http 127.0.0.1:0`), learnt from the `http listening on` line.
    private(set) var httpPort = 0
    private var logCount = 0

    var data: String { "\(directory)/data" }
    var certificate: String { "\(data)/tls/cert.pem" }
    var trust: TLSTrust { plaintext ? .plaintext : .caFile(certificate) }
    var logPath: String { "\(directory)/huddled-\(logCount).log" }

    init(arguments: [String] = [], plaintext: Bool = false) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("huddle-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        extraArguments = arguments
        self.plaintext = plaintext
    }

    /// Starts (or restarts, on the same data folder and port when possible) and waits for the
    /// "listening" lines of the protocol port and of the HTTP side.
    func start(port requested: Int? = nil, httpPort requestedHTTP: Int? = nil) async throws {
        logCount += 1
        var arguments = [Self.huddled, "serve", "--data", data, "--listen", "127.0.0.1:\(requested ?? 0)", "--http", "127.0.0.1:\(requestedHTTP ?? 0)"]
        if plaintext { arguments.append("--plaintext") }
        // The suite runs some sixty daemons and their clients side by side on two cores, the
        // heavy ones (10,000-event replays, stuck readers, floods) among them: a client may wait
        // seconds for its turn before it says hello. A test about the authentication deadline
        // sets its own; the others must not fail on it.
        if !extraArguments.contains("--auth-timeout-s") { arguments += ["--auth-timeout-s", "60"] }
        let process = try ChildProcess(arguments + extraArguments, stdout: .file(logPath), stderr: .output)
        self.process = process
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: logPath, encoding: .utf8),
                let range = text.range(of: #"(?<!http )listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                let httpRange = text.range(of: #"http listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            {
                port = Int(text[range].split(separator: ":").last ?? "") ?? 0
                httpPort = Int(text[httpRange].split(separator: ":").last ?? "") ?? 0
                return
            }
            guard process.isRunning else { throw Failure(description: "huddled exited early:\n\(self.log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure(description: "huddled did not start listening:\n\(self.log)")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop(timeout: Duration = .seconds(20)) async throws -> Int32 {
        guard let process, process.isRunning else { return process?.terminationStatus ?? 0 }
        process.signal(SIGTERM)
        return try await waitForExit(timeout: timeout)
    }

    func kill9() async throws {
        guard let process, process.isRunning else { return }
        process.signal(SIGKILL)
        _ = try await waitForExit(timeout: .seconds(10))
    }

    func signal(_ number: Int32) {
        process?.signal(number)
    }

    func waitForExit(timeout: Duration) async throws -> Int32 {
        guard let process else { return 0 }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                process.signal(SIGKILL)
                throw Failure(description: "huddled did not exit in time")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// Runs `huddled ARGS --data DIR` (an admin subcommand) and returns its standard output.
    @discardableResult
    func admin(_ arguments: [String]) async throws -> String {
        try await Self.run(Self.huddled, arguments + ["--data", data]).stdout
    }

    func addTeam(_ team: String) async throws {
        try await admin(["team", "add", team])
    }

    /// Adds a user and returns the token (the last line of the output).
    func addUser(_ name: String, role: Role, teams: [String]) async throws -> String {
        let output = try await admin(["user", "add", name, "--role", role.rawValue] + teams.flatMap { ["--team", $0] })
        return String(output.split(separator: "\n").last ?? "")
    }

    /// For tests about something other than coverage: a policy under which every status change
    /// is granted, set by a supervisor `coach` (added on first use) while the daemon runs.
    func relaxCoverage(_ team: String) async throws {
        let token = try await addUser("coach-\(team)", role: .supervisor, teams: [team])
        let coach = try await session(token)
        _ = try await coach.request(
            "policy.set", ["team": .string(team), "policy": ["min_available": 0, "max_on_break": 1000], "comment": "test"])
        await coach.close()
    }

    func connect(keepAlive: Bool = true) async throws -> Peer {
        Peer(
            try await HuddleConnection.connect(
                host: "127.0.0.1", port: port, trust: trust, options: .init(keepAlive: keepAlive)))
    }

    /// Connects and says hello.
    func session(_ token: String, keepAlive: Bool = true) async throws -> Peer {
        let peer = try await connect(keepAlive: keepAlive)
        _ = try await peer.request("session.hello", ["token": .string(token), "client": "e2e"])
        return peer
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Waits for `body` at most `timeout`, failing with what it waited for: for tests whose point
    /// is that something does not wait behind something else.
    static func waitFor<T: Sendable>(
        _ what: String, within timeout: Duration, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw Failure(description: "waited \(timeout) for \(what)")
            }
            return value
        }
    }

    /// Runs a program to its end and returns what it printed. The waiting happens on a thread of
    /// its own (`offThePool`): tests run side by side on a cooperative pool as wide as the
    /// machine's two cores, and one blocked there stalls every other test's clients.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, check: Bool = true)
        async throws -> Output
    {
        try await offThePool {
            Result { try runBlocking(executable, arguments, environment: environment, check: check) }
        }.get()
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String]?, check: Bool)
        throws -> Output
    {
        let process = try ChildProcess([executable] + arguments, environment: environment, stdout: .pipe, stderr: .pipe)
        // Both pipes at once, so that a child filling one while the test drains the other
        // cannot stall.
        let errors = NIOLockedValueBox(Data())
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errors.withLockedValue { $0 = process.errors?.readDataToEndOfFile() ?? Data() }
            drained.signal()
        }
        let stdout = process.output?.readDataToEndOfFile() ?? Data()
        drained.wait()
        let stderr = errors.withLockedValue { $0 }
        process.waitUntilExit()
        let output = Output(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
        if check && output.status != 0 {
            throw Failure(description: "\(executable) \(arguments) exited \(output.status): \(output.stderr)")
        }
        return output
    }

    deinit {
        process?.signal(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A connection with everything it receives collected, so tests can wait for a notification
/// with a deadline without cancelling the (single-consumer) notification stream.
final class Peer: Sendable {
    let connection: HuddleConnection
    private let inbox: Inbox

    actor Inbox {
        var items: [ServerNotification] = []
        /// Everything ever received, taken or not: what "nothing leaked" checks look at.
        var log: [ServerNotification] = []
        var finished = false

        func append(_ item: ServerNotification) {
            items.append(item)
            log.append(item)
        }
        func finish() { finished = true }

        /// Removes and returns the first match; earlier non-matching items are dropped.
        func take(_ match: (ServerNotification) -> Bool) -> ServerNotification?? {
            if let index = items.firstIndex(where: match) {
                let found = items[index]
                items.removeFirst(index + 1)
                return .some(found)
            }
            return finished ? .some(nil) : nil
        }

        func all() -> [ServerNotification] { items }
    }

    init(_ connection: HuddleConnection) {
        self.connection = connection
        let inbox = Inbox()
        self.inbox = inbox
        Task {
            for await notification in connection.notifications { await inbox.append(notification) }
            await inbox.finish()
        }
    }

    func request(_ method: String, _ params: [String: JSONValue] = [:]) async throws -> JSONValue {
        try await connection.request(method, params)
    }

    /// The next notification that satisfies `match`, within `timeout`; earlier ones are skipped.
    func next(
        within timeout: Duration = .seconds(5), where match: @escaping @Sendable (ServerNotification) -> Bool = { _ in true }
    ) async throws -> ServerNotification {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch await inbox.take(match) {
            case .some(.some(let found)): return found
            case .some(.none): throw TestDaemon.Failure(description: "connection ended without a match")
            case .none: try await Task.sleep(for: .milliseconds(5))
            }
        }
        throw TestDaemon.Failure(description: "no matching notification within \(timeout)")
    }

    /// The next `event` (of `type`, when given, and satisfying `match`), skipping the others.
    func nextEvent(
        within timeout: Duration = .seconds(5), type: String? = nil,
        where match: @escaping @Sendable (EventNotification) -> Bool = { _ in true }
    ) async throws -> EventNotification {
        let notification = try await next(within: timeout) { notification in
            if case .event(let event) = notification { return (type == nil || event.type == type) && match(event) }
            return false
        }
        guard case .event(let event) = notification else { throw TestDaemon.Failure(description: "not an event") }
        return event
    }

    /// Everything received and not yet taken.
    func pending() async -> [ServerNotification] { await inbox.all() }

    /// Everything received since the connection opened, whether `next` took it or skipped it.
    func everything() async -> [ServerNotification] { await inbox.log }

    /// The events among everything received.
    func allEvents() async -> [EventNotification] {
        await everything().compactMap { if case .event(let event) = $0 { event } else { nil } }
    }

    /// Waits until the connection has ended (the server closed it).
    func waitForEnd(within timeout: Duration = .seconds(5)) async throws -> String? {
        let found = try await next(within: timeout) { if case .closing = $0 { return true } else { return false } }
        if case .closing(let reason) = found { return reason }
        return nil
    }

    func close() async { await connection.close() }
}

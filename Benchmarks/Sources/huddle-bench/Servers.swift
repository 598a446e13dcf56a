import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// MARK: Processes

/// Every server this run started, so that an interrupted run still stops them (by PID).
let launchedPIDs = Mutex<Set<pid_t>>([])

func installInterruptHandler() {
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            let pids = launchedPIDs.withLock { $0 }
            for pid in pids { kill(pid, SIGKILL) }
            FileHandle.standardError.write("huddle-bench: interrupted; stopped \(pids.count) server(s)\n".data(using: .utf8)!)
            exit(130)
        }
        source.resume()
        interruptSources.append(source)
    }
}

/// Set up once, at start, before any concurrency; kept alive for the life of the process.
nonisolated(unsafe) private var interruptSources: [any DispatchSourceSignal] = []

/// Raises this process's open-file limit as far as the hard limit allows; returns the new limit.
@discardableResult
func raiseOpenFileLimit(to wanted: Int) -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
    let target = min(rlim_t(wanted), limit.rlim_max)
    if limit.rlim_cur < target {
        limit.rlim_cur = target
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return Int(limit.rlim_cur)
}

func hardOpenFileLimit() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
    return limit.rlim_max == rlim_t.max ? 1 << 20 : Int(limit.rlim_max)
}

/// Runs a command to completion; returns its standard output, throws on a non-zero exit.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw BenchFailure(
            "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                + String(decoding: errors, as: UTF8.self))
    }
    return String(decoding: output, as: UTF8.self)
}

/// A server started by the harness: launched through `/bin/sh -c 'ulimit -n N; exec …'` so it
/// gets the open-file limit the load needs, with its output in a log file, stopped by PID.
final class ServerProcess: @unchecked Sendable {
    let name: String
    let process: Process
    let logPath: String
    var pid: pid_t { process.processIdentifier }

    init(name: String, executable: String, arguments: [String], logPath: String, openFiles: Int) throws {
        self.name = name
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments =
            ["-c", "ulimit -n \(openFiles) 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" \"$@\"", executable]
            + arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        let pid = process.processIdentifier
        launchedPIDs.withLock { _ = $0.insert(pid) }
    }

    var isRunning: Bool { process.isRunning }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// How long a server may take to stop after SIGTERM before it gets SIGKILL (longer when it
    /// runs under a profiler that writes its results on exit).
    nonisolated(unsafe) static var stopGrace = 5.0

    /// SIGTERM, then SIGKILL if it is still there after `grace` seconds.
    func stop(grace: Double = ServerProcess.stopGrace) async {
        let pid = self.pid
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            kill(pid, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        }
        launchedPIDs.withLock { _ = $0.remove(pid) }
    }

    /// Resident memory in KiB, from /proc/PID/status.
    func memory() -> (rssKiB: Int, hwmKiB: Int) {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Int {
            for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
                return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
            }
            return 0
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// CPU seconds (user, system) the server used so far.
    func cpuSeconds() -> (user: Double, system: Double) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return (0, 0) }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return (0, 0) }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (utime / ticks, stime / ticks)
    }
}

func makeTemporaryDirectory(in parent: String, prefix: String) throws -> String {
    var template = Array("\(parent)/\(prefix)-XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw BenchFailure("cannot create a temporary directory in \(parent)")
    }
    return String(cString: made)
}

/// A free TCP port on 127.0.0.1 (bound, then released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchFailure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw BenchFailure("bind() failed") }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits until something accepts connections on the port.
func waitForPort(_ port: Int, server: ServerProcess, timeout: Double = 15) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        guard server.isRunning else { throw BenchFailure("\(server.name) exited:\n\(server.log.suffix(2000))") }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        close(fd)
        if connected == 0 { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw BenchFailure("\(server.name) did not listen on \(port) within \(timeout) s")
}

func clientTLSContext(trusting certificatePath: String) throws -> NIOSSLContext {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificatePath))
    return try NIOSSLContext(configuration: configuration)
}

// MARK: The three servers

/// A running server and how to reach it.
struct RunningServer: Sendable {
    var endpoint: Endpoint
    var process: ServerProcess
    var directory: String
    /// Huddle only: subscriber tokens (sessions spread over them) and the publisher's.
    var subscriberTokens: [String] = []
    var publisherToken = ""
    var version: String

    func stop(keepDirectory: Bool = false) async {
        await process.stop()
        if !keepDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }
}

struct HuddleLauncher: Sendable {
    /// Daemon flags a run asks for besides the raised limits (`--sync commit`), from `Common`.
    nonisolated(unsafe) static var daemonOptions: [String] = []

    var binary: String
    var workParent: String
    var openFiles: Int

    /// Admin commands take effect at once and work without a running daemon.
    func addUser(_ name: String, role: String, data: String) throws -> String {
        let output = try run(binary, ["user", "add", name, "--role", role, "--team", Payload.subject, "--data", data])
        guard let token = output.split(separator: "\n").last.map(String.init), !token.isEmpty else {
            throw BenchFailure("huddled user add printed no token")
        }
        return token.trimmingCharacters(in: .whitespaces)
    }

    /// Creates a data folder with the team and `users` (name, role), starts the daemon with the
    /// benchmark's raised limits and waits for the port it logs. Returns the server and tokens.
    func start(tls: Bool, users: [(String, String)], extraArguments: [String] = []) async throws -> (
        RunningServer, [String: String]
    ) {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchFailure(
                "no huddled at \(binary): build it with `swift build -c release --product huddled` in the package root, or pass --huddled"
            )
        }
        let data = try makeTemporaryDirectory(in: workParent, prefix: "huddle-bench")
        do {
            return try await start(in: data, tls: tls, users: users, extraArguments: extraArguments)
        } catch {
            try? FileManager.default.removeItem(atPath: data)
            throw error
        }
    }

    private func start(in data: String, tls: Bool, users: [(String, String)], extraArguments: [String]) async throws -> (
        RunningServer, [String: String]
    ) {
        try run(binary, ["team", "add", Payload.subject, "--data", data])
        var tokens: [String: String] = [:]
        for (name, role) in users { tokens[name] = try addUser(name, role: role, data: data) }
        let arguments = [
            "--rate-per-s", "1000000", "--rate-burst", "1000000",
            "--bot-rate-per-s", "1000000", "--bot-rate-burst", "1000000",
            "--max-sessions-per-user", "100000", "--outbound-buffer-bytes", "67108864",
            "--log-level", "notice",
        ]
        let server = try await serve(data: data, tls: tls, arguments: arguments + extraArguments)
        return (server, tokens)
    }

    /// Starts `huddled serve` on a prepared data folder, on free loopback ports, with `arguments`
    /// and otherwise the daemon's own defaults; waits for the port it logs.
    func serve(data: String, tls: Bool, arguments extra: [String]) async throws -> RunningServer {
        var arguments = ["serve", "--data", data, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"] + extra
            + Self.daemonOptions
        if !tls { arguments.append("--plaintext") }
        let process = try ServerProcess(
            name: "huddled", executable: binary, arguments: arguments, logPath: "\(data)/huddled.log",
            openFiles: openFiles)
        let deadline = Date().addingTimeInterval(30)
        var port: Int?
        while port == nil {
            guard process.isRunning else { throw BenchFailure("huddled exited:\n\(process.log.suffix(3000))") }
            guard Date() < deadline else {
                await process.stop()
                throw BenchFailure("huddled did not report its port within 30 s:\n\(process.log.suffix(3000))")
            }
            if let range = process.log.range(of: #"listening on 127\.0\.0\.1:([0-9]+)"#, options: .regularExpression) {
                port = Int(process.log[range].split(separator: ":").last ?? "")
            } else {
                try await Task.sleep(for: .milliseconds(30))
            }
        }
        let context: NIOSSLContext?
        do {
            context = tls ? try clientTLSContext(trusting: "\(data)/tls/cert.pem") : nil
        } catch {
            await process.stop()
            throw error
        }
        let version = (try? run(binary, ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? "huddled"
        return RunningServer(
            endpoint: Endpoint(wire: .huddle, port: port!, tls: context), process: process, directory: data,
            version: version)
    }
}

/// A P-256 self-signed certificate for `localhost`/127.0.0.1, like the one huddled generates, so
/// that the three servers do the same TLS work.
func makeCertificate(in directory: String) throws -> (cert: String, key: String) {
    let cert = "\(directory)/cert.pem"
    let key = "\(directory)/key.pem"
    try run(
        "/usr/bin/openssl",
        [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
    return (cert, key)
}

func findExecutable(_ name: String) -> String? {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        let path = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

func startNATS(tls: Bool, workParent: String, openFiles: Int) async throws -> RunningServer {
    guard let binary = findExecutable("nats-server") else {
        throw BenchFailure("nats-server is not installed (apt-get install -y nats-server)")
    }
    let directory = try makeTemporaryDirectory(in: workParent, prefix: "nats-bench")
    do {
        return try await startNATS(in: directory, binary: binary, tls: tls, openFiles: openFiles)
    } catch {
        try? FileManager.default.removeItem(atPath: directory)
        throw error
    }
}

private func startNATS(in directory: String, binary: String, tls: Bool, openFiles: Int) async throws -> RunningServer {
    let port = try freePort()
    var config = """
        listen: "127.0.0.1:\(port)"
        max_connections: 100000
        max_payload: 1048576
        max_pending: 268435456
        write_deadline: "10s"

        """
    var context: NIOSSLContext?
    if tls {
        let (cert, key) = try makeCertificate(in: directory)
        config += "tls {\n  cert_file: \"\(cert)\"\n  key_file: \"\(key)\"\n  timeout: 5\n}\n"
        context = try clientTLSContext(trusting: cert)
    }
    try config.write(toFile: "\(directory)/nats.conf", atomically: true, encoding: .utf8)
    let process = try ServerProcess(
        name: "nats-server", executable: binary, arguments: ["-c", "\(directory)/nats.conf"],
        logPath: "\(directory)/nats.log", openFiles: openFiles)
    do {
        try await waitForPort(port, server: process)
    } catch {
        await process.stop()
        throw error
    }
    let version = (try? run(binary, ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? "nats-server"
    return RunningServer(
        endpoint: Endpoint(wire: .nats, port: port, tls: context), process: process, directory: directory,
        version: version)
}

func startRedis(tls: Bool, workParent: String, openFiles: Int) async throws -> RunningServer {
    guard let binary = findExecutable("redis-server") else {
        throw BenchFailure("redis-server is not installed (apt-get install -y redis-server)")
    }
    let directory = try makeTemporaryDirectory(in: workParent, prefix: "redis-bench")
    do {
        return try await startRedis(in: directory, binary: binary, tls: tls, openFiles: openFiles)
    } catch {
        try? FileManager.default.removeItem(atPath: directory)
        throw error
    }
}

private func startRedis(in directory: String, binary: String, tls: Bool, openFiles: Int) async throws -> RunningServer {
    let port = try freePort()
    var arguments = [
        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no",
        "--client-output-buffer-limit", "pubsub 0 0 0", "--maxclients", "\(max(1000, openFiles - 64))",
        "--dir", directory, "--logfile", "\(directory)/redis.log", "--daemonize", "no",
    ]
    var context: NIOSSLContext?
    if tls {
        let (cert, key) = try makeCertificate(in: directory)
        arguments += [
            "--port", "0", "--tls-port", "\(port)", "--tls-cert-file", cert, "--tls-key-file", key,
            "--tls-auth-clients", "no",
        ]
        context = try clientTLSContext(trusting: cert)
    } else {
        arguments += ["--port", "\(port)"]
    }
    let process = try ServerProcess(
        name: "redis-server", executable: binary, arguments: arguments, logPath: "\(directory)/redis.out",
        openFiles: openFiles)
    try await waitForPort(port, server: process)
    let version =
        (try? run(binary, ["--version"]).split(separator: " ").first { $0.hasPrefix("v=") }.map { "redis-server " + $0.dropFirst(2) })
        ?? "redis-server"
    return RunningServer(
        endpoint: Endpoint(wire: .redis, port: port, tls: context), process: process, directory: directory,
        version: version)
}

/// Average time of rewriting one 4 KiB block and `fdatasync` in `directory` (what SQLite does per
/// commit in WAL mode once the log is allocated): the floor of one group commit.
func fsyncCostMillis(in directory: String, samples: Int = 50) -> Double {
    let path = "\(directory)/.fsync-probe-\(getpid())"
    let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
    guard fd >= 0 else { return -1 }
    defer {
        close(fd)
        unlink(path)
    }
    var block = [UInt8](repeating: 0x61, count: 4096)
    _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, 0) }
    fsync(fd)
    let start = monotonicNanos()
    for index in 0..<samples {
        block[0] = UInt8(truncatingIfNeeded: index)
        _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, 0) }
        fdatasync(fd)
    }
    return Double(monotonicNanos() - start) / Double(samples) / 1e6
}

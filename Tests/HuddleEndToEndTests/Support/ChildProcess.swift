import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A program the tests start: the daemon, the CLI, curl, sqlite3, Python peers, the browser's
/// driver. Started the way a login shell starts one, which Foundation's `Process` does not do:
/// - no descriptor of the test process but the three it is given. Through `Process` a child
///   kept every descriptor that was open at that moment, among them the exit-watching socket of
///   each other child being started; a daemon's exit then went unseen for as long as a curl or a
///   browser started beside it lived, and a whole suite run hung on it;
/// - no signal blocked and default dispositions. A child started from a thread of the
///   cooperative pool inherits that thread's blocked signals (a daemon that ignores SIGTERM, a
///   tmux server that never reaps its panes).
/// Its end is seen with `waitpid` on its own PID, never with a signal handler.
final class ChildProcess: Sendable {
    /// Where one of the standard three goes.
    enum Stream {
        case null
        /// A pipe: the test's end is `input`, `output` or `errors`.
        case pipe
        /// A file, created or truncated.
        case file(String)
        /// The same as standard output (only for standard error).
        case output
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let processIdentifier: pid_t
    let arguments: [String]
    /// The test's ends of the pipes asked for (`.pipe`), closed when this goes away.
    let input: FileHandle?
    let output: FileHandle?
    let errors: FileHandle?
    /// The wait status once `waitpid` has seen the end.
    private let status = NIOLockedValueBox<Int32?>(nil)

    /// Starts `arguments[0]` (a path, or a name looked up in `PATH`).
    init(
        _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null
    ) throws {
        self.arguments = arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }

        // The child's ends, closed here once it is started; the test's ends are close-on-exec.
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        func connect(_ stream: Stream, to target: Int32, writing: Bool) throws -> FileHandle? {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", writing ? O_WRONLY : O_RDONLY, 0)
                return nil
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
                return nil
            case .output:
                posix_spawn_file_actions_adddup2(&actions, 1, target)
                return nil
            case .pipe:
                var ends: [Int32] = [0, 0]
                guard pipe(&ends) == 0 else {
                    throw Failure(description: "pipe: \(String(cString: strerror(errno)))")
                }
                // (Another child started meanwhile closes them anyway: see `closeTheRest`.)
                _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                let (childEnd, testEnd) = writing ? (ends[1], ends[0]) : (ends[0], ends[1])
                childEnds.append(childEnd)
                // dup2 clears close-on-exec on the copy the child keeps.
                posix_spawn_file_actions_adddup2(&actions, childEnd, target)
                return FileHandle(fileDescriptor: testEnd, closeOnDealloc: true)
            }
        }
        input = try connect(stdin, to: 0, writing: false)
        output = try connect(stdout, to: 1, writing: true)
        errors = try connect(stderr, to: 2, writing: true)
        Self.closeTheRest(&actions)
        if let directory { Self.changeDirectory(&actions, directory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGPIPE, SIGQUIT, SIGWINCH, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, number)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for pointer in envp ?? [] { free(pointer) } }
        var pid = pid_t()
        let started = argv.withUnsafeBufferPointer { argv in
            if let envp {
                envp.withUnsafeBufferPointer { envp in
                    posix_spawnp(&pid, arguments[0], &actions, &attributes, argv.baseAddress!, envp.baseAddress!)
                }
            } else {
                posix_spawnp(&pid, arguments[0], &actions, &attributes, argv.baseAddress!, environ)
            }
        }
        guard started == 0 else {
            throw Failure(description: "cannot start \(arguments[0]): \(String(cString: strerror(started)))")
        }
        processIdentifier = pid
    }

    deinit {
        if isRunning {
            kill(processIdentifier, SIGKILL)
            waitUntilExit()
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not show: it closes in the child, so a descriptor opened meanwhile by another
    /// thread is closed too. Without it, the descriptors open now are closed one by one.
    private static func closeTheRest(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") {
            if unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3) == 0 { return }
        }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in descriptors.compactMap(Int32.init) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    private static func changeDirectory(_ actions: inout posix_spawn_file_actions_t, _ directory: String) {
        typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addchdir_np") else { return }
        _ = unsafeBitCast(symbol, to: ChangeDirectory.self)(&actions, directory)
    }

    // MARK: Its end

    var isRunning: Bool {
        status.withLockedValue { status in
            guard status == nil else { return false }
            var raw: Int32 = 0
            let result = waitpid(processIdentifier, &raw, WNOHANG)
            if result == processIdentifier {
                status = raw
            } else if result < 0, errno == ECHILD {
                status = 0
            }
            return status == nil
        }
    }

    /// As Foundation's: the exit code, or the number of the signal that ended it.
    var terminationStatus: Int32 {
        guard let raw = status.withLockedValue({ $0 }) else { return 0 }
        return raw & 0x7F == 0 ? (raw >> 8) & 0xFF : raw & 0x7F
    }

    /// The exit code, or 128 plus the signal's number, as a shell reports it.
    var shellStatus: Int32 {
        guard let raw = status.withLockedValue({ $0 }) else { return 0 }
        return raw & 0x7F == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
    }

    /// Blocks this thread (use it off the cooperative pool) until the child has ended.
    func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }

    /// Waits without holding a thread; false if it still runs after `timeout`.
    func exited(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// Under the lock that reaping takes: an unreaped PID is still this child's, never reused.
    func signal(_ number: Int32) {
        _ = isRunning
        status.withLockedValue { status in
            if status == nil { kill(processIdentifier, number) }
        }
    }

    func terminate() { signal(SIGTERM) }
    func interrupt() { signal(SIGINT) }
}

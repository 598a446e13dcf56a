import Foundation
import HuddleFraming
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Brings admin changes made by `huddled user|team …` (another process, the same database) into
/// the running daemon, three ways:
/// - the admin command tells the daemon on `DIR/admin.sock` and waits for its answer, so that a
///   rotated token is refused and a removed user's sessions have ended before the command returns;
/// - an unknown token or team is refused only after a look at the database (`AdminRefresh`);
/// - a slow poll, in case an admin command could not reach the socket (another user's process
///   without access to it).
///
/// The socket lives in the data folder and is the owner's alone (0600 in a 0700 folder): whoever
/// may connect could write the database anyway. All it does is make the daemon look.
public struct AdminChanges: Service {
    let hub: Hub
    let socketPath: String?
    let logger: Logger

    /// The poll for changes whose command did not reach the socket.
    static let pollInterval: Duration = .seconds(2)
    /// Looks are at least this far apart, so that a flood of unknown tokens costs a bounded
    /// number of reads (at most 50 a second of one row each).
    static let minimumSpacing: Duration = .milliseconds(20)
    /// How long the socket's answer waits for revoked sessions to close.
    static let closeWait: Duration = .seconds(2)

    public init(hub: Hub, socketPath: String?, logger: Logger) {
        self.hub = hub
        self.socketPath = socketPath
        self.logger = logger
    }

    public func run() async throws {
        let refresh = hub.adminRefresh
        refresh.setRunning(true)
        defer { refresh.setRunning(false) }
        // Shutdown cancels the loop: that is its normal end, not a failure of the daemon.
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: Self.pollInterval)
                            refresh.poke()
                        }
                    }
                    if let socketPath {
                        group.addTask { await serveSocket(at: socketPath) }
                    }
                    // Unknown at first: a change committed between the hub's load and this
                    // start must not be taken for one already applied, so the first look reloads.
                    var applied = Int64.min
                    for await _ in refresh.wakeups {
                        let waiting = refresh.takeWaiting()
                        await look(applied: &applied)
                        for caller in waiting { caller() }
                        try await Task.sleep(for: Self.minimumSpacing)
                    }
                    group.cancelAll()
                }
            }
        } catch is CancellationError {}
    }

    /// Reads the admin version and, when it moved, applies the changes; a revoked session is
    /// given a moment to close, so that whoever waits for this look sees it gone.
    private func look(applied: inout Int64) async {
        do {
            let version = try await hub.store.adminVersion()
            guard version != applied else { return }
            let revoked = try await hub.applyAdminChanges()
            applied = version
            logger.info("applied admin changes", metadata: ["admin.version": "\(version)"])
            let deadline = ContinuousClock.now + Self.closeWait
            while revoked.contains(where: { !$0.outbox.hasClosed }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
        } catch is CancellationError {
            return
        } catch {
            logger.warning("could not read admin changes", metadata: ["error": "\(error)"])
        }
    }

    /// Answers `apply` with `applied` once a look that started after the request has finished.
    private func serveSocket(at path: String) async {
        let refresh = hub.adminRefresh
        do {
            let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 64)))
                        return try NIOAsyncChannel<InboundFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            chmod(path, 0o600)
            // Gone with the daemon: an admin command then knows at once that nobody listens.
            defer { unlink(path) }
            logger.debug("admin socket ready", metadata: ["path": "\(path)"])
            try await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        group.addTask {
                            try? await connection.executeThenClose { input, output in
                                for try await frame in input {
                                    guard frame == .line(Array(AdminSocket.request.utf8)) else { return }
                                    await refresh.nextLook()
                                    try await output.write(ByteBuffer(string: AdminSocket.answer + "\n"))
                                    return
                                }
                            }
                        }
                    }
                }
            }
        } catch is CancellationError {
        } catch {
            // The daemon works without it: admin commands then wait for the poll.
            logger.warning(
                "no admin socket; admin changes take effect within \(Self.pollInterval)",
                metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }
}

/// The admin command's side of `DIR/admin.sock`.
public enum AdminSocket {
    static let request = "apply"
    static let answer = "applied"

    public enum Outcome: Equatable, Sendable {
        /// The running daemon has applied every change committed before the call.
        case applied
        /// No daemon listens: it will load the changes when it starts.
        case notRunning
        /// A daemon may be running but did not answer; it picks the change up by its poll.
        case unconfirmed(String)
    }

    public static func path(data: String) -> String { "\(data)/admin.sock" }

    /// Tells the daemon serving `data` (if any) to apply the admin changes, and waits for it.
    public static func tell(data: String, timeout: Duration = .seconds(5)) async -> Outcome {
        let path = path(data: data)
        guard FileManager.default.fileExists(atPath: path) else { return .notRunning }
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 64)))
                        return try NIOAsyncChannel<InboundFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await withThrowingTaskGroup(of: Outcome.self) { group in
                group.addTask {
                    try await channel.executeThenClose { input, output in
                        try await output.write(ByteBuffer(string: request + "\n"))
                        for try await frame in input where frame == .line(Array(answer.utf8)) {
                            return .applied
                        }
                        return .unconfirmed("the daemon closed the admin socket without an answer")
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    channel.channel.close(promise: nil)
                    return .unconfirmed("no answer from the daemon within \(timeout)")
                }
                let first = try await group.next() ?? .unconfirmed("no answer")
                group.cancelAll()
                return first
            }
        } catch let error as IOError where error.errnoCode == ECONNREFUSED || error.errnoCode == ENOENT {
            return .notRunning
        } catch {
            return .unconfirmed("\(error)")
        }
    }
}

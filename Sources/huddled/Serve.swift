import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import HuddleCore
import HuddleServer
import HuddleStore
import Logging
import NIOSSL
import ServiceLifecycle
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon (the default when no subcommand is given).")

    @Option(help: "The data folder (default ./huddle-data).") var data: String?
    @Option(help: "Protocol address HOST:PORT (default 127.0.0.1:7447; port 0 picks a free port).") var listen: String?
    @Option(help: "HTTP address HOST:PORT (default 127.0.0.1:7448; port 0 picks a free port): queue reports, /metrics, /healthz.")
    var http: String?
    @Flag(help: "Turn TLS off on the protocol port (loopback development only).") var plaintext = false
    @Flag(help: "Turn TLS off on the HTTP port.") var httpPlaintext = false
    @Flag(help: "Post alert notices to http:// targets too (loopback tests; notices otherwise go over https only).")
    var notifyAllowHttp = false
    @Option(help: "Configuration file of `key = value` lines.") var config: String?
    @Option(name: .customLong("rate-per-s"), help: "Requests per second per connection (20).") var ratePerS: Double?
    @Option(help: "Burst of requests per connection (40).") var rateBurst: Double?
    @Option(name: .customLong("bot-rate-per-s"), help: "Bots' requests per second (10× rate-per-s).") var botRatePerS: Double?
    @Option(help: "Bots' burst (10× rate-burst).") var botRateBurst: Double?
    @Option(help: "Longest request line in bytes (16384).") var maxLineBytes: Int?
    @Option(help: "Sessions per user (8).") var maxSessionsPerUser: Int?
    @Option(help: "Outbound buffer per connection in bytes (1048576).") var outboundBufferBytes: Int?
    @Option(name: .customLong("write-timeout-s"), help: "Seconds a write may make no progress (10).") var writeTimeoutS: Int?
    @Option(name: .customLong("heartbeat-s"), help: "Heartbeat interval in seconds (15).") var heartbeatS: Int?
    @Option(name: .customLong("auth-timeout-s"), help: "Seconds to authenticate (10).") var authTimeoutS: Int?
    @Option(help: "Days of history kept (30).") var historyDays: Int?
    @Option(help: "Changes one transaction may group (1024).") var commitMaxBatch: Int?
    @Option(
        help:
            "When commits reach the disk: checkpoint (within 200 ms; a killed daemon loses nothing) or commit (each commit synced before it is acknowledged; a power cut loses nothing) (checkpoint)."
    )
    var sync: String?
    @Option(help: "Event-loop threads (one per core).") var eventLoops: Int?
    @Option(help: "trace, debug, info, notice, warning, error or critical (info).") var logLevel: String?
    @Option(name: .customLong("shutdown-timeout-s"), help: "Seconds a graceful shutdown waits for clients (10).")
    var shutdownTimeoutS: Int?
    @Option(help: "Protocol connections held at once (60000; also bounded by the open-file limit).") var maxConnections: Int?
    @Option(help: "Protocol connections not yet past hello; beyond it the oldest is closed (10000).") var maxUnauthenticated: Int?
    @Option(help: "Protocol connections not yet past hello from one address (1000).") var maxUnauthenticatedPerAddress: Int?
    @Option(name: .customLong("http-request-timeout-s"), help: "Seconds an HTTP request may take to arrive in full (10).")
    var httpRequestTimeoutS: Int?
    @Option(name: .customLong("http-auth-failures-per-min"), help: "Failed HTTP authentications per address per minute before 429 (30).")
    var httpAuthFailuresPerMin: Double?
    @Option(name: .customLong("http-max-connections"), help: "HTTP connections served at once; more wait (1024).")
    var httpMaxConnections: Int?
    @Option(name: .customLong("http-idle-timeout-s"), help: "Seconds an idle keep-alive HTTP connection stays open (60).")
    var httpIdleTimeoutS: Int?
    @Option(name: .customLong("http-max-event-streams"), help: "The wallboard's event streams open at once; more get 429 (1000).")
    var httpMaxEventStreams: Int?
    @Option(
        name: .customLong("http-max-event-streams-per-viewer"),
        help: "Event streams one user or display link may hold at once; more get 429 (20).")
    var httpMaxEventStreamsPerViewer: Int?

    /// The flags given on the command line, as configuration keys.
    var flagValues: [String: String] {
        var values: [String: String] = [:]
        func put(_ key: String, _ value: (some CustomStringConvertible)?) {
            if let value { values[key] = value.description }
        }
        put("data", data)
        put("listen", listen)
        put("http", http)
        if plaintext { values["plaintext"] = "true" }
        if httpPlaintext { values["http-plaintext"] = "true" }
        put("rate-per-s", ratePerS)
        put("rate-burst", rateBurst)
        put("bot-rate-per-s", botRatePerS)
        put("bot-rate-burst", botRateBurst)
        put("max-line-bytes", maxLineBytes)
        put("max-sessions-per-user", maxSessionsPerUser)
        put("outbound-buffer-bytes", outboundBufferBytes)
        put("write-timeout-s", writeTimeoutS)
        put("heartbeat-s", heartbeatS)
        put("auth-timeout-s", authTimeoutS)
        put("history-days", historyDays)
        put("commit-max-batch", commitMaxBatch)
        put("sync", sync)
        put("event-loops", eventLoops)
        put("log-level", logLevel)
        put("shutdown-timeout-s", shutdownTimeoutS)
        put("max-connections", maxConnections)
        put("max-unauthenticated", maxUnauthenticated)
        put("max-unauthenticated-per-address", maxUnauthenticatedPerAddress)
        put("http-request-timeout-s", httpRequestTimeoutS)
        put("http-auth-failures-per-min", httpAuthFailuresPerMin)
        put("http-max-connections", httpMaxConnections)
        put("http-idle-timeout-s", httpIdleTimeoutS)
        put("http-max-event-streams", httpMaxEventStreams)
        put("http-max-event-streams-per-viewer", httpMaxEventStreamsPerViewer)
        return values
    }

    func settings() throws -> Settings {
        var settings = Settings()
        if let config { try settings.apply(Settings.parseFile(config)) }
        try settings.apply(flagValues)
        (settings.server.listenHost, settings.server.listenPort) = try Settings.hostPort(settings.listen)
        if settings.server.plaintext && !Settings.isLoopback(settings.server.listenHost) {
            throw Settings.Failure(
                description: "--plaintext is for loopback development only: listen on 127.0.0.1 or ::1, or keep TLS on")
        }
        _ = try Settings.hostPort(settings.http)
        guard Logger.Level(rawValue: settings.logLevel) != nil else {
            throw Settings.Failure(description: "log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        return settings
    }

    func validate() throws {
        do {
            _ = try settings()
        } catch let failure as Settings.Failure {
            throw ValidationError(failure.description)
        }
    }

    func run() async throws {
        Allocator.limitArenas(environment: ProcessInfo.processInfo.environment)
        let settings = try settings()
        let logLevel = LogLevelControl(Logger.Level(rawValue: settings.logLevel) ?? .info)
        LoggingSystem.bootstrap { label in ReloadableLevelLogHandler(label: label, control: logLevel) }
        let logger = Logger(label: "huddled")
        // Before anything uses the singleton event-loop group (the protocol and HTTP servers).
        NIOSingletons.groupLoopCountSuggestion = settings.eventLoopThreads(cores: System.coreCount)
        let metrics = ServerMetrics.bootstrap()
        // One descriptor per client: the soft limit (often 1024) would cap the floor long before
        // max-connections does.
        let openFiles = raiseOpenFileLimit()
        logger.info("open-file limit \(openFiles)")
        let clock = SystemWallClock()
        let dataDirectory = settings.data
        do {
            if let was = try PrivateFiles.prepareFolder(dataDirectory) {
                logger.notice(
                    "made the data folder private (0700, was \(String(was, radix: 8)))", metadata: ["path": "\(dataDirectory)"])
            }
        } catch let failure as PrivateFiles.Failure {
            // A folder owned by someone else (a bind mount): the files in it are still 0600, so
            // what others can see is their names.
            logger.warning("\(failure); the files in it are 0600 all the same")
        }
        if let was = try PrivateFiles.tighten("\(dataDirectory)/admin.token", to: 0o600) {
            logger.notice("made admin.token private (0600, was \(String(was, radix: 8)))")
        }
        let store = try Store(path: "\(dataDirectory)/huddle.sqlite", sync: settings.sync, backgroundCheckpoints: true)
        logger.notice("database ready", metadata: ["path": "\(store.path)", "sync": "\(settings.sync.rawValue)"])
        let bootID = Store.currentBootID()
        if let unfinished = try store.beginRun(bootID: bootID, sync: settings.sync),
            Store.mayHaveLostCommits(unfinished, currentBootID: bootID)
        {
            // Clients may have seen events that did not reach the disk before the machine went
            // down: a new epoch keeps any of them from being told their replay is complete.
            try store.renewEpochs()
            logger.warning(
                "the machine went down while huddled ran (sync = checkpoint): the last changes before it may be lost; every team starts a new history epoch"
            )
        }

        let (lineage, restored) = try store.beginLineage()
        if let restored {
            // Its seqs re-use ones that clients saw on the timeline it lost.
            try store.renewEpochs()
            logger.warning(
                "this database is not the one the data folder last held: \(restored); every team starts a new history epoch")
        }

        if let token = try store.bootstrapAdminIfNeeded(now: clock.now()) {
            let tokenPath = "\(dataDirectory)/admin.token"
            try AdminTokenFile.write(token, to: tokenPath)
            logger.notice("created the bootstrap admin; its token is in \(tokenPath)")
        }

        var tlsContext: NIOSSLContext?
        if !settings.server.plaintext || !settings.httpPlaintext {
            let (files, created) = try TLSFiles.ensureSelfSigned(
                inDataDirectory: dataDirectory, hostName: ProcessInfo.processInfo.hostName)
            tlsContext = try TLSFiles.makeServerContext(files)
            let fingerprint = try TLSFiles.sha256Fingerprint(pemFile: files.certificatePath)
            logger.notice(
                "\(created ? "generated a self-signed certificate" : "using the certificate") \(files.certificatePath); SHA-256 fingerprint \(fingerprint)")
        }
        if settings.server.plaintext {
            logger.warning("TLS is off on the protocol port (--plaintext): use this on loopback only")
        }
        let (httpHost, httpPort) = try Settings.hostPort(settings.http)
        if settings.httpPlaintext {
            logger.warning("TLS is off on the HTTP port (--http-plaintext): bearer tokens travel in clear")
        }

        let hub = Hub(store: store, clock: clock, configuration: settings.server, logger: logger)
        try await hub.load()
        let server = ProtocolServer(hub: hub, tlsContext: settings.server.plaintext ? nil : tlsContext, logger: logger)
        let http = HTTPServer(
            host: httpHost, port: httpPort, hub: hub, protocolServer: server, metrics: metrics,
            tlsContext: settings.httpPlaintext ? nil : tlsContext, logger: logger)
        let reload = Reloader(
            command: self, started: settings, hub: hub, server: server, http: http, logLevel: logLevel, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: server),
                    // After the protocol server: the group stops services in reverse order.
                    .init(service: http),
                    .init(service: Housekeeping(hub: hub, logger: logger)),
                    .init(service: AdminChanges(hub: hub, socketPath: AdminSocket.path(data: dataDirectory), logger: logger)),
                    .init(service: Durability(hub: hub, store: store, lineage: lineage, logger: logger)),
                    .init(service: HistoryPruning(hub: hub, logger: logger)),
                    .init(
                        service: NoticeSender(
                            store: store, clock: clock, bell: hub.alertsCommitted, allowHTTP: notifyAllowHttp, logger: logger,
                            onStatus: { status, team in hub.noticeChanged(status, team: team) })),
                    .init(service: reload),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        // The exact watermark: a backup taken during this run and restored later is behind it.
        do {
            var last = lineage
            last.events = try await store.syncLog()
            try last.write(to: Lineage.sideFile(of: store.path), durable: true)
        } catch {
            logger.error(
                "could not record the events on disk in huddle.run: a backup of this run restored later may go unnoticed",
                metadata: ["error": "\(error)"])
        }
        try store.endRun()
        try store.close()
        logger.notice("stopped")
    }
}

/// SIGHUP: reread the configuration file and the certificate; open sessions stay. Addresses,
/// TLS on or off and the data folder need a restart: they are kept as they were, with a warning
/// when the file asks for something else.
struct Reloader: Service {
    let command: Serve
    /// What the daemon started with (the settings a reload cannot change).
    let started: Settings
    let hub: Hub
    let server: ProtocolServer
    let http: HTTPServer
    let logLevel: LogLevelControl
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.notice("SIGHUP: reloading configuration and certificate")
            reload()
        }
    }

    func reload() {
        var next: Settings
        do {
            next = try command.settings()
        } catch {
            logger.error("configuration reload failed; keeping the current one", metadata: ["error": "\(error)"])
            return
        }
        let fixed: [(String, String, String)] = [
            ("data", started.data, next.data), ("listen", started.listen, next.listen), ("http", started.http, next.http),
            ("plaintext", "\(started.server.plaintext)", "\(next.server.plaintext)"),
            ("http-plaintext", "\(started.httpPlaintext)", "\(next.httpPlaintext)"),
            ("sync", started.sync.rawValue, next.sync.rawValue),
            ("event-loops", "\(started.eventLoops)", "\(next.eventLoops)"),
        ]
        for (key, now, asked) in fixed where now != asked {
            logger.warning("\(key) changed to \(asked); it takes effect only after a restart (still \(now))")
        }
        let current = hub.config
        next.server.listenHost = current.listenHost
        next.server.listenPort = current.listenPort
        next.server.plaintext = current.plaintext
        hub.updateConfiguration(next.server)
        if let level = Logger.Level(rawValue: next.logLevel), level != logLevel.current {
            logger.notice("log level is now \(level)")
            logLevel.current = level
        }
        guard !current.plaintext || http.usesTLS else { return }
        let files = TLSFiles(certificatePath: "\(started.data)/tls/cert.pem", keyPath: "\(started.data)/tls/key.pem")
        do {
            let context = try TLSFiles.makeServerContext(files)
            if !current.plaintext { server.replaceTLSContext(context) }
            http.replaceTLSContext(context)
            let fingerprint = try TLSFiles.sha256Fingerprint(pemFile: files.certificatePath)
            logger.notice("certificate reloaded; SHA-256 fingerprint \(fingerprint)")
        } catch {
            logger.error(
                "certificate reload failed; keeping the current certificate", metadata: ["error": "\(error)"])
        }
    }
}

enum AdminTokenFile {
    /// Writes a secret with mode 0600 from the start (never readable by others, not even briefly).
    /// A file left there before, with a looser mode, is replaced rather than written into.
    static func write(_ token: String, to path: String) throws {
        try PrivateFiles.write(Array((token + "\n").utf8), to: path, durable: true)
    }
}

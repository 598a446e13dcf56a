import Logging
import Synchronization

/// The daemon's log level, changeable while it runs (SIGHUP rereads `log-level`). Every logger
/// made by the bootstrap reads it on each call, so a reload reaches loggers that already exist.
final class LogLevelControl: Sendable {
    private let level: Mutex<Logger.Level>

    init(_ level: Logger.Level) {
        self.level = Mutex(level)
    }

    var current: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}

/// Standard error, as `StreamLogHandler`, with the level taken from a shared `LogLevelControl`.
struct ReloadableLevelLogHandler: LogHandler {
    private var stream: StreamLogHandler
    let control: LogLevelControl

    init(label: String, control: LogLevelControl) {
        stream = StreamLogHandler.standardError(label: label)
        stream.logLevel = .trace
        self.control = control
    }

    /// Set on one logger (a quieter logger for a chatty library, say), it holds for that logger
    /// alone; otherwise the daemon's level applies, as last reloaded.
    private var override: Logger.Level?

    var logLevel: Logger.Level {
        get { override ?? control.current }
        set { override = newValue }
    }

    var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        stream.log(event: event)
    }
}

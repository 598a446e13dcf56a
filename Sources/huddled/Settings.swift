import Foundation
import HuddleServer
import HuddleStore

/// The `serve` settings from defaults, the configuration file and flags (flags win over the
/// file, the file over the defaults). The file holds `key = value` lines with the flag names as
/// keys; `#` starts a comment.
struct Settings: Equatable {
    var data = "./huddle-data"
    var listen = "127.0.0.1:7447"
    var http = "127.0.0.1:7448"
    var httpPlaintext = false
    var logLevel = "info"
    /// When commits reach the disk (`Store.Sync`); read at start.
    var sync = Store.Sync.checkpoint
    /// Event-loop threads; 0 means one per core. Read at start.
    var eventLoops = 0
    var server = ServerConfiguration()
    /// Bots' rates when set explicitly (file or flag); otherwise ten times the agents'.
    var botRatePerSecond: Double?
    var botRateBurst: Double?

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let keys: Set<String> = [
        "data", "listen", "http", "plaintext", "http-plaintext", "rate-per-s", "rate-burst", "bot-rate-per-s",
        "bot-rate-burst", "max-line-bytes", "max-sessions-per-user", "outbound-buffer-bytes", "write-timeout-s",
        "heartbeat-s", "auth-timeout-s", "history-days", "commit-max-batch", "log-level", "shutdown-timeout-s", "sync",
        "event-loops", "max-connections", "max-unauthenticated", "max-unauthenticated-per-address",
        "http-request-timeout-s", "http-auth-failures-per-min", "http-max-connections", "http-idle-timeout-s",
        "http-max-event-streams", "http-max-event-streams-per-viewer",
    ]

    /// Parses a configuration file into key/value pairs, refusing unknown keys.
    static func parseFile(_ path: String) throws -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure(description: "cannot read configuration file \(path): \(error.localizedDescription)")
        }
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else {
                throw Failure(description: "\(path):\(number + 1): expected `key = value`")
            }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            var value = parts[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard keys.contains(key) else { throw Failure(description: "\(path):\(number + 1): unknown key '\(key)'") }
            values[key] = value
        }
        return values
    }

    /// Applies key/value pairs (from the file or from flags) over these settings.
    mutating func apply(_ values: [String: String]) throws {
        func int(_ key: String, _ value: String, min: Int = 1) throws -> Int {
            guard let i = Int(value), i >= min else { throw Failure(description: "\(key) must be a whole number ≥ \(min)") }
            return i
        }
        func double(_ key: String, _ value: String) throws -> Double {
            guard let d = Double(value), d > 0 else { throw Failure(description: "\(key) must be a positive number") }
            return d
        }
        func bool(_ key: String, _ value: String) throws -> Bool {
            switch value.lowercased() {
            case "true", "yes", "1", "on": return true
            case "false", "no", "0", "off": return false
            default: throw Failure(description: "\(key) must be true or false")
            }
        }
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "data": data = value
            case "listen": listen = value
            case "http": http = value
            case "plaintext": server.plaintext = try bool(key, value)
            case "http-plaintext": httpPlaintext = try bool(key, value)
            case "rate-per-s": server.ratePerSecond = try double(key, value)
            case "rate-burst": server.rateBurst = try double(key, value)
            case "bot-rate-per-s": botRatePerSecond = try double(key, value)
            case "bot-rate-burst": botRateBurst = try double(key, value)
            case "max-line-bytes": server.maxLineBytes = try int(key, value, min: 64)
            case "max-sessions-per-user": server.maxSessionsPerUser = try int(key, value)
            case "outbound-buffer-bytes": server.outboundBufferBytes = try int(key, value, min: 1024)
            case "write-timeout-s": server.writeTimeoutSeconds = Int64(try int(key, value))
            case "heartbeat-s": server.heartbeatSeconds = Int64(try int(key, value))
            case "auth-timeout-s": server.authTimeoutSeconds = Int64(try int(key, value))
            case "history-days": server.historyDays = Int64(try int(key, value))
            case "commit-max-batch": server.commitMaxBatch = try int(key, value)
            case "shutdown-timeout-s": server.shutdownTimeoutSeconds = Int64(try int(key, value))
            case "log-level": logLevel = value
            case "sync":
                guard let sync = Store.Sync(rawValue: value) else {
                    throw Failure(description: "sync must be checkpoint or commit")
                }
                self.sync = sync
            case "event-loops": eventLoops = try int(key, value, min: 0)
            case "max-connections": server.maxConnections = try int(key, value)
            case "max-unauthenticated": server.maxUnauthenticated = try int(key, value)
            case "max-unauthenticated-per-address": server.maxUnauthenticatedPerAddress = try int(key, value)
            case "http-request-timeout-s": server.httpRequestTimeoutSeconds = Int64(try int(key, value))
            case "http-auth-failures-per-min": server.httpAuthFailuresPerMinute = try double(key, value)
            case "http-max-connections": server.httpMaxConnections = try int(key, value)
            case "http-idle-timeout-s": server.httpIdleTimeoutSeconds = Int64(try int(key, value))
            case "http-max-event-streams": server.httpMaxEventStreams = try int(key, value)
            case "http-max-event-streams-per-viewer": server.httpMaxEventStreamsPerViewer = try int(key, value)
            default: throw Failure(description: "unknown setting '\(key)'")
            }
        }
        // Bots get ten times the agents' rate unless told otherwise (in the file or a flag).
        server.botRatePerSecond = botRatePerSecond ?? server.ratePerSecond * 10
        server.botRateBurst = botRateBurst ?? server.rateBurst * 10
    }

    /// The event-loop threads to run: as set, or one per core. One fewer than the cores leaves the
    /// commit thread a core of its own and lowers delivery latency on a small machine, but a
    /// whole floor reconnecting at once then queues its TLS handshakes on fewer cores: on two
    /// cores, one loop let 7,088 of 10,000 clients back within a minute where two let all 10,000
    /// (Benchmarks/README.md). The default keeps every core for the storm.
    func eventLoopThreads(cores: Int) -> Int {
        eventLoops > 0 ? eventLoops : max(1, cores)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Splits `HOST:PORT` (`[::1]:7447` for IPv6).
    static func hostPort(_ text: String) throws -> (String, Int) {
        var host: Substring
        var port: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw Failure(description: "expected [HOST]:PORT, got '\(text)'") }
            port = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw Failure(description: "expected HOST:PORT, got '\(text)'") }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let p = Int(port), (0...65535).contains(p), !host.isEmpty else {
            throw Failure(description: "expected HOST:PORT with a port from 0 to 65535, got '\(text)'")
        }
        return (String(host), p)
    }
}

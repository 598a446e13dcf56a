import Foundation
import HuddleProtocol

/// The CLI's stored login: `{server, token, fingerprint?, ca?, plaintext?}` in a 0600 JSON file.
public struct ClientConfig: Sendable, Equatable {
    public var server: String?
    public var token: String?
    /// The pinned SHA-256 fingerprint of the server's certificate (`AA:BB:…`).
    public var fingerprint: String?
    /// An absolute path to a CA file that verifies the server.
    public var ca: String?
    /// Plain TCP (a loopback development daemon started with `--plaintext`).
    public var plaintext: Bool

    public init(
        server: String? = nil, token: String? = nil, fingerprint: String? = nil, ca: String? = nil,
        plaintext: Bool = false
    ) {
        self.server = server
        self.token = token
        self.fingerprint = fingerprint
        self.ca = ca
        self.plaintext = plaintext
    }

    public init(json: JSONValue) {
        self.init(
            server: json["server"]?.stringValue, token: json["token"]?.stringValue,
            fingerprint: json["fingerprint"]?.stringValue, ca: json["ca"]?.stringValue,
            plaintext: json["plaintext"]?.boolValue ?? false)
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [:]
        if let server { object["server"] = .string(server) }
        if let token { object["token"] = .string(token) }
        if let fingerprint { object["fingerprint"] = .string(fingerprint) }
        if let ca { object["ca"] = .string(ca) }
        if plaintext { object["plaintext"] = .bool(true) }
        return .object(object)
    }

    /// How this stored login says to trust its server; nil when it says nothing.
    public var trust: TLSTrust? {
        if let fingerprint { return .fingerprint(fingerprint) }
        if let ca { return .caFile(ca) }
        if plaintext { return .plaintext }
        return nil
    }
}

public struct ConfigFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var detail: String

    public var description: String { "config file \(path): \(detail)" }
}

/// Where the stored login lives and how it is read and written.
public enum ConfigFile {
    /// `$HUDDLE_CONFIG`, else `$XDG_CONFIG_HOME/huddle/config.json`, else
    /// `$HOME/.config/huddle/config.json`; nil when none of them is set.
    public static func path(environment: [String: String]) -> String? {
        if let explicit = nonEmpty(environment["HUDDLE_CONFIG"]) { return explicit }
        if let xdg = nonEmpty(environment["XDG_CONFIG_HOME"]) { return xdg + "/huddle/config.json" }
        if let home = nonEmpty(environment["HOME"]) { return home + "/.config/huddle/config.json" }
        return nil
    }

    /// Nil when the file does not exist.
    public static func load(path: String) throws(ConfigFileError) -> ClientConfig? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigFileError(path: path, detail: "cannot be read")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse([UInt8](data))
        } catch {
            throw ConfigFileError(path: path, detail: "is not valid JSON (\(error.message))")
        }
        guard json.objectValue != nil else { throw ConfigFileError(path: path, detail: "is not a JSON object") }
        return ClientConfig(json: json)
    }

    /// Writes a temporary file created with mode 0600 and renames it over the old one, so the
    /// token is never readable by others, not even for a moment, and a crash leaves the old file.
    public static func save(_ config: ClientConfig, path: String) throws(ConfigFileError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw ConfigFileError(path: path, detail: "cannot create \(directory): \(error.localizedDescription)")
            }
        }
        var bytes = JSONWriter.encode(config.json)
        bytes.append(0x0A)
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConfigFileError(path: path, detail: "cannot write: \(errnoText())") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        let error = errnoText()
        close(fd)
        guard written == bytes.count, synced else {
            unlink(temporary)
            throw ConfigFileError(path: path, detail: "cannot write: \(error)")
        }
        guard rename(temporary, path) == 0 else {
            let error = errnoText()
            unlink(temporary)
            throw ConfigFileError(path: path, detail: "cannot replace: \(error)")
        }
    }

    /// Returns false when there was nothing to remove.
    public static func remove(path: String) throws(ConfigFileError) -> Bool {
        if unlink(path) == 0 { return true }
        if errno == ENOENT { return false }
        throw ConfigFileError(path: path, detail: "cannot remove: \(errnoText())")
    }

    /// True when group or others may read or write the file (it holds a token).
    public static func isTooOpen(path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return info.st_mode & 0o077 != 0
    }

    static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

import Foundation

/// A server address as users type it: `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public static let defaultPort = 7447

    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Nil when the text is empty, the brackets do not close or the port is not 1…65535.
    public init?(parsing text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard !host.isEmpty else { return nil }
            if rest.isEmpty {
                self.init(host: host, port: Self.defaultPort)
                return
            }
            guard rest.hasPrefix(":"), let port = Self.port(rest.dropFirst()) else { return nil }
            self.init(host: host, port: port)
            return
        }
        let colons = text.filter { $0 == ":" }.count
        if colons == 0 {
            self.init(host: text, port: Self.defaultPort)
        } else if colons == 1, let colon = text.firstIndex(of: ":") {
            let host = String(text[..<colon])
            guard !host.isEmpty, let port = Self.port(text[text.index(after: colon)...]) else { return nil }
            self.init(host: host, port: port)
        } else {
            // Several colons without brackets can only be an IPv6 address without a port.
            self.init(host: text, port: Self.defaultPort)
        }
    }

    private static func port(_ text: Substring) -> Int? {
        guard let port = Int(text), (1...65535).contains(port) else { return nil }
        return port
    }

    public var description: String { Self.display(host: host, port: port) }

    public static func display(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

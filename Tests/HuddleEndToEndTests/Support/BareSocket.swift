import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP socket from a chosen loopback source address (127.0.0.2 and up are all this
/// machine's), with blocking reads bounded by a timeout: what a flood or a careless client
/// opens, without TLS or a protocol library in the way.
final class BareSocket: @unchecked Sendable {
    let fd: Int32

    enum Read: Equatable {
        /// A line (without its newline).
        case line(String)
        /// The peer closed or reset the connection.
        case ended
        /// Nothing within the timeout.
        case nothing
    }

    init(port: Int, from source: String = "127.0.0.1", timeout: Duration = .seconds(5)) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestDaemon.Failure(description: "socket: \(errno)") }
        var local = Self.address(source, port: 0)
        var remote = Self.address("127.0.0.1", port: port)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestDaemon.Failure(description: "bind \(source): \(errno)") }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestDaemon.Failure(description: "connect: \(errno)") }
        setTimeout(timeout)
    }

    deinit { close(fd) }

    func setTimeout(_ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    static func address(_ host: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        return address
    }

    /// Writes all of `text`; false when the connection is gone.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    private var buffer: [UInt8] = []

    /// The next line, the end of the connection, or nothing within the socket's timeout (read on
    /// a thread of its own, see `offThePool`).
    func read() async -> Read {
        await offThePool { self.readBlocking() }
    }

    private func readBlocking() -> Read {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return .line(line)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 {
                buffer += chunk[..<n]
            } else if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                return .ended
            } else {
                return .nothing
            }
        }
    }

    /// Everything until the connection ends (or the timeout): for HTTP answers.
    func readAll() async -> (text: String, ended: Bool) {
        await offThePool { self.readAllBlocking() }
    }

    private func readAllBlocking() -> (text: String, ended: Bool) {
        var lines: [String] = []
        while true {
            switch readBlocking() {
            case .line(let line): lines.append(line)
            case .ended:
                lines.append(String(decoding: buffer, as: UTF8.self))
                return (lines.joined(separator: "\n"), true)
            case .nothing: return (lines.joined(separator: "\n"), false)
            }
        }
    }
}

import Foundation
import HuddleClient
import HuddleProtocol
import Testing

protocol StuckReader: Sendable {
    func send(_ line: String)
    /// Blocks for up to `seconds`: call it through `offThePool`.
    func isClosedByPeer(within seconds: Double) -> Bool
}

@Suite struct SlowReaderTests {
    /// A plain TCP socket that sends lines and never reads: the slowest reader there is.
    final class StuckClient: StuckReader, @unchecked Sendable {
        let fd: Int32

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var small: Int32 = 4096
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard result == 0 else { throw TestDaemon.Failure(description: "connect failed") }
        }

        func send(_ line: String) {
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// True once the server has closed the connection (reads drain what is buffered first).
        func isClosedByPeer(within seconds: Double = 10) -> Bool {
            var buffer = [UInt8](repeating: 0, count: 65536)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n == 0 { return true }
                if n < 0 {
                    if errno == ECONNRESET { return true }
                    usleep(10_000)
                }
            }
            return false
        }

        deinit { close(fd) }
    }

    /// Python for the stuck peers (this one and the wallboard's stalled tab):
    /// `closed_by_peer(tls, seconds)` reads again until the daemon has closed the connection or
    /// `seconds` have passed (a close waits behind the bytes the kernel still holds for the
    /// peer), and says which: "closed (…)" or "open".
    static let closedByPeer = #"""
        import socket, ssl, time
        def closed_by_peer(tls, seconds):
            deadline = time.monotonic() + seconds
            tls.settimeout(0.5)
            while time.monotonic() < deadline:
                try:
                    if not tls.recv(1 << 20):
                        return "closed (end of stream)"
                except (ConnectionResetError, ssl.SSLError, BrokenPipeError) as e:
                    return f"closed ({e})"
                except TimeoutError:
                    # Nothing to read: the kernel knows whether the peer has gone (any TCP state
                    # but ESTABLISHED, the first byte of TCP_INFO).
                    if tls.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] != 1:
                        return "closed (TCP state)"
            return "open"

        """#

    /// The same over TLS: a Python client (its own TLS stack, trusting cert.pem) with a 4 KiB
    /// receive buffer that completes its handshake, sends its lines and reads nothing until told.
    final class StuckTLSClient: StuckReader, @unchecked Sendable {
        let process: ChildProcess
        var input: FileHandle { process.input! }
        var output: FileHandle { process.output! }
        var lines: [String] = []

        static let script = closedByPeer + #"""
            import socket, ssl, sys
            port, cafile = int(sys.argv[1]), sys.argv[2]
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.connect(("127.0.0.1", port))
            tls = ssl.create_default_context(cafile=cafile).wrap_socket(raw, server_hostname="127.0.0.1")
            tls.sendall(sys.stdin.readline().replace("\\n", "\n").encode())
            # Read until the join is answered, so the stream is flowing to us before we stop.
            seen = b""
            while b'"id":2,' not in seen:
                seen += tls.recv(65536)
            print("sent", flush=True)
            print(closed_by_peer(tls, float(sys.stdin.readline())), flush=True)
            """#

        init(port: Int, certificate: String) throws {
            process = try ChildProcess(
                ["/usr/bin/env", "python3", "-c", Self.script, "\(port)", certificate], stdin: .pipe, stdout: .pipe,
                stderr: .output)
        }

        func send(_ line: String) { lines.append(line) }

        /// Sends the lines gathered so far in one write (the script reads one line of them).
        func flush() async throws {
            input.write(Data((lines.joined(separator: "\\n") + "\\n\n").utf8))
            let answer = await offThePool { String(decoding: self.output.availableData, as: UTF8.self) }
            guard answer.hasPrefix("sent") else { throw TestDaemon.Failure(description: "stuck TLS client: \(answer)") }
        }

        func isClosedByPeer(within seconds: Double = 10) -> Bool {
            input.write(Data("\(seconds)\n".utf8))
            let answer = String(decoding: output.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            process.waitUntilExit()
            if !answer.hasPrefix("closed") { FileHandle.standardError.write(Data("stuck TLS client: \(answer)\n".utf8)) }
            return answer.hasPrefix("closed")
        }

        deinit { process.terminate() }
    }

    @Test func aReaderThatStopsIsDisconnectedAndDelaysNobody() async throws {
        try await HeavyTests.one { try await stuckReader(tls: false) }
    }

    @Test func aReaderThatStopsBehindTLSIsDisconnectedAndDelaysNobody() async throws {
        try await HeavyTests.one { try await stuckReader(tls: true) }
    }

    func stuckReader(tls: Bool) async throws {
        let daemon = try TestDaemon(
            arguments: ["--rate-per-s", "100000", "--rate-burst", "100000", "--outbound-buffer-bytes", "65536", "--write-timeout-s", "2", "--max-sessions-per-user", "32"],
            plaintext: !tls)
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        let stuckToken = try await daemon.addUser("stuck", role: .agent, teams: ["floor-a"])
        try await daemon.start()

        let stuckTLS = tls ? try StuckTLSClient(port: daemon.port, certificate: daemon.certificate) : nil
        let stuck: any StuckReader = try stuckTLS ?? StuckClient(port: daemon.port)
        stuck.send(#"{"jsonrpc":"2.0","id":1,"method":"session.hello","params":{"token":"\#(stuckToken)","client":"stuck"}}"#)
        stuck.send(#"{"jsonrpc":"2.0","id":2,"method":"team.join","params":{"team":"floor-a"}}"#)
        try await stuckTLS?.flush()
        let watcher = try await daemon.session(bob)
        let joined = try await watcher.request("team.join", ["team": "floor-a"])
        let startSeq = try #require(joined["seq"]?.intValue)
        try await Task.sleep(for: .milliseconds(200))

        let padding = String(repeating: "x", count: 480)
        let sent = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    let sender = try await daemon.session(alice)
                    var count = 0
                    for i in 0..<800 {
                        if i % 50 == 0, daemon.log.contains("slow reader") { break }
                        _ = try await sender.request("message.send", ["team": "floor-a", "text": .string("\(worker)-\(i) \(padding)")])
                        count += 1
                    }
                    return count
                }
            }
            var total = 0
            for try await count in group { total += count }
            return total
        }
        #expect(daemon.log.contains("disconnecting a slow reader"), "the stuck reader was never disconnected")
        // The well-behaved watcher received every message, in order, with no gap.
        let deadline = ContinuousClock.now + .seconds(20)
        var seqs: [Int64] = []
        while ContinuousClock.now < deadline {
            seqs = await watcher.pending().compactMap {
                if case .event(let e) = $0, e.type == "message" { return e.seq } else { return nil }
            }
            if seqs.count >= sent { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(seqs.count == sent)
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count && (seqs.first ?? 0) > startSeq)
        // Within 30 s: the TLS close waits up to 5 s for a close_notify that cannot be written,
        // and on a loaded machine the daemon's loops take their time.
        #expect(await offThePool { stuck.isClosedByPeer(within: 30) })
        #expect(try await daemon.stop() == 0)
    }
}

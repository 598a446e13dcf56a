import Foundation
import HuddleClient
import HuddleServer
import NIOCore
import NIOPosix
import NIOSSL
import Testing

@Suite("TLSFilesTests")
struct TLSFilesTests {
    @Test func generatesFilesWithModesAndReusesThem() throws {
        let dir = try TemporaryDirectory()
        let first = try TLSFiles.ensureSelfSigned(inDataDirectory: dir.path, hostName: "huddle-test.example")
        #expect(first.created)
        #expect(first.files.certificatePath == dir.path + "/tls/cert.pem")
        #expect(first.files.keyPath == dir.path + "/tls/key.pem")
        #expect(try mode(of: first.files.keyPath) == 0o600)
        #expect(try mode(of: first.files.certificatePath) == 0o644)
        #expect(try mode(of: dir.path + "/tls") == 0o700)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tls").sorted()
        #expect(leftovers == ["cert.pem", "key.pem"])

        let certificate = try String(contentsOfFile: first.files.certificatePath, encoding: .utf8)
        let second = try TLSFiles.ensureSelfSigned(inDataDirectory: dir.path, hostName: "huddle-test.example")
        #expect(!second.created)
        #expect(second.files == first.files)
        #expect(try String(contentsOfFile: second.files.certificatePath, encoding: .utf8) == certificate)
    }

    @Test func certificateNamesAndExtensions() throws {
        let dir = try TemporaryDirectory()
        let files = try TLSFiles.ensureSelfSigned(inDataDirectory: dir.path, hostName: "Huddle-Test.example.").files
        let san = try run("/usr/bin/openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", files.certificatePath)
        #expect(san.status == 0)
        let names = Set(
            san.output.split(separator: "\n").dropFirst()
                .flatMap { $0.split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces) }
        )
        #expect(names == ["DNS:localhost", "DNS:huddle-test.example", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"])

        let text = try run("/usr/bin/openssl", "x509", "-noout", "-text", "-in", files.certificatePath)
        #expect(text.output.contains("Subject: CN = huddled huddle-test.example"))
        #expect(text.output.contains("CA:TRUE, pathlen:0"))
        #expect(text.output.contains("X509v3 Name Constraints: critical"))
        #expect(text.output.contains("IP:127.0.0.1/255.255.255.255"))
        #expect(text.output.contains("TLS Web Server Authentication"))
        #expect(text.output.contains("ecdsa-with-SHA256"))

        let serial = try run("/usr/bin/openssl", "x509", "-noout", "-serial", "-in", files.certificatePath)
        let hex = serial.output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
        #expect(hex.count == 40)
        #expect(Int(String(hex.prefix(1)), radix: 16).map { $0 < 8 } == true)
    }

    /// cert.pem is a CA (see ensureSelfSigned); its name constraints must keep the key from
    /// vouching for anyone else's names.
    @Test func nameConstraintsConfineWhatTheKeyCanSign() throws {
        let dir = try TemporaryDirectory()
        let files = try TLSFiles.ensureSelfSigned(inDataDirectory: dir.path, hostName: "huddle-test.example").files
        func issue(_ san: String) throws -> (status: Int32, output: String) {
            let leaf = dir.path + "/leaf-\(UUID().uuidString)"
            let request = try run(
                "/usr/bin/openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", leaf + ".key", "-subj", "/CN=leaf", "-addext", "subjectAltName=\(san)", "-out", leaf + ".csr")
            #expect(request.status == 0, "\(request.output)")
            let sign = try run(
                "/usr/bin/openssl", "x509", "-req", "-in", leaf + ".csr", "-CA", files.certificatePath,
                "-CAkey", files.keyPath, "-set_serial", "2", "-days", "1", "-copy_extensions", "copy", "-out", leaf + ".pem")
            #expect(sign.status == 0, "\(sign.output)")
            return try run("/usr/bin/openssl", "verify", "-CAfile", files.certificatePath, leaf + ".pem")
        }
        let own = try issue("DNS:localhost,IP:127.0.0.1")
        #expect(own.status == 0, "\(own.output)")
        let foreign = try issue("DNS:example.com")
        #expect(foreign.status != 0)
        #expect(foreign.output.contains("permitted subtree violation"), "\(foreign.output)")
        let foreignIP = try issue("IP:10.0.0.1")
        #expect(foreignIP.status != 0)
    }

    @Test(arguments: ["", "localhost", "127.0.0.1"])
    func hostNamesThatAddNoDNSEntry(hostName: String) throws {
        let dir = try TemporaryDirectory()
        let files = try TLSFiles.ensureSelfSigned(inDataDirectory: dir.path, hostName: hostName).files
        let san = try run("/usr/bin/openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", files.certificatePath)
        #expect(san.output.components(separatedBy: "DNS:").count == 2)
    }

    @Test func fingerprintMatchesOpenSSL() throws {
        let dir = try TemporaryDirectory()
        let files = try TLSFiles.ensureSelfSigned(inDataDirectory: dir.path, hostName: "h").files
        let result = try run("/usr/bin/openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", files.certificatePath)
        let expected = try #require(result.output.split(separator: "=").last).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(expected.count == 95)
        #expect(try TLSFiles.sha256Fingerprint(pemFile: files.certificatePath) == expected)
        let der = try #require(try NIOSSLCertificate.fromPEMFile(files.certificatePath).first).toDERBytes()
        #expect(TLSTrust.sha256Fingerprint(der: der) == expected)
    }

    @Test func reportsMissingFilesByName() throws {
        let dir = try TemporaryDirectory()
        let files = TLSFiles(certificatePath: dir.path + "/nope.pem", keyPath: dir.path + "/nokey.pem")
        let error = #expect(throws: TLSSetupError.self) { try TLSFiles.makeServerContext(files) }
        #expect(error?.description.contains("nope.pem") == true)
    }

    @Test func normalizesPins() throws {
        let canonical = String(repeating: "AB:", count: 31) + "AB"
        #expect(TLSTrust.normalizedFingerprint("SHA256:" + String(repeating: "ab", count: 32)) == canonical)
        #expect(TLSTrust.normalizedFingerprint("sha256:" + canonical.lowercased()) == canonical)
        #expect(TLSTrust.normalizedFingerprint(canonical) == canonical)
        #expect(TLSTrust.normalizedFingerprint("AB:CD") == nil)
        #expect(TLSTrust.normalizedFingerprint(String(repeating: "zz", count: 32)) == nil)
        #expect(throws: TLSTrustError.self) { try TLSTrust.fingerprint("nope").makeClientHandler(serverHostname: "localhost") }
        #expect(try TLSTrust.plaintext.makeClientHandler(serverHostname: "localhost") == nil)
    }

    @Test func externalVerifiersAcceptCertificateAsItsOwnCA() async throws {
        let dir = try TemporaryDirectory()
        let other = try TemporaryDirectory()
        let files = try TLSFiles.ensureSelfSigned(inDataDirectory: dir.path, hostName: "huddle-test.example").files
        let wrongCA = try TLSFiles.ensureSelfSigned(inDataDirectory: other.path, hostName: "x").files.certificatePath
        let server = try await TestTLSServer.start(files)
        let port = String(server.port)
        do {
            let sClient = ["/usr/bin/timeout", "20", "/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:\(port)",
                           "-verify_return_error", "-servername", "localhost"]
            for extra in [[], ["-verify_hostname", "localhost"], ["-verify_ip", "127.0.0.1"]] {
                let ok = try run(sClient + ["-CAfile", files.certificatePath] + extra)
                #expect(ok.status == 0, "\(extra): \(ok.output)")
                #expect(ok.output.contains("Verify return code: 0 (ok)"), "\(extra): \(ok.output)")
            }
            let wrong = try run(sClient + ["-CAfile", wrongCA])
            #expect(wrong.status != 0)
            // TLS 1.2 only with forward secrecy and AEAD: a client offering CBC suites alone is refused.
            let gcm = try run(sClient + ["-CAfile", files.certificatePath, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])
            #expect(gcm.status == 0, "\(gcm.output)")
            for cbc in ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"] {
                let refused = try run(sClient + ["-CAfile", files.certificatePath, "-tls1_2", "-cipher", cbc])
                #expect(refused.status != 0, "\(cbc) was accepted: \(refused.output)")
            }
            let wrongName = try run(sClient + ["-CAfile", files.certificatePath, "-verify_hostname", "example.com"])
            #expect(wrongName.status != 0)

            for name in ["127.0.0.1", "localhost"] {
                for strict in ["0", "1"] {
                    let ok = try python(cafile: files.certificatePath, port: port, serverHostname: name, strict: strict)
                    #expect(ok.status == 0, "\(name) strict=\(strict): \(ok.output)")
                    #expect(ok.output.hasPrefix("TLSv1."), "\(name): \(ok.output)")
                }
            }
            let pyWrong = try python(cafile: wrongCA, port: port, serverHostname: "localhost", strict: "0")
            #expect(pyWrong.status != 0)
            #expect(pyWrong.output.contains("CERTIFICATE_VERIFY_FAILED"))
            let pyWrongName = try python(cafile: files.certificatePath, port: port, serverHostname: "example.com", strict: "0")
            #expect(pyWrongName.status != 0)
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }

    @Test func clientTrustModes() async throws {
        let dir = try TemporaryDirectory()
        let other = try TemporaryDirectory()
        let files = try TLSFiles.ensureSelfSigned(inDataDirectory: dir.path, hostName: "huddle-test.example").files
        let wrongCA = try TLSFiles.ensureSelfSigned(inDataDirectory: other.path, hostName: "x").files.certificatePath
        let fingerprint = try TLSFiles.sha256Fingerprint(pemFile: files.certificatePath)
        let server = try await TestTLSServer.start(files)
        do {
            for host in ["127.0.0.1", "localhost"] {
                let viaCA = try await echo(port: server.port, trust: .caFile(files.certificatePath), host: host)
                #expect(viaCA.reply == "hello\n")
            }
            await #expect(throws: (any Error).self) {
                try await echo(port: server.port, trust: .caFile(wrongCA), host: "localhost")
            }

            let pin = "sha256:" + fingerprint.lowercased().replacingOccurrences(of: ":", with: "")
            let pinned = try await echo(port: server.port, trust: .fingerprint(pin), host: "127.0.0.1")
            #expect(pinned.reply == "hello\n")
            #expect(pinned.presented?.fingerprint == fingerprint)
            #expect(pinned.presented?.mismatch == nil)

            let probe = try await echo(port: server.port, trust: .captureFingerprint, host: "localhost")
            #expect(probe.presented?.fingerprint == fingerprint)

            let wrongPin = String(repeating: "00:", count: 31) + "00"
            let error = await #expect(throws: CertificateMismatch.self) {
                try await echo(port: server.port, trust: .fingerprint(wrongPin), host: "127.0.0.1")
            }
            #expect(error == CertificateMismatch(expected: wrongPin, presented: fingerprint))
        } catch {
            try await server.stop()
            throw error
        }
        try await server.stop()
    }
}

// MARK: - Helpers

private struct TemporaryDirectory: ~Copyable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("huddle-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

private func mode(of path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return try #require(attributes[.posixPermissions] as? Int) & 0o777
}

private func run(_ arguments: String...) throws -> (status: Int32, output: String) {
    try run(arguments)
}

/// Runs a command with stdin closed and stdout+stderr merged.
private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

private func python(cafile: String, port: String, serverHostname: String, strict: String) throws -> (status: Int32, output: String) {
    let script = """
        import socket, ssl, sys
        ctx = ssl.create_default_context(cafile=sys.argv[1])
        if sys.argv[4] == "1":
            ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as sock:
            with ctx.wrap_socket(sock, server_hostname=sys.argv[3]) as tls:
                print(tls.version())
        """
    return try run(["/usr/bin/timeout", "20", "/usr/bin/env", "python3", "-c", script, cafile, port, serverHostname, strict])
}

private struct TestTLSServer {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    let port: Int

    static func start(_ files: TLSFiles) async throws -> TestTLSServer {
        let context = try TLSFiles.makeServerContext(files)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                        try channel.pipeline.syncOperations.addHandler(EchoHandler())
                    }
                }
                .bind(host: "127.0.0.1", port: 0)
                .get()
            let port = try #require(channel.localAddress?.port)
            return TestTLSServer(group: group, channel: channel, port: port)
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
    }

    func stop() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }
}

private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Sends one line and completes with the first reply, or with the
/// first error the pipeline reports (which is what a real client would see).
private final class OneExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct ClosedEarly: Error {}

    private let reply: EventLoopPromise<String>
    private var done = false

    init(reply: EventLoopPromise<String>) {
        self.reply = reply
    }

    private func finish(_ result: Result<String, any Error>, context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        reply.completeWith(result)
        context.close(promise: nil)
    }

    /// Added to an already connected channel; the TLS handler holds the write until the
    /// handshake has succeeded.
    func handlerAdded(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "hello\n")), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        finish(.success(String(buffer: unwrapInboundIn(data))), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ClosedEarly()), context: context)
    }
}

private func echo(port: Int, trust: TLSTrust, host: String) async throws -> (reply: String, presented: PresentedCertificate?) {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    do {
        let channel = try await ClientBootstrap(group: group)
            .connect(host: "127.0.0.1", port: port)
            .get()
        let reply = channel.eventLoop.makePromise(of: String.self)
        let presented = try await channel.eventLoop.submit {
            let presented = try trust.addHandlers(to: channel.pipeline.syncOperations, serverHostname: host)
            try channel.pipeline.syncOperations.addHandler(OneExchangeHandler(reply: reply))
            return presented
        }.get()
        let result: String
        do {
            result = try await reply.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        try? await channel.close()
        try await group.shutdownGracefully()
        return (result, presented)
    } catch {
        try await group.shutdownGracefully()
        throw error
    }
}

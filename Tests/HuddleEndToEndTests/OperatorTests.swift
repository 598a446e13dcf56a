import Foundation
import HuddleProtocol
import Testing

/// What an operator sees: the first start, the configuration file, help, and TLS as other
/// clients (OpenSSL, Python) verify it.
@Suite struct OperatorTests {
    @Test func firstStartCreatesTheDataFolderWithSafeModes() async throws {
        let daemon = try TestDaemon()
        try await daemon.start()
        let manager = FileManager.default
        func mode(_ path: String) throws -> Int { try manager.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1 }
        #expect(try mode("\(daemon.data)/admin.token") == 0o600)
        #expect(try mode("\(daemon.data)/tls/key.pem") == 0o600)
        #expect(manager.fileExists(atPath: "\(daemon.data)/huddle.sqlite"))
        #expect(daemon.log.contains("SHA-256 fingerprint"))
        // The bootstrap admin's token works.
        let token = try String(contentsOfFile: "\(daemon.data)/admin.token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let admin = try await daemon.session(token)
        #expect(try await admin.request("session.ping") == [:])
        #expect(try await daemon.stop() == 0)
        // A second start reuses everything and creates no second admin.
        try await daemon.start()
        #expect(!daemon.log.contains("created the bootstrap admin"))
        #expect(try await daemon.admin(["user", "list"]).split(separator: "\n").count == 1)
        #expect(try await daemon.stop() == 0)
    }

    @Test func opensslAndPythonVerifyTheServerWithCertPemAlone() async throws {
        let daemon = try TestDaemon()
        try await daemon.start()
        let openssl = try await TestDaemon.run(
            "/usr/bin/openssl",
            ["s_client", "-connect", "127.0.0.1:\(daemon.port)", "-CAfile", daemon.certificate, "-verify_return_error",
             "-verify_ip", "127.0.0.1", "-brief"], check: false)
        #expect(openssl.stderr.contains("Verification: OK") || openssl.stdout.contains("Verification: OK"), "\(openssl.stderr)")
        // OpenSSL 3 may refuse TLS 1.1 on its own side (its default security level): at level 0 it
        // offers it, so the refusal seen is the server's (alert 70, protocol_version), and the same
        // command for TLS 1.2 shows that the client could connect at all.
        func handshake(_ version: String) async throws -> TestDaemon.Output {
            try await TestDaemon.run(
                "/usr/bin/openssl",
                ["s_client", "-connect", "127.0.0.1:\(daemon.port)", version, "-cipher", "DEFAULT@SECLEVEL=0", "-brief"],
                check: false)
        }
        let tls11 = try await handshake("-tls1_1")
        #expect(tls11.stderr.contains("alert protocol version"), "TLS 1.1 must be refused by the server: \(tls11.stderr)")
        let tls12 = try await handshake("-tls1_2")
        #expect((tls12.stderr + tls12.stdout).contains("Protocol version: TLSv1.2"), "\(tls12.stderr)")
        for host in ["localhost", "127.0.0.1"] {
            let script = """
                import socket, ssl, sys
                context = ssl.create_default_context(cafile=sys.argv[1])
                with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as raw:
                    with context.wrap_socket(raw, server_hostname=sys.argv[3]) as tls:
                        print(tls.version())
                """
            let python = try await TestDaemon.run(
                "/usr/bin/env", ["python3", "-c", script, daemon.certificate, "\(daemon.port)", host], check: false)
            #expect(python.status == 0, "\(python.stderr)")
            #expect(python.stdout.hasPrefix("TLSv1."))
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test func theConfigurationFileSetsLimitsAndFlagsWin() async throws {
        let scratch = try TestDaemon()
        let config = "\(scratch.directory)/huddled.conf"
        try """
            # limits for this test
            max-line-bytes = 200
            rate-per-s = 1000
            rate-burst = 3   # flags win over this
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try TestDaemon(arguments: ["--config", config, "--rate-burst", "1000"])
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let peer = try await daemon.session(alice)
        for _ in 0..<10 { _ = try await peer.request("policy.get", ["team": "floor-a"]) }
        try await peer.connection.sendRaw(Array((String(repeating: " ", count: 300) + "{}\n").utf8))
        #expect(try await peer.waitForEnd() == "line_too_long")
        #expect(try await daemon.stop() == 0)

        try "colour = blue\n".write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try await TestDaemon.run(TestDaemon.huddled, ["serve", "--config", config, "--data", daemon.data], check: false)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("unknown key 'colour'"))
    }

    /// `/metrics` and `/healthz` need no token: the image must not offer them on every address
    /// unless the operator asks for it.
    @Test func theContainerKeepsTheHTTPSideOnLoopbackByDefault() throws {
        let path = AdminChangesTests.repository + "/Deploy/Containerfile"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let entrypoint = try #require(text.split(separator: "\n").first { $0.hasPrefix("ENTRYPOINT") })
        #expect(!entrypoint.contains("--http"), "\(entrypoint)")
        #expect(!entrypoint.contains(":7448"), "\(entrypoint)")
    }

    @Test func helpNamesEveryCommand() async throws {
        let daemonHelp = try await TestDaemon.run(TestDaemon.huddled, ["--help"]).stdout
        for word in ["serve", "team", "user", "backup"] { #expect(daemonHelp.contains(word)) }
        let serveHelp = try await TestDaemon.run(TestDaemon.huddled, ["serve", "--help"]).stdout
        for flag in [
            "--data", "--listen", "--http", "--plaintext", "--config", "--rate-per-s", "--rate-burst", "--bot-rate-per-s",
            "--bot-rate-burst", "--max-line-bytes", "--max-sessions-per-user", "--outbound-buffer-bytes", "--write-timeout-s",
            "--heartbeat-s", "--auth-timeout-s",
        ] {
            #expect(serveHelp.contains(flag), "serve --help lacks \(flag)")
        }
        let clientHelp = try await TestDaemon.run(TestDaemon.huddle, ["--help"]).stdout
        for command in ["login", "status", "break", "lunch", "back", "meeting", "training", "admin", "acw", "offline", "say", "who", "watch", "logout"] {
            #expect(clientHelp.contains(command), "huddle --help lacks \(command)")
        }
        let usage = try await TestDaemon.run(TestDaemon.huddled, ["user", "add", "x", "--role", "wizard"], check: false)
        #expect(usage.status != 0 && usage.stderr.contains("role"))
    }
}

import Foundation
import HuddleProtocol
import Testing

@testable import HuddleClient

@Suite struct LoginSettingsTests {
    let pin = "AB:" + Array(repeating: "CD", count: 31).joined(separator: ":")
    var stored: ClientConfig {
        ClientConfig(server: "floor.example:7447", token: "file-token", fingerprint: pin)
    }

    @Test func storedLoginAlone() throws {
        let settings = try LoginSettings.resolve(flags: .init(), environment: [:], file: stored)
        #expect(settings.endpoint == Endpoint(host: "floor.example", port: 7447))
        #expect(settings.token == "file-token")
        #expect(settings.trust == .fingerprint(pin))
        #expect(settings.serverSource == .file)
    }

    @Test func flagBeatsEnvironmentBeatsFile() throws {
        let environment = ["HUDDLE_SERVER": "FLOOR.example:7447", "HUDDLE_TOKEN": "env-token"]
        let fromEnvironment = try LoginSettings.resolve(flags: .init(), environment: environment, file: stored)
        #expect(fromEnvironment.token == "env-token")
        #expect(fromEnvironment.serverSource == .environment)
        // Same server (names compare without case): the stored pin still applies.
        #expect(fromEnvironment.trust == .fingerprint(pin))

        let fromFlags = try LoginSettings.resolve(
            flags: .init(token: "flag-token"), environment: environment, file: stored)
        #expect(fromFlags.token == "flag-token")
    }

    @Test func emptyEnvironmentCountsAsUnset() throws {
        let settings = try LoginSettings.resolve(
            flags: .init(), environment: ["HUDDLE_TOKEN": "", "HUDDLE_SERVER": ""], file: stored)
        #expect(settings.token == "file-token")
    }

    @Test func storedPinDoesNotApplyToAnotherServer() {
        #expect(throws: SettingsError.noTrust(Endpoint(host: "other", port: 7447))) {
            try LoginSettings.resolve(flags: .init(server: "other"), environment: [:], file: stored)
        }
    }

    @Test func trustFlagsForAnotherServer() throws {
        let settings = try LoginSettings.resolve(
            flags: .init(server: "[::1]:9000", token: "t", ca: "/etc/huddle/cert.pem"), environment: [:], file: stored)
        #expect(settings.endpoint == Endpoint(host: "::1", port: 9000))
        #expect(settings.trust == .caFile("/etc/huddle/cert.pem"))
    }

    @Test func fingerprintFlagIsNormalized() throws {
        let lower = pin.lowercased().replacingOccurrences(of: ":", with: "")
        let settings = try LoginSettings.resolve(
            flags: .init(server: "h:1", token: "t", fingerprint: "SHA256:" + lower), environment: [:], file: nil)
        #expect(settings.trust == .fingerprint(pin))
    }

    @Test func failures() {
        #expect(throws: SettingsError.noServer) { try LoginSettings.resolve(flags: .init(), environment: [:], file: nil) }
        #expect(throws: SettingsError.noToken) {
            try LoginSettings.resolve(flags: .init(server: "h"), environment: [:], file: nil)
        }
        #expect(throws: SettingsError.conflictingTrust) {
            try LoginSettings.resolve(flags: .init(server: "h", token: "t", ca: "x", plaintext: true), environment: [:], file: nil)
        }
        #expect(throws: SettingsError.badFingerprint("AB:CD")) {
            try LoginSettings.resolve(flags: .init(server: "h", token: "t", fingerprint: "AB:CD"), environment: [:], file: nil)
        }
        #expect(throws: SettingsError.badServer("h:99999")) {
            try LoginSettings.resolve(flags: .init(server: "h:99999", token: "t", plaintext: true), environment: [:], file: nil)
        }
    }

    @Test func configPath() {
        #expect(ConfigFile.path(environment: ["HUDDLE_CONFIG": "/a/c.json", "HOME": "/home/u"]) == "/a/c.json")
        #expect(ConfigFile.path(environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/home/u"]) == "/x/huddle/config.json")
        #expect(ConfigFile.path(environment: ["HOME": "/home/u"]) == "/home/u/.config/huddle/config.json")
        #expect(ConfigFile.path(environment: [:]) == nil)
    }

    @Test(arguments: [
        ("localhost:7447", Endpoint(host: "localhost", port: 7447)),
        ("floor.example", Endpoint(host: "floor.example", port: 7447)),
        ("127.0.0.1:9", Endpoint(host: "127.0.0.1", port: 9)),
        ("[::1]:7000", Endpoint(host: "::1", port: 7000)),
        ("[::1]", Endpoint(host: "::1", port: 7447)),
        ("fe80::1", Endpoint(host: "fe80::1", port: 7447)),
    ])
    func endpoints(text: String, expected: Endpoint) {
        #expect(Endpoint(parsing: text) == expected)
    }

    @Test func badEndpoints() {
        for text in ["", ":7447", "host:", "host:0", "host:x", "[::1", "[::1]x"] {
            #expect(Endpoint(parsing: text) == nil, "\(text)")
        }
        #expect(Endpoint(host: "::1", port: 7447).description == "[::1]:7447")
    }

    @Test func configRoundTripsThroughTheFile() throws {
        let path = "/tmp/huddle-client-tests-\(getpid())/config.json"
        defer { _ = try? ConfigFile.remove(path: path) }
        try ConfigFile.save(stored, path: path)
        #expect(try ConfigFile.load(path: path) == stored)
        #expect(!ConfigFile.isTooOpen(path: path))
        #expect(try ConfigFile.remove(path: path))
        #expect(try ConfigFile.load(path: path) == nil)
    }
}

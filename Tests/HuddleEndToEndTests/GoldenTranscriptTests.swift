import Foundation
import HuddleProtocol
import Testing

/// Replays `Protocol/examples/*.jsonl` against the real daemon and compares every line the
/// server sends byte for byte, timestamps and epochs aside (see Protocol/examples/README.md).
/// `HUDDLE_RECORD_GOLDEN=1 swift test --filter GoldenTranscriptTests` rewrites the expected lines
/// from what the server sends; review the diff before committing it.
@Suite struct GoldenTranscriptTests {
    static let examples: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Protocol/examples").path
    }()

    static var transcripts: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: examples)) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
    }

    static func normalize(_ line: [UInt8]) throws -> String {
        var text = String(decoding: line, as: UTF8.self)
        text = text.replacing(try Regex(#""\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z""#), with: "\"<time>\"")
        text = text.replacing(try Regex(#""epoch":"[0-9a-f]{16}""#), with: "\"epoch\":\"<epoch>\"")
        return text
    }

    /// Replaces `$token:NAME` and `$epoch` in every string of a request.
    static func substitute(_ value: JSONValue, tokens: [String: String], epoch: String) -> JSONValue {
        switch value {
        case .string(let s):
            if s.hasPrefix("$token:") { return .string(tokens[String(s.dropFirst(7))] ?? s) }
            if s == "$epoch" { return .string(epoch) }
            return value
        case .array(let a): return .array(a.map { substitute($0, tokens: tokens, epoch: epoch) })
        case .object(let o): return .object(o.mapValues { substitute($0, tokens: tokens, epoch: epoch) })
        default: return value
        }
    }

    @Test(arguments: transcripts)
    func replay(_ name: String) async throws {
        let record = ProcessInfo.processInfo.environment["HUDDLE_RECORD_GOLDEN"] == "1"
        let path = "\(Self.examples)/\(name)"
        let entries = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONParser.parse(String($0))
        }
        let setup = entries.first?["setup"]
        let arguments = setup?["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let daemon = try TestDaemon(arguments: arguments)
        for team in setup?["teams"]?.arrayValue ?? [] { try await daemon.addTeam(team.stringValue ?? "") }
        var tokens: [String: String] = [:]
        for user in setup?["users"]?.arrayValue ?? [] {
            let userName = user["name"]?.stringValue ?? ""
            tokens[userName] = try await daemon.addUser(
                userName, role: Role(rawValue: user["role"]?.stringValue ?? "") ?? .agent,
                teams: user["teams"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        }
        try await daemon.start()
        var clients: [String: RawLineClient] = [:]
        var order: [String] = []
        var epoch = ""
        var output: [String] = []

        func client(_ name: String) async throws -> RawLineClient {
            if let existing = clients[name] { return existing }
            let made = try await RawLineClient(port: daemon.port, trust: daemon.trust)
            clients[name] = made
            order.append(name)
            return made
        }
        func remember(_ line: [UInt8]) {
            if let found = (try? JSONParser.parse(line))?["result"]?["epoch"]?.stringValue { epoch = found }
        }

        for entry in entries {
            let conn = entry["conn"]?.stringValue ?? ""
            if let expected = entry["recv"] {
                if record { continue }
                let line = try await client(conn).nextLine()
                let received = try Self.normalize(try #require(line, "\(name): \(conn) closed, expected \(expected)"))
                #expect(received == String(decoding: JSONWriter.encode(expected), as: UTF8.self), "\(name): \(conn)")
                if let line { remember(line) }
                continue
            }
            if record { output.append(String(decoding: JSONWriter.encode(entry), as: UTF8.self)) }
            // A pause for what the daemon does on its own clock (a rota's ask), so that a
            // recording catches it where it belongs; a replay waits on its `recv` lines anyway.
            if let wait = entry["wait_ms"]?.intValue {
                try await Task.sleep(for: .milliseconds(wait))
                if !record { continue }
            }
            if entry["wait_ms"] != nil {
            } else if let request = entry["send"] {
                let line = JSONWriter.encode(Self.substitute(request, tokens: tokens, epoch: epoch))
                try await client(conn).send(line)
            } else if let raw = entry["send_raw"]?.stringValue {
                try await client(conn).send(Array(raw.utf8))
            } else if let bytes = entry["send_bytes"]?.arrayValue {
                try await client(conn).send(bytes.compactMap { $0.intValue.map { UInt8(truncatingIfNeeded: $0) } })
            } else if entry["close"] != nil {
                (try await client(conn)).close()
            } else {
                continue
            }
            if record {
                try await Task.sleep(for: .milliseconds(300))
                for name in order {
                    for line in clients[name]?.drain() ?? [] {
                        remember(line)
                        output.append(#"{"conn":"\#(name)","recv":\#(try Self.normalize(line))}"#)
                    }
                }
            }
        }
        if record {
            try output.joined(separator: "\n").appending("\n").write(toFile: path, atomically: true, encoding: .utf8)
        } else {
            // Nothing unexpected arrived after the last expected line.
            try await Task.sleep(for: .milliseconds(200))
            for name in order {
                let extra = clients[name]?.drain() ?? []
                #expect(extra.isEmpty, "\(name): \(extra.map { String(decoding: $0, as: UTF8.self) })")
            }
        }
        for client in clients.values { client.close() }
        #expect(try await daemon.stop() == 0)
    }
}

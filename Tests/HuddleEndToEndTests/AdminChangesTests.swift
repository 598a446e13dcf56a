import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// SPEC §9: an admin change is in force on the very next request, every time. These tests do
/// what scripts do: run `huddled user|team …` against the running daemon and use the result on
/// the next line, with no pause in between.
@Suite struct AdminChangesTests {
    @Test func aUserAndTeamAddedAMomentAgoSignInAndJoinAtOnce() async throws {
        let daemon = try TestDaemon()
        try await daemon.start()
        for index in 0..<100 {
            let team = "floor-\(index)"
            try await daemon.addTeam(team)
            let token = try await daemon.addUser("agent-\(index)", role: .agent, teams: [team])
            let peer = try await daemon.session(token)
            let joined = try await peer.request("team.join", ["team": .string(team)])
            #expect(joined["snapshot"]?["members"]?.arrayValue?.isEmpty == false, "round \(index): \(joined)")
            await peer.close()
        }
        #expect(try await daemon.stop() == 0)
    }

    /// An admin command that could not tell the daemon (its socket moved aside here, as for an
    /// admin without access to it): a client sends its hello, a join and a ping in one write
    /// right after the token was made. The hello waits for a look at the database, and what came
    /// behind it waits with it, so that nothing is refused for a change already committed.
    @Test func requestsPipelinedBehindAWaitingHelloRunAsAuthenticated() async throws {
        let daemon = try TestDaemon()
        try await daemon.start()
        let socket = AdminSocketPath(data: daemon.data)
        try FileManager.default.moveItem(atPath: socket.path, toPath: socket.aside)
        defer { try? FileManager.default.moveItem(atPath: socket.aside, toPath: socket.path) }
        for round in 0..<20 {
            let team = "floor-\(round)"
            try await daemon.addTeam(team)
            let token = try await daemon.addUser("agent-\(round)", role: .agent, teams: [team])
            let client = try await RawLineClient(port: daemon.port, trust: daemon.trust)
            let lines = [
                #"{"jsonrpc":"2.0","id":1,"method":"session.hello","params":{"token":"\#(token)","client":"x"}}"#,
                #"{"jsonrpc":"2.0","id":2,"method":"team.join","params":{"team":"\#(team)"}}"#,
                #"{"jsonrpc":"2.0","id":3,"method":"session.ping"}"#,
            ]
            try await client.send(Array((lines.joined(separator: "\n") + "\n").utf8))
            var answered: [Int64] = []
            while answered.count < 3, let line = try await client.nextLine() {
                let message = try JSONParser.parse(line)
                guard let id = message["id"]?.intValue else { continue }
                #expect(message["error"] == nil, "round \(round): \(String(decoding: line, as: UTF8.self))")
                answered.append(id)
            }
            // The hello's answer may come after the others' (PROTOCOL.md §4): all three, no error.
            #expect(answered.sorted() == [1, 2, 3], "round \(round)")
            client.close()
        }
        #expect(try await daemon.stop() == 0)
    }

    @Test func aRotatedTokenIsRefusedAndItsSessionsHaveEndedWhenTheCommandReturns() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let old = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let session = try await daemon.session(old)

        let output = try await daemon.admin(["user", "token", "alice"])
        let new = String(output.split(separator: "\n").last ?? "")
        // The daemon has closed the old session before the command returned: a request on it is
        // never answered again.
        await #expect(throws: (any Error).self) { try await session.request("session.ping") }
        let withOld = try await daemon.connect()
        await #expect(throws: RPCError.self) {
            try await withOld.request("session.hello", ["token": .string(old), "client": "x"])
        }
        let withNew = try await daemon.session(new)
        #expect(try await withNew.request("session.ping") == [:])
        #expect(try await session.waitForEnd(within: .seconds(5)) == "token_revoked")
        #expect(try await daemon.stop() == 0)
    }

    @Test func aRemovedUsersSessionsHaveEndedWhenTheCommandReturns() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let bob = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
        let sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
        try await daemon.start()
        let session = try await daemon.session(bob)
        let second = try await daemon.session(bob)
        let supervisor = try await daemon.session(sam)

        try await daemon.admin(["user", "remove", "bob"])
        await #expect(throws: (any Error).self) { try await session.request("session.ping") }
        await #expect(throws: (any Error).self) { try await second.request("session.ping") }
        // The floor no longer lists bob: the next request after the command sees the change.
        let joined = try await supervisor.request("team.join", ["team": "floor-a"])
        let names = joined["snapshot"]?["members"]?.arrayValue?.compactMap { $0["user"]?.stringValue } ?? []
        #expect(!names.contains("bob"), "\(joined)")
        #expect(try await session.waitForEnd(within: .seconds(5)) == "token_revoked")
        #expect(try await daemon.stop() == 0)
    }

    @Test func bearerTokensFollowAdminChangesAtOnce() async throws {
        let floor = try await HTTPTests.Fixture()
        let body = try await floor.body(#"{"calls_waiting": 1, "oldest_wait_s": 1}"#)
        for index in 0..<10 {
            let token = try await floor.daemon.addUser("bot-\(index)", role: .bot, teams: ["floor-a"])
            let reply = try await floor.post(token: token, bodyFile: body)
            #expect(reply.status == 202, "bot-\(index): \(reply.status) \(reply.body)")
        }
        let output = try await floor.daemon.admin(["user", "token", "qbot"])
        let new = String(output.split(separator: "\n").last ?? "")
        #expect(try await floor.post(token: floor.bot, bodyFile: body).status == 401)
        #expect(try await floor.post(token: new, bodyFile: body).status == 202)
        try await floor.daemon.admin(["user", "remove", "bot-0"])
        #expect(try await floor.post(token: floor.bot, bodyFile: body).status == 401)
        #expect(try await floor.daemon.stop() == 0)
    }

    /// A flood of unknown tokens is answered, each after a look at the admin changes, without
    /// delaying a real user's sign-in; the looks are shared, so it costs a few reads, not one
    /// per token.
    @Test func unknownTokensAreRefusedWithoutHoldingUpOthers() async throws {
        // Fifty TLS handshakes at once: heavy, so one heavy test at a time.
        try await HeavyTests.one { try await bodyUnknownTokensAreRefusedWithoutHoldingUpOthers() }
    }

    func bodyUnknownTokensAreRefusedWithoutHoldingUpOthers() async throws {
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        let alice = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
        try await daemon.start()
        let peers = try await withThrowingTaskGroup(of: Peer.self) { group in
            for _ in 0..<50 { group.addTask { try await daemon.connect() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, peer) in peers.enumerated() {
                group.addTask {
                    let token = "hdl_" + String(format: "unknown%05d", index) + "_" + String(repeating: "0", count: 64)
                    await #expect(throws: RPCError.self) {
                        try await peer.request("session.hello", ["token": .string(token), "client": "x"])
                    }
                }
            }
            group.addTask {
                let session = try await daemon.session(alice)
                #expect(try await session.request("session.ping") == [:])
            }
            try await group.waitForAll()
        }
        #expect(try await daemon.stop() == 0)
    }

    /// The README's scripted example, run as written (with the built binaries for `swift run`,
    /// the test daemon's port, and a home of its own).
    @Test func theReadmesScriptedExampleWorks() async throws {
        let readme = try String(contentsOfFile: Self.repository + "/README.md", encoding: .utf8)
        let script = try #require(Self.block(after: "<!-- tested: scripted example", in: readme))
        let daemon = try TestDaemon()
        try await daemon.addTeam("floor-a")
        try await daemon.start()
        // The example's admin commands use the default data folder, ./huddle-data.
        try FileManager.default.createSymbolicLink(atPath: daemon.directory + "/huddle-data", withDestinationPath: daemon.data)
        let runnable = script
            .replacingOccurrences(of: "swift run --quiet huddled", with: TestDaemon.huddled)
            .replacingOccurrences(of: "swift run --quiet huddle", with: TestDaemon.huddle)
            .replacingOccurrences(of: "127.0.0.1:7447", with: "127.0.0.1:\(daemon.port)")
        let path = daemon.directory + "/example.sh"
        try ("set -euo pipefail\ncd \(daemon.directory)\n" + runnable).write(toFile: path, atomically: true, encoding: .utf8)
        let home = daemon.directory + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let run = try await TestDaemon.run(
            "/bin/bash", [path], environment: ["HOME": home, "PATH": "/usr/bin:/bin", "TERM": "dumb"], check: false)
        #expect(run.status == 0, "stdout:\n\(run.stdout)\nstderr:\n\(run.stderr)")
        #expect(run.stdout.contains("carol"), "\(run.stdout)")
        #expect(try await daemon.stop() == 0)
    }

    struct AdminSocketPath {
        let data: String
        var path: String { data + "/admin.sock" }
        var aside: String { data + "/admin.sock.aside" }
    }

    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The fenced block that follows `marker`.
    static func block(after marker: String, in text: String) -> String? {
        guard let start = text.range(of: marker),
            let open = text.range(of: "```sh\n", range: start.upperBound..<text.endIndex),
            let close = text.range(of: "\n```", range: open.upperBound..<text.endIndex)
        else { return nil }
        return String(text[open.upperBound..<close.lowerBound]) + "\n"
    }
}

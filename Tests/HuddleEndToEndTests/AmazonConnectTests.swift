import Foundation
import HuddleClient
import HuddleProtocol
import Testing

/// `POST /v1/bridges/amazon-connect` with records of Amazon Connect's agent event stream as
/// Amazon documents them (`Tests/Fixtures/amazon-connect/`), sent with the real `curl` the two
/// ways Amazon delivers them: a forwarding function's Kinesis batch and a Firehose delivery. One
/// test at a time: each starts a daemon and runs curl a dozen times.
@Suite(.serialized) struct AmazonConnectTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/amazon-connect").path

    static func fixture(_ name: String) throws -> JSONValue {
        try JSONParser.parse(try String(contentsOfFile: "\(fixtures)/\(name)", encoding: .utf8))
    }

    static func kinesis(_ records: [JSONValue]) -> JSONValue {
        [
            "Records": .array(
                records.map { record in
                    let data = Data(JSONWriter.encode(record)).base64EncodedString()
                    return ["kinesis": ["partitionKey": "agent", "data": .string(data)], "eventSource": "aws:kinesis"]
                })
        ]
    }

    struct Floor {
        let daemon: TestDaemon
        let pbx: String
        let sam: String

        init() async throws {
            daemon = try TestDaemon()
            try await daemon.addTeam("floor-a")
            pbx = try await daemon.addUser("pbx", role: .bot, teams: ["floor-a"])
            sam = try await daemon.addUser("sam", role: .supervisor, teams: ["floor-a"])
            _ = try await daemon.addUser("alice", role: .agent, teams: ["floor-a"])
            _ = try await daemon.addUser("bob", role: .agent, teams: ["floor-a"])
            // The Connect username is not the Huddle name: the phone id ties them.
            _ = try await daemon.admin(["user", "set", "alice", "--phone-id", "alice.martin"])
            try await daemon.start()
        }

        func post(_ body: JSONValue, headers: [String] = [], token: String? = nil, maxTime: Int = 10) async throws
            -> HTTPTests.Reply
        {
            let path = "\(daemon.directory)/connect-\(UUID().uuidString).json"
            try Data(JSONWriter.encode(body)).write(to: URL(fileURLWithPath: path))
            return try await post(file: path, headers: headers, token: token, maxTime: maxTime)
        }

        func post(file: String, headers: [String] = [], token: String? = nil, maxTime: Int = 10) async throws
            -> HTTPTests.Reply
        {
            var arguments = ["--max-time", "\(maxTime)", "--cacert", daemon.certificate, "-H", "Content-Type: application/json"]
            if let token = token ?? (headers.isEmpty ? pbx : nil) { arguments += ["-H", "Authorization: Bearer \(token)"] }
            for header in headers { arguments += ["-H", header] }
            arguments += ["--data-binary", "@\(file)", "https://127.0.0.1:\(daemon.httpPort)/v1/bridges/amazon-connect"]
            return try await HTTPTests.curl(arguments)
        }
    }

    @Test func anAgentsDayFromAForwardingFunctionBecomesHuddlesCallsAndStatuses() async throws {
        let floor = try await Floor()
        let supervisor = try await floor.daemon.session(floor.sam)
        _ = try await supervisor.request("policy.set", ["team": "floor-a", "policy": ["min_available": 0], "comment": "test"])
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let day = try #require(try Self.fixture("agent-day.json").arrayValue)

        let reply = try await floor.post(Self.kinesis(day))
        #expect(reply.status == 200, "\(reply)")
        #expect(reply.json?["applied"] == .int(Int64(day.count)) && reply.json?["skipped"] == 0, "\(reply.body)")
        #expect(reply.json?["errors"]?.arrayValue?.isEmpty == true, "\(reply.body)")

        // The answer comes once committed; the events reach the supervisor's connection just after.
        _ = try await supervisor.nextEvent(type: "phone") { $0["logged_in"] == false }
        let events = await supervisor.allEvents()
        func about(_ type: String) -> [EventNotification] { events.filter { $0.type == type && $0["user"] == "alice" } }
        #expect(about("phone").map { $0["logged_in"] } == [true, false])
        #expect(about("call").map { $0["state"] } == ["ringing", "talking", "on_hold", "talking", "none"])
        // The hold starts at the record's EventTimestamp, not the contact's StateStartTimestamp.
        #expect(about("call")[2]["since"] == "2026-12-07T09:02:10.004Z")
        let statuses = about("status").map { "\($0["status"]?.stringValue ?? "")/\($0["by"]?.stringValue ?? "")" }
        // Available (mirrored), After Call Work when the call ended, Break and Offline (mirrored).
        #expect(statuses == ["available/pbx", "after_call_work/system", "break/pbx", "offline/pbx"], "\(statuses)")

        // The same records again change nothing: every state repeats.
        let before = await supervisor.allEvents().count
        let again = try await floor.post(Self.kinesis(day))
        #expect(again.json?["applied"] == .int(Int64(day.count)))
        try await Task.sleep(for: .milliseconds(300))
        let repeated = await supervisor.allEvents().dropFirst(before).filter { $0.type != "coverage" }
        #expect(repeated.map(\.type).allSatisfy { $0 == "phone" || $0 == "status" || $0 == "call" } )
        #expect(!repeated.contains { $0.type == "call" }, "\(repeated.map(\.params))")
        #expect(try await floor.daemon.stop() == 0)
    }

    @Test func everyContactStateMapsToACallState() async throws {
        let floor = try await Floor()
        let supervisor = try await floor.daemon.session(floor.sam)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let states = try #require(try Self.fixture("contact-states.json").objectValue)
        let expected: [String: String?] = [
            "INCOMING": "ringing", "PENDING": "ringing", "CONNECTING": "ringing", "CONNECTED": "talking",
            "CONNECTED_ONHOLD": "on_hold", "PAUSED": nil, "MISSED": nil, "ERROR": nil, "ENDED": nil, "REJECTED": nil,
        ]
        for (state, record) in states.sorted(by: { $0.key < $1.key }) {
            let reply = try await floor.post(record)
            #expect(reply.status == 200 && reply.json?["applied"] == 1, "\(state): \(reply.body)")
            let snapshot = try await supervisor.request("team.join", ["team": "floor-a"])["snapshot"]
            let alice = snapshot?["members"]?.arrayValue?.first { $0["user"] == "alice" }
            #expect(alice?["call"]?["state"]?.stringValue == expected[state] ?? nil, "\(state)")
            // Back to no call before the next state.
            _ = try await supervisor.request("phone.update", ["user": "alice", "call": .null])
        }
        // A chat next to a held call: the call is what counts.
        let mixed = try Self.fixture("mixed.json")
        _ = try await floor.post(try #require(mixed["chat-and-call"]))
        let snapshot = try await supervisor.request("team.join", ["team": "floor-a"])["snapshot"]
        #expect(snapshot?["members"]?.arrayValue?.first { $0["user"] == "alice" }?["call"]?["state"] == "on_hold")
        #expect(try await floor.daemon.stop() == 0)
    }

    @Test func aFirehoseDeliveryIsAnsweredAsFirehoseWantsAndARetryIsNotAppliedTwice() async throws {
        let floor = try await Floor()
        let supervisor = try await floor.daemon.session(floor.sam)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let states = try #require(try Self.fixture("contact-states.json").objectValue)
        let records: [JSONValue] = [try #require(states["CONNECTED"]), try #require(states["CONNECTED_ONHOLD"])]
        let body: JSONValue = [
            "requestId": "ed4acda5-034f-9f42-bba1-f29aea6d7d8f", "timestamp": 1_765_100_000_000,
            "records": .array(records.map { ["data": .string(Data(JSONWriter.encode($0)).base64EncodedString())] }),
        ]
        let headers = [
            "X-Amz-Firehose-Request-Id: ed4acda5-034f-9f42-bba1-f29aea6d7d8f",
            "X-Amz-Firehose-Access-Key: \(floor.pbx)", "X-Amz-Firehose-Protocol-Version: 1.0",
        ]
        let reply = try await floor.post(body, headers: headers)
        #expect(reply.status == 200, "\(reply)")
        #expect(reply.json?["requestId"] == "ed4acda5-034f-9f42-bba1-f29aea6d7d8f" && reply.json?["timestamp"]?.intValue != nil)
        _ = try await supervisor.nextEvent(type: "call") { $0["state"] == "on_hold" }
        let calls = await supervisor.allEvents().filter { $0.type == "call" }.count
        #expect(calls == 2)
        // Firehose did not hear back and sends the same request again: answered, not applied.
        _ = try await supervisor.request("phone.update", ["user": "alice", "call": .null])
        let retry = try await floor.post(body, headers: headers)
        #expect(retry.status == 200 && retry.json?["requestId"] == "ed4acda5-034f-9f42-bba1-f29aea6d7d8f")
        try await Task.sleep(for: .milliseconds(300))
        #expect(await supervisor.allEvents().filter { $0.type == "call" }.count == 3, "only the null of the test")
        // A wrong access key: 401 in Firehose's shape, so that it retries and its logs say why.
        var wrong = headers
        wrong[1] = "X-Amz-Firehose-Access-Key: hd1_nope"
        wrong[0] = "X-Amz-Firehose-Request-Id: another"
        let refused = try await floor.post(body, headers: wrong)
        #expect(refused.status == 401 && refused.json?["errorMessage"]?.stringValue?.isEmpty == false, "\(refused)")
        #expect(try await floor.daemon.stop() == 0)
    }

    @Test func badRecordsAreReportedByIndexAndNeverStopTheRest() async throws {
        let floor = try await Floor()
        let day = try #require(try Self.fixture("agent-day.json").arrayValue)
        let mixed = try Self.fixture("mixed.json")
        var unknown = day[2]
        unknown = try JSONParser.parse(
            String(decoding: JSONWriter.encode(unknown), as: UTF8.self).replacingOccurrences(of: "alice.martin", with: "zed.nobody")
                .replacingOccurrences(of: "2f0d3d4e-5a6b", with: "99999999-5a6b"))
        var batch = Self.kinesis([day[0], day[2], try #require(mixed["contact-trace-record"]), unknown])
        var list = batch["Records"]?.arrayValue ?? []
        list.append(["kinesis": ["data": "%%% not base64 %%%"]])
        list.append(["kinesis": ["data": .string(Data("{not json".utf8).base64EncodedString())]])
        list.append(["kinesis": ["data": .string(Data(#"{"EventType":"SHIFT_CHANGE","AgentARN":"x","EventTimestamp":"2026-12-07T09:00:00Z"}"#.utf8).base64EncodedString())]])
        batch = ["Records": .array(list)]
        let reply = try await floor.post(batch)
        #expect(reply.status == 200, "\(reply)")
        #expect(reply.json?["applied"] == 2 && reply.json?["skipped"] == 2, "\(reply.body)")
        #expect(reply.json?["errors"]?.arrayValue?.compactMap { $0["index"]?.intValue } == [4, 5, 6], "\(reply.body)")

        // Not JSON, not an object of records, too large, no token, a token of an agent.
        let path = "\(floor.daemon.directory)/bad.json"
        try "{\"Records\": [".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await floor.post(file: path).status == 400)
        let big = "\(floor.daemon.directory)/big.json"
        try String(repeating: " ", count: 17 * 1024 * 1024).write(toFile: big, atomically: true, encoding: .utf8)
        #expect(try await floor.post(file: big).status == 413)
        #expect(try await floor.post(batch, token: "hd1_nope").status == 401)
        let alice = try await floor.daemon.admin(["user", "token", "alice"]).split(separator: "\n").last.map(String.init) ?? ""
        #expect(try await floor.post(batch, token: alice).status == 403)
        #expect(try await floor.daemon.stop() == 0)
    }

    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Deploy/amazon-connect").path

    /// `Deploy/amazon-connect/forward.py`, the forwarding function, as Lambda would run it: a
    /// Kinesis event in, the records to retry out; against the real daemon over TLS.
    @Test func theForwardingFunctionCarriesAKinesisBatchToTheDaemon() async throws {
        let floor = try await Floor()
        let supervisor = try await floor.daemon.session(floor.sam)
        _ = try await supervisor.request("team.join", ["team": "floor-a"])
        let day = try #require(try Self.fixture("agent-day.json").arrayValue)
        let event = Self.kinesis(Array(day.prefix(5)))
        let eventFile = "\(floor.daemon.directory)/kinesis-event.json"
        try Data(JSONWriter.encode(event)).write(to: URL(fileURLWithPath: eventFile))
        let script = """
            import json, sys
            sys.path.insert(0, sys.argv[1])
            import forward
            print(json.dumps(forward.handler(json.load(open(sys.argv[2])), None)))
            """
        let environment = [
            "HUDDLE_URL": "https://127.0.0.1:\(floor.daemon.httpPort)", "HUDDLE_TOKEN": floor.pbx,
            "HUDDLE_CA": floor.daemon.certificate, "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin",
        ]
        let run = try await TestDaemon.run(
            "/usr/bin/python3", ["-c", script, Self.deploy, eventFile], environment: environment, check: false)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try JSONParser.parse(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["batchItemFailures"] == [])
        let hold = try await supervisor.nextEvent(type: "call") { $0["state"] == "on_hold" }
        #expect(hold["user"] == "alice")

        // With the daemon gone, the batch goes back to Lambda to be sent again.
        #expect(try await floor.daemon.stop() == 0)
        var quick = environment
        quick["HUDDLE_RETRIES"] = "0"
        let down = try await TestDaemon.run(
            "/usr/bin/python3", ["-c", script, Self.deploy, eventFile], environment: quick, check: false)
        #expect(try JSONParser.parse(down.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["batchItemFailures"]?.arrayValue?.count == 5)
    }

    /// The forwarding function's own tests (a receiver on loopback that fails, hangs and comes back).
    @Test func theForwardingFunctionsOwnTestsPass() async throws {
        let run = try await TestDaemon.run(
            "/usr/bin/python3", ["-m", "unittest", "discover", "-s", Self.deploy],
            environment: ["PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"], check: false)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("OK"), "\(run.stderr)")
    }

    @Test func tenThousandRecordsInOneBatch() async throws {
        try await HeavyTests.one { try await bodyTenThousandRecordsInOneBatch() }
    }

    func bodyTenThousandRecordsInOneBatch() async throws {
        let floor = try await Floor()
        // LOGIN and LOGOUT, the records without snapshots: 10,000 of them are 6 MB as base64,
        // what one Lambda invocation carries at most (a record with its snapshots is 3-4 KB).
        let day = try #require(try Self.fixture("agent-day.json").arrayValue)
        let cycle = [day[1], day[0], day[11]]
        var records: [JSONValue] = []
        for i in 0..<10_000 {
            var record = cycle[i % cycle.count]
            if i % 1000 == 999 { record = "a string is no record" }
            records.append(record)
        }
        let started = ContinuousClock.now
        // A debug build on a busy machine takes seconds over them: more than curl's usual 10 s.
        let reply = try await floor.post(Self.kinesis(records), headers: ["Authorization: Bearer \(floor.pbx)"], maxTime: 90)
        #expect(reply.status == 200, "\(reply.status) \(reply.body.prefix(300))")
        #expect(reply.json?["applied"] == 9990 && reply.json?["errors"]?.arrayValue?.count == 10, "\(reply.body.prefix(300))")
        print("figure: 10,000 Amazon Connect records in one Kinesis batch answered in \(ContinuousClock.now - started)")
        #expect(try await floor.daemon.stop() == 0)
    }
}

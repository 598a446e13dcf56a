import Foundation
import HuddleProtocol

/// A real HTTP receiver on loopback (`Tests/Receivers/notice_receiver.py`) that answers each
/// path as its plan says (fail, hang, redirect, come back) and logs every request it gets.
/// Stopped by its own PID; started again on the same port, it is a receiver that was down.
final class NoticeReceiver: @unchecked Sendable {
    struct Request: Sendable {
        var path: String
        var headers: [String: String]
        var body: [UInt8]
        var answer: String
        var at: Double

        var json: JSONValue? { try? JSONParser.parse(body) }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static let script = "\(Browser.packageRoot)/Tests/Receivers/notice_receiver.py"
    let directory: String
    private(set) var process: ChildProcess?
    private(set) var port = 0
    var log: String { "\(directory)/requests.jsonl" }

    /// `plan`: for each path, the answers in turn (the last repeats); see the script.
    init(plan: [String: [String]], port requested: Int = 0) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("huddle-receiver-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await start(plan: plan, port: requested)
    }

    func start(plan: [String: [String]], port requested: Int? = nil) async throws {
        let portFile = "\(directory)/port"
        try? FileManager.default.removeItem(atPath: portFile)
        let planJSON = JSONValue.object(plan.mapValues { .array($0.map(JSONValue.string)) })
        process = try ChildProcess(
            ["/usr/bin/python3", Self.script, portFile, log, String(decoding: JSONWriter.encode(planJSON), as: UTF8.self),
             String(requested ?? port)],
            stderr: .file("\(directory)/receiver.err"))
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text) {
                port = value
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestDaemon.Failure(description: "the notice receiver did not start: \((try? String(contentsOfFile: "\(directory)/receiver.err", encoding: .utf8)) ?? "")")
    }

    /// Down: nothing listens on the port until `start` again.
    func stop() async {
        process?.signal(SIGKILL)
        _ = await process?.exited(within: .seconds(5))
        process = nil
    }

    deinit { process?.signal(SIGKILL) }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    func requests(_ path: String? = nil) -> [Request] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line -> Request? in
            guard let entry = try? JSONParser.parse(String(line)), let p = entry["path"]?.stringValue,
                let body = entry["body"]?.stringValue.flatMap({ Data(base64Encoded: $0) })
            else { return nil }
            guard path == nil || p == path else { return nil }
            var headers: [String: String] = [:]
            if case .object(let fields)? = entry["headers"] {
                for (name, value) in fields { headers[name] = value.stringValue }
            }
            return Request(
                path: p, headers: headers, body: Array(body), answer: entry["answer"]?.stringValue ?? "",
                at: entry["at"]?.doubleValue ?? 0)
        }
    }

    /// Waits until `path` has had requests that `done` accepts.
    @discardableResult
    func wait(
        for path: String, within timeout: Duration = .seconds(15), _ what: String = "requests",
        until done: ([Request]) -> Bool = { !$0.isEmpty }
    ) async throws -> [Request] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let got = requests(path)
            if done(got) { return got }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestDaemon.Failure(
            description: "\(path): waited \(timeout) for \(what); got \(requests(path).map { "\($0.answer) \($0.text.prefix(120))" })")
    }
}

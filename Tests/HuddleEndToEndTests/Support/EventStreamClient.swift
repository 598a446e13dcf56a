import Foundation
import HuddleProtocol
import NIOConcurrencyHelpers

/// A reader of the board's event stream (`GET /v1/teams/TEAM/events`): curl, a real HTTP client,
/// holding the stream open while this parses what it prints into server-sent event frames.
final class EventStreamClient: Sendable {
    struct Frame: Sendable, Equatable {
        var event: String
        var id: String?
        var data: String
        var json: JSONValue? { try? JSONParser.parse(data) }
    }

    private struct State {
        var text = ""
        var pending: [UInt8] = []
        var frames: [Frame] = []
        var comments = 0
        var status: Int?
        var ended = false
    }

    private let process: ChildProcess
    private let state = NIOLockedValueBox(State())

    /// `headers` are extra request headers (`Cookie: …`, `Last-Event-ID: …`, `Authorization: …`).
    init(url: String, headers: [String] = []) throws {
        process = try ChildProcess(
            ["/usr/bin/curl", "-sS", "-N", "--insecure", "-i", "--max-time", "120"] + headers.flatMap { ["-H", $0] } + [url],
            stdout: .pipe)
        // A thread of its own reads to the end (see `offThePool`): blocking reads see the end of
        // the stream for certain, where a readability handler was seen to miss it.
        let state = self.state
        let process = self.process
        Thread.detachNewThread {
            guard let output = process.output else { return }
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(output.fileDescriptor, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                state.withLockedValue { state in
                    if n <= 0 {
                        state.ended = true
                    } else {
                        // Decoded up to the last newline, which is never inside a character.
                        state.pending += chunk[..<n]
                        if let newline = state.pending.lastIndex(of: 0x0A) {
                            state.text += String(decoding: state.pending[...newline], as: UTF8.self)
                            state.pending.removeSubrange(...newline)
                            Self.parse(&state)
                        }
                    }
                }
                if n <= 0 { return }
            }
        }
    }

    private static func parse(_ state: inout State) {
        if state.status == nil {
            guard let head = state.text.range(of: "\r\n\r\n") else { return }
            let statusLine = state.text[..<head.lowerBound].split(separator: "\r\n").first ?? ""
            state.status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
            state.text = String(state.text[head.upperBound...])
        }
        while let end = state.text.range(of: "\n\n") {
            let block = state.text[..<end.lowerBound]
            state.text = String(state.text[end.upperBound...])
            var frame = Frame(event: "message", id: nil, data: "")
            var data: [String] = []
            var fields = 0
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") {
                    state.comments += 1
                    continue
                }
                let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                let value = parts.count > 1 ? String(parts[1].drop { $0 == " " }) : ""
                fields += 1
                switch parts[0] {
                case "event": frame.event = value
                case "id": frame.id = value
                case "data": data.append(value)
                default: fields -= 1
                }
            }
            frame.data = data.joined(separator: "\n")
            if fields > 0, !data.isEmpty { state.frames.append(frame) }
        }
    }

    var frames: [Frame] { state.withLockedValue { $0.frames } }
    var status: Int? { state.withLockedValue { $0.status } }
    var heartbeats: Int { state.withLockedValue { $0.comments } }
    var ended: Bool { state.withLockedValue { $0.ended } }
    /// The protocol events received (data of frames without an `event:` name).
    var events: [JSONValue] { frames.filter { $0.event == "message" }.compactMap(\.json) }

    /// Waits until `predicate` holds for the frames so far, and returns them.
    @discardableResult
    func waitFor(_ what: String, within timeout: Duration = .seconds(10), _ predicate: ([Frame]) -> Bool) async throws
        -> [Frame]
    {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (frames, ended) = state.withLockedValue { ($0.frames, $0.ended) }
            if predicate(frames) { return frames }
            if ended { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let frames = self.frames
        if predicate(frames) { return frames }
        throw TestDaemon.Failure(
            description: "event stream: waited \(timeout) for \(what); status \(status ?? 0), \(frames.count) frames: "
                + frames.suffix(5).map { "\($0.event) \($0.id ?? "-") \($0.data.prefix(160))" }.joined(separator: " | "))
    }

    func waitForEnd(within timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if ended { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd")) ?? []
        let links = fds.map { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.processIdentifier)/fd/\($0)")) ?? "?" }
        throw TestDaemon.Failure(description: "event stream still open after \(timeout) (curl \(process.isRunning ? "running" : "exited \(process.terminationStatus)"); fds \(links))")
    }

    /// Ends curl (SIGKILL: a tab closed at once) and waits for it.
    func close() {
        process.signal(SIGKILL)
        process.waitUntilExit()
    }
}

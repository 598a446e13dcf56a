import AsyncHTTPClient
#if canImport(Glibc)
import Glibc
#endif
import HuddleCore
import HuddleProtocol
import HuddleStore
import NIOCore
import NIOHTTP1

/// One try of a notice: the request its format asks for, posted with a 10 s deadline, no
/// redirects followed and at most 64 KiB of the answer read, and what the answer means.
/// `huddled notify test` uses it directly; the sender uses it for every try.
public final class NoticePoster: Sendable {
    static let timeout: TimeAmount = .seconds(10)
    static let maxResponseBytes = 64 * 1024
    let clock: any WallClock
    let client: HTTPClient

    public init(clock: any WallClock) {
        self.clock = clock
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: Self.timeout, read: Self.timeout))
        configuration.decompression = .disabled
        // A refused connection is one failed try, answered at once; the retry schedule, not the
        // client's reconnect loop (which would hold the try until its 10 s ran out), decides
        // when to try again.
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    public enum Outcome: Equatable, Sendable {
        case delivered(status: Int)
        /// Not delivered (`reason` is for logs and `notify list`), maybe with `Retry-After`.
        case failed(reason: String, retryAfterSeconds: Int64?)
        case gone
    }

    public func post(_ notice: Notice, to target: NotifyTarget) async -> Outcome {
        let made = NoticeRequest.make(notice, for: target, sentAt: clock.now())
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        for (name, value) in made.headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "user-agent", value: "huddled")
        request.body = .bytes(ByteBuffer(bytes: made.body))
        do {
            let response = try await client.execute(request, timeout: Self.timeout)
            var body: [UInt8] = []
            for try await chunk in response.body {
                body += chunk.readableBytesView.prefix(Self.maxResponseBytes - body.count)
                if body.count >= Self.maxResponseBytes { break }
            }
            return Self.judge(status: Int(response.status.code), body: body, format: target.format,
                retryAfter: RetrySchedule.retryAfter(response.headers.first(name: "retry-after"), now: clock.now()))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .failed(reason: "timeout", retryAfterSeconds: nil)
        } catch {
            return .failed(reason: "\(Self.describe(error))", retryAfterSeconds: nil)
        }
    }

    /// What a receiver's answer means for the notice.
    static func judge(status: Int, body: [UInt8], format: NotifyTarget.Format, retryAfter: Int64?) -> Outcome {
        switch status {
        case 200..<300:
            // Teams' old connectors answered a throttle with 200 and the error in the body.
            if format == .teams {
                let text = String(decoding: body, as: UTF8.self).lowercased()
                if text.contains("429") || text.contains("throttl") {
                    return .failed(reason: "throttled (\(status) with an error in the body)", retryAfterSeconds: retryAfter)
                }
            }
            return .delivered(status: status)
        case 410: return .gone
        case 300..<400: return .failed(reason: "\(status) redirect (not followed)", retryAfterSeconds: nil)
        default: return .failed(reason: "\(status)", retryAfterSeconds: retryAfter)
        }
    }

    /// An error as a log line may show it: AsyncHTTPClient's errors can name the URL.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .remoteConnectionClosed: return "connection closed"
            case .cancelled: return "cancelled"
            default: return "http client error"
            }
        }
        if let error = error as? IOError {
            return error.errnoCode == ECONNREFUSED ? "connection refused" : "I/O error \(error.errnoCode)"
        }
        let text = "\(type(of: error))"
        if text.contains("NIOConnectionError") || text.contains("ConnectError") { return "connection refused" }
        return text
    }
}

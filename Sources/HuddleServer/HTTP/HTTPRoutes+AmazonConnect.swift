import Foundation
import HTTPTypes
import HuddleProtocol
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

extension HTTPRoutes {
    /// The largest body taken: a Lambda invocation carries at most 6 MB and a Firehose delivery
    /// is buffered to at most the size its stream is set to (the set-up page says 16 MiB or
    /// less); 10,000 agent records of about 1.5 KB fit.
    static let maxBridgeBodyBytes = 16 * 1024 * 1024

    /// Firehose's headers (valid names: the initializer fails only for invalid ones).
    static let firehoseRequestID = HTTPField.Name("X-Amz-Firehose-Request-Id")
    static let firehoseAccessKey = HTTPField.Name("X-Amz-Firehose-Access-Key")

    /// `POST /v1/bridges/amazon-connect` (SPEC §10): Amazon Connect agent event stream records
    /// with a bot's token, as `Authorization: Bearer TOKEN` (a forwarding function) or as
    /// `X-Amz-Firehose-Access-Key` (a Kinesis Data Firehose HTTP endpoint delivery). The answer
    /// comes once every change is committed: `200 {applied, skipped, errors}`, or for Firehose
    /// the `{requestId, timestamp}` it requires. A Firehose request id already applied is
    /// answered the same without applying it again (Firehose retries a delivery it did not
    /// hear back from with the same id).
    func amazonConnect(_ request: Request, from address: String) async throws(HTTPFailure) -> Response {
        let firehose = Self.firehoseRequestID.flatMap { request.headers[$0] }
        do throws(HTTPFailure) {
            let (token, user) = try await bridgeToken(request, firehose: firehose != nil, from: address)
            let config = hub.config
            if let wait = buckets.take(
                user, ratePerSecond: config.botRatePerSecond, burst: config.botRateBurst,
                nowMillis: ConnectionHandler.monotonicMillis())
            {
                ServerMetrics.rateLimited(.http)
                throw .rateLimited(retryAfterMillis: wait)
            }
            if let firehose, firehoseRequests.seen(firehose) { return Self.firehoseAnswer(firehose) }
            let body = try await Self.readJSON(request, limit: Self.maxBridgeBodyBytes)
            let records = AmazonConnectBatch.records(in: body)
            switch await hub.applyAmazonConnect(token: token, records: records, agents: agents) {
            case .success(let outcome):
                logger.debug(
                    "amazon connect records",
                    metadata: [
                        "user": "\(user)", "applied": "\(outcome.applied)", "skipped": "\(outcome.skipped)",
                        "errors": "\(outcome.errors.count)",
                    ])
                if !outcome.errors.isEmpty {
                    logger.notice(
                        "amazon connect records refused",
                        metadata: ["user": "\(user)", "errors": "\(outcome.errors.count)", "first": "\(outcome.errors[0].reason)"])
                }
                if let firehose {
                    firehoseRequests.applied(firehose)
                    return Self.firehoseAnswer(firehose)
                }
                return Self.json(.ok, outcome.json)
            case .failure(let error):
                if error.code == .internalError && !hub.isAccepting { throw .unavailable }
                throw HTTPFailure(error)
            }
        } catch {
            guard let firehose else { throw error }
            // Firehose reads `errorMessage` and retries what was not a 200.
            var response = Self.firehoseAnswer(firehose, status: error.status, errorMessage: error.message)
            response.headers.append(contentsOf: error.headers)
            return response
        }
    }

    /// The bearer token, or for a Firehose delivery its access key (the bot's token set as the
    /// endpoint's access key).
    private func bridgeToken(_ request: Request, firehose: Bool, from address: String) async throws(HTTPFailure)
        -> (token: String, user: String)
    {
        guard firehose, let key = Self.firehoseAccessKey.flatMap({ request.headers[$0] }) else {
            return try await authenticate(request, from: address)
        }
        return try await authenticate(request, token: key, from: address)
    }

    static func firehoseAnswer(_ id: String, status: HTTPResponse.Status = .ok, errorMessage: String? = nil) -> Response {
        var body: [String: JSONValue] = [
            "requestId": .string(id), "timestamp": .int(Int64(Date().timeIntervalSince1970 * 1000)),
        ]
        if let errorMessage { body["errorMessage"] = .string(errorMessage) }
        return json(status, .object(body))
    }

    /// The body as JSON, at most `limit` bytes.
    static func readJSON(_ request: Request, limit: Int) async throws(HTTPFailure) -> JSONValue {
        let body = try await readBody(request, limit: limit)
        do {
            return try JSONParser.parse(Array(buffer: body))
        } catch {
            throw .badRequest("malformed JSON: \(error.message) (at byte \(error.offset))")
        }
    }
}

extension HTTPRoutes {
    /// The whole body, at most `limit` bytes.
    static func readBody(_ request: Request, limit: Int) async throws(HTTPFailure) -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw .tooLarge(limit: limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw .tooLarge(limit: limit)
        } catch {
            throw .badRequest("the body could not be read")
        }
    }
}

/// The Firehose request ids applied lately (the last 4,096), so that a retried delivery is not
/// applied twice. Kept in memory: a retry across a daemon restart is applied again, which
/// repeats call states (changing nothing) and at worst mirrors a status again.
final class RecentRequests: Sendable {
    private struct State {
        var ids: Set<String> = []
        var order: [String] = []
    }

    private let state = NIOLockedValueBox(State())
    static let capacity = 4096

    func seen(_ id: String) -> Bool { state.withLockedValue { $0.ids.contains(id) } }

    func applied(_ id: String) {
        state.withLockedValue { state in
            guard state.ids.insert(id).inserted else { return }
            state.order.append(id)
            if state.order.count > Self.capacity {
                state.ids.remove(state.order.removeFirst())
            }
        }
    }
}

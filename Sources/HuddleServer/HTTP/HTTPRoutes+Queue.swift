import HTTPTypes
import HuddleProtocol
import Hummingbird
import NIOCore

extension HTTPRoutes {
    /// `POST /v1/teams/{team}/queue`: a bearer token of a bot or supervisor of the team and the
    /// body of `queue.report`; 202 `{"seq": N}` once the `queue` event is committed. The order
    /// of the checks is the cheap ones first: token, rate, size, JSON, then the hub's own
    /// (team, role, params) through the same path as the protocol's `queue.report`.
    func queue(_ request: Request, team: String, from address: String) async throws(HTTPFailure) -> Response {
        let (token, user) = try await authenticate(request, from: address)
        let config = hub.config
        if let wait = buckets.take(
            user, ratePerSecond: config.botRatePerSecond, burst: config.botRateBurst,
            nowMillis: ConnectionHandler.monotonicMillis())
        {
            ServerMetrics.rateLimited(.http)
            throw .rateLimited(retryAfterMillis: wait)
        }
        let params = try await Self.readParams(request, limit: config.maxLineBytes)
        switch await hub.submitQueueReport(token: token, team: team, params: params) {
        case .success(let seq):
            logger.debug("queue report over http", metadata: ["team": "\(team)", "user": "\(user)", "seq": "\(seq)"])
            return Self.json(.accepted, ["seq": .int(seq)])
        case .failure(let error):
            if error.code == .internalError && !hub.isAccepting { throw .unavailable }
            throw HTTPFailure(error)
        }
    }

    /// The bearer token and its user. A failure counts against the client's address; an
    /// address that failed too often is answered 429 for a token the daemon does not already
    /// know, without a look at the admin changes (a known token still works: a bot behind the
    /// same NAT as a guesser keeps posting).
    /// `given` is a token the request carries elsewhere than in `Authorization` (Firehose's
    /// access key header).
    func authenticate(_ request: Request, token given: String? = nil, from address: String) async throws(HTTPFailure)
        -> (token: String, user: String)
    {
        let now = ConnectionHandler.monotonicMillis()
        let blockedFor = authFailures.blocked(address, nowMillis: now)
        do throws(HTTPFailure) {
            let token: String
            if let given { token = given } else { token = try Self.bearerToken(request.headers[.authorization]) }
            do {
                return (token, try await hub.authenticate(token: token, mayLook: blockedFor == nil))
            } catch {
                throw .unauthorized("invalid token")
            }
        } catch {
            ServerMetrics.httpAuthRefused()
            if let blockedFor { throw .rateLimited(retryAfterMillis: blockedFor) }
            authFailures.failed(address, perMinute: hub.config.httpAuthFailuresPerMinute, nowMillis: now)
            throw error
        }
    }

    /// The token of `Authorization: Bearer TOKEN` (the scheme in any case).
    static func bearerToken(_ header: String?) throws(HTTPFailure) -> String {
        guard let header else { throw .unauthorized("missing token: send Authorization: Bearer TOKEN") }
        let parts = header.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw .unauthorized("the Authorization header must be Bearer TOKEN")
        }
        return String(parts[1])
    }

    /// The body as `queue.report` params: at most `limit` bytes (the protocol's line limit) of
    /// UTF-8 JSON holding an object.
    static func readParams(_ request: Request, limit: Int) async throws(HTTPFailure) -> Params {
        let value = try await readJSON(request, limit: limit)
        guard case .object(let object) = value else {
            throw .badRequest("the body must be a JSON object with the queue.report params")
        }
        return Params(object)
    }
}

extension Hub {
    /// False once a graceful shutdown has begun: refusals are then 503, worth a retry.
    var isAccepting: Bool { state.withLockedValue { $0.accepting } }
}

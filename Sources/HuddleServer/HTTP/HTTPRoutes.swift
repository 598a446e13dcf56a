import HTTPTypes
import HuddleProtocol
import Hummingbird
import Logging
import NIOCore

/// The HTTP side (SPEC §5, §7, §10): `POST /v1/teams/{team}/queue` and
/// `POST /v1/bridges/amazon-connect` for bots, `GET /healthz` and `GET /metrics`. Every error is a JSON body with a word for its code, including unknown paths
/// (404) and wrong methods (405, with `Allow`). Routing is three paths, so it is a switch here
/// rather than a router: that is what lets 404 and 405 answer in the same JSON shape.
struct HTTPRoutes: HTTPResponder {
    typealias Context = HTTPContext

    enum Route: Equatable {
        case healthz
        case metrics
        case queue(team: String)
        case amazonConnect

        var allowed: [HTTPRequest.Method] {
            switch self {
            case .healthz, .metrics: [.get, .head]
            case .queue, .amazonConnect: [.post]
            }
        }
    }

    let hub: Hub
    let gauges: ScrapeGauges
    /// Open protocol connections, for `huddle_connections`.
    let connections: @Sendable () -> Int
    /// Served over TLS: answers then carry `Strict-Transport-Security`.
    let tls: Bool
    let buckets = TokenBuckets()
    let authFailures = AuthFailureBuckets()
    /// Which Connect agent ARN is which user, as learned from the records (`AgentDirectory`).
    let agents = AgentDirectory()
    let firehoseRequests = RecentRequests()
    let logger: Logger

    static func route(path: String) -> Route? {
        switch path {
        case "/healthz": return .healthz
        case "/metrics": return .metrics
        case "/v1/bridges/amazon-connect": return .amazonConnect
        default:
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 5, parts[0].isEmpty, parts[1] == "v1", parts[2] == "teams", !parts[3].isEmpty,
                parts[4] == "queue"
            else { return nil }
            return .queue(team: String(parts[3]))
        }
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let address = context.remoteAddress?.ipAddress ?? "?"
        var response = await answerOrRefuse(request, from: address)
        // Answers are data for programs, never pages: no sniffing, no caching, and with TLS the
        // client is told to stay on it.
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.cacheControl] = "no-store"
        if tls { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        return response
    }

    private func answerOrRefuse(_ request: Request, from address: String) async -> Response {
        do {
            let response = try await answer(request, from: address)
            return request.method == .head ? response.createHeadResponse() : response
        } catch {
            if error.status == .internalServerError {
                logger.error("http request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error.message)"])
            } else {
                logger.debug(
                    "http request refused",
                    metadata: ["http.path": "\(request.uri.path)", "http.status": "\(error.status.code)", "error": "\(error.message)"])
            }
            return error.response
        }
    }

    private func answer(_ request: Request, from address: String) async throws(HTTPFailure) -> Response {
        guard let route = Self.route(path: request.uri.path) else {
            throw .notFound("no such path: \(request.uri.path)")
        }
        guard route.allowed.contains(request.method) else {
            throw .methodNotAllowed(request.method, allowed: route.allowed)
        }
        switch route {
        case .healthz:
            // Up is not enough: a daemon whose commits fail, or whose WAL no longer reaches the
            // disk, cannot keep its promises and says why.
            let problems = hub.health.problems()
            guard problems.isEmpty else {
                return Self.json(.serviceUnavailable, ["status": "failing", "problems": .array(problems.map { .string($0) })])
            }
            return Self.json(.ok, ["status": "ok"])
        case .metrics:
            let text = gauges.render(hub: hub, connections: connections())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: text)))
        case .queue(let team):
            return try await queue(request, team: team, from: address)
        case .amazonConnect:
            return try await amazonConnect(request, from: address)
        }
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var bytes = JSONWriter.encode(value)
        bytes.append(UInt8(ascii: "\n"))
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Hummingbird's basic context and the client's address (for the per-address 401 limit).
struct HTTPContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

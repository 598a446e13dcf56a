import HTTPTypes
import HuddleProtocol
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The HTTP side (SPEC §5, §7, §10, §11): `POST /v1/teams/{team}/queue` and
/// `POST /v1/bridges/amazon-connect` for bots, `GET /healthz` and `GET /metrics`, and the
/// wallboard (`HTTPRoutes+Board.swift`). Every error is a JSON body with a word for its code,
/// including unknown paths (404) and wrong methods (405, with `Allow`). Routing is a handful of
/// paths, so it is a switch here rather than a router: that is what lets 404 and 405 answer in
/// the same JSON shape.
struct HTTPRoutes: HTTPResponder {
    typealias Context = HTTPContext

    enum Route: Equatable {
        case healthz
        case metrics
        case queue(team: String)
        case amazonConnect
        /// The wallboard (`HTTPRoutes+Board.swift`).
        case board
        case boardAsset(String)
        case login
        case logout
        case boardSession
        case events(team: String)
        case acknowledge(alert: Int64)

        var allowed: [HTTPRequest.Method] {
            switch self {
            case .healthz, .metrics, .board, .boardAsset, .boardSession: [.get, .head]
            case .events: [.get]
            case .login: [.get, .head, .post]
            case .queue, .amazonConnect, .logout, .acknowledge: [.post]
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
    /// Set when a graceful shutdown begins: no event stream opens after it (`HTTPServer`).
    let shuttingDown = NIOLockedValueBox(false)
    let logger: Logger

    static func route(path: String) -> Route? {
        switch path {
        case "/healthz": return .healthz
        case "/metrics": return .metrics
        case "/v1/bridges/amazon-connect": return .amazonConnect
        case "/board", "/board/": return .board
        case "/login": return .login
        case "/logout": return .logout
        case "/v1/board/session": return .boardSession
        default:
            let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            switch (parts.count, parts.first) {
            case (3, ""?) where parts[1] == "board" && !parts[2].isEmpty:
                return .board  // /board/TEAM: the same page, which reads its team from the path
            case (4, ""?) where parts[1] == "board" && parts[2] == "assets":
                return .boardAsset(parts[3])
            case (5, ""?) where parts[1] == "v1" && parts[2] == "teams" && !parts[3].isEmpty && parts[4] == "queue":
                return .queue(team: parts[3])
            case (5, ""?) where parts[1] == "v1" && parts[2] == "teams" && !parts[3].isEmpty && parts[4] == "events":
                return .events(team: parts[3])
            case (5, ""?) where parts[1] == "v1" && parts[2] == "alerts" && parts[4] == "ack":
                guard let id = Int64(parts[3]), id >= 1 else { return nil }
                return .acknowledge(alert: id)
            default:
                return nil
            }
        }
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let address = context.remoteAddress?.ipAddress ?? "?"
        var response = await answerOrRefuse(request, context: context, from: address)
        // No sniffing, no caching, and with TLS the client is told to stay on it. Every answer,
        // the board's pages included, allows scripts, styles and connections to this server
        // only, and no framing (the board's buttons cannot be overlaid by another site).
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.cacheControl] = "no-store"
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if tls { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        return response
    }

    static let contentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    private func answerOrRefuse(_ request: Request, context: Context, from address: String) async -> Response {
        do {
            let response = try await answer(request, context: context, from: address)
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

    private func answer(_ request: Request, context: Context, from address: String) async throws(HTTPFailure) -> Response {
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
        case .board:
            return page(PackageResources.board_html)
        case .boardAsset(let name):
            return try asset(name)
        case .login:
            return request.method == .post ? try await login(request, from: address) : loginPage()
        case .logout:
            return try await logout(request)
        case .boardSession:
            return try await boardSession(request, from: address)
        case .events(let team):
            return try await events(request, team: team, context: context, from: address)
        case .acknowledge(let alert):
            return try await acknowledge(request, alert: alert, from: address)
        }
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var bytes = JSONWriter.encode(value)
        bytes.append(UInt8(ascii: "\n"))
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Hummingbird's basic context, the client's address (for the per-address 401 limit),
/// and its connection (an event stream closes it to cut a slow reader).
struct HTTPContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }
}

import Foundation
import HTTPTypes
import HuddleProtocol
import HuddleStore
import Hummingbird
import NIOCore

/// The wallboard (SPEC §11, PROTOCOL.md §22): its page and assets, sign-in and sign-out, who is
/// signed in, the event stream, and acknowledging an alert.
///
/// Three ways in, each checked on every request: a session cookie set by `/login` (supervisors
/// and admins), a display link's key (`?display=hdd_…`, what a team member sees, read-only),
/// and a bearer token (scripts). A POST made with a cookie must come from the board itself:
/// the browser's `Sec-Fetch-Site`/`Origin` must say same origin, and the session's CSRF value
/// must come with it (`X-Huddle-CSRF`, or the `csrf` field of the sign-out form).
extension HTTPRoutes {
    static let cookieName = "huddle_session"

    /// The page and its assets, from the binary (`PackageResources`, SwiftPM's embedded
    /// resources): nothing is fetched from anywhere else.
    static let assets: [String: (type: String, bytes: [UInt8])] = [
        "board.js": ("text/javascript; charset=utf-8", PackageResources.board_js),
        "board.css": ("text/css; charset=utf-8", PackageResources.board_css),
    ]

    func page(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func asset(_ name: String) throws(HTTPFailure) -> Response {
        guard let asset = Self.assets[name] else { throw .notFound("no such asset: \(name)") }
        return Response(
            status: .ok, headers: [.contentType: asset.type], body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    /// The sign-in page, with `message` in its error line when there is one.
    func loginPage(_ message: String? = nil, status: HTTPResponse.Status = .ok) -> Response {
        guard let message else { return page(PackageResources.login_html, status: status) }
        let html = String(decoding: PackageResources.login_html, as: UTF8.self).replacingFirst(
            #"<p id="error" class="error" hidden></p>"#, with: #"<p id="error" class="error" role="alert">\#(Self.escapeHTML(message))</p>"#)
        return page(Array(html.utf8), status: status)
    }

    static func escapeHTML(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    // MARK: Sign-in

    /// `POST /login` with the form's `token`: a session cookie and a redirect to the board; a
    /// refused token is the sign-in page again with why (401, 403, or 429 for an address that
    /// has failed too often).
    func login(_ request: Request, from address: String) async throws(HTTPFailure) -> Response {
        try checkSameOrigin(request)
        let body = try await Self.readBody(request, limit: 4096)
        let form = Self.formFields(String(buffer: body))
        let token = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let now = ConnectionHandler.monotonicMillis()
        if let wait = authFailures.blocked(address, nowMillis: now) {
            let failure = HTTPFailure.rateLimited(retryAfterMillis: wait)
            var response = loginPage("Too many failed sign-ins from this address; try again in a minute.", status: .tooManyRequests)
            response.headers.append(contentsOf: failure.headers)
            return response
        }
        do throws(RPCError) {
            let (cookie, viewer) = try await hub.signIn(token: token, mayLook: true)
            logger.info("board sign-in", metadata: ["user": "\(viewer.user)"])
            var response = Response(status: .seeOther, headers: [.location: "/board"])
            response.headers[.setCookie] = sessionCookie(cookie, maxAge: Hub.boardSessionSeconds)
            return response
        } catch where error.code == .forbidden {
            return loginPage(error.message, status: .forbidden)
        } catch {
            ServerMetrics.httpAuthRefused()
            authFailures.failed(address, perMinute: hub.config.httpAuthFailuresPerMinute, nowMillis: now)
            return loginPage("That token is not valid. Paste the whole token, hdl_ and all.", status: .unauthorized)
        }
    }

    /// `POST /logout`: ends the session (its open streams too) and clears the cookie.
    func logout(_ request: Request) async throws(HTTPFailure) -> Response {
        try checkSameOrigin(request)
        if let cookie = Self.cookie(request), let viewer = hub.boardViewer(cookie: cookie) {
            let body = try await Self.readBody(request, limit: 4096)
            guard Self.formFields(String(buffer: body))["csrf"] == viewer.csrf else {
                throw HTTPFailure(status: .forbidden, code: "forbidden", message: "sign out from the board itself")
            }
            await hub.signOut(cookie: cookie)
        }
        var response = Response(status: .seeOther, headers: [.location: "/login"])
        response.headers[.setCookie] = sessionCookie("", maxAge: 0)
        return response
    }

    func sessionCookie(_ value: String, maxAge: Int64) -> String {
        "\(Self.cookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict\(tls ? "; Secure" : "")"
    }

    /// A browser's POST must come from a page of this server: `Sec-Fetch-Site` (sent by every
    /// current browser) says so, or else `Origin` names this host. A request with neither is
    /// not from a browser's page (a script), and carries no cookie of a victim's.
    func checkSameOrigin(_ request: Request) throws(HTTPFailure) {
        let refused = HTTPFailure(
            status: .forbidden, code: "cross_site", message: "this request must come from the board's own page")
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!] {
            guard site == "same-origin" || site == "none" else { throw refused }
            return
        }
        if let origin = request.headers[HTTPField.Name("Origin")!] {
            let host = request.head.authority ?? ""
            guard origin == "https://\(host)" || origin == "http://\(host)" else { throw refused }
        }
    }

    // MARK: Who is looking

    /// The viewer of a board request: the display link's key when there is one, else the
    /// session cookie, else a bearer token. Failures count against the address like any 401.
    func viewer(_ request: Request, from address: String) async throws(HTTPFailure) -> Hub.Viewer {
        let now = ConnectionHandler.monotonicMillis()
        let blocked = authFailures.blocked(address, nowMillis: now)
        let found: Hub.Viewer?
        if let key = Self.query(request, "display") {
            found = await hub.displayViewer(key: key, mayLook: blocked == nil)
        } else if let cookie = Self.cookie(request) {
            found = hub.boardViewer(cookie: cookie)
        } else if request.headers[.authorization] != nil {
            let (token, _) = try await authenticate(request, from: address)
            return try await viewerOfToken(token)
        } else {
            throw .unauthorized("sign in at /login, or use a display link or a bearer token")
        }
        if let found { return found }
        ServerMetrics.httpAuthRefused()
        if let blocked { throw .rateLimited(retryAfterMillis: blocked) }
        authFailures.failed(address, perMinute: hub.config.httpAuthFailuresPerMinute, nowMillis: now)
        throw .unauthorized("the session has ended or the display link is not valid; sign in again at /login")
    }

    private func viewerOfToken(_ token: String) async throws(HTTPFailure) -> Hub.Viewer {
        do throws(RPCError) {
            return try await hub.tokenViewer(token: token, mayLook: false)
        } catch {
            throw HTTPFailure(error)
        }
    }

    /// `GET /v1/board/session`: who the page is for (`Hub.Viewer.json`).
    func boardSession(_ request: Request, from address: String) async throws(HTTPFailure) -> Response {
        Self.json(.ok, try await viewer(request, from: address).json)
    }

    // MARK: The event stream

    /// `GET /v1/teams/{team}/events`: the team's events as server-sent events (PROTOCOL.md §22).
    func events(_ request: Request, team: String, context: HTTPContext, from address: String) async throws(HTTPFailure)
        -> Response
    {
        let viewer = try await viewer(request, from: address)
        guard viewer.teams.contains(team) else {
            throw HTTPFailure(status: .forbidden, code: "forbidden", message: "\(team) is not a team this board may show")
        }
        let since = try Self.lastEventID(request)
        guard !shuttingDown.withLockedValue({ $0 }) else { throw .unavailable }
        let config = hub.config
        let logger = self.logger
        let output = EventStreamOutput(channel: context.channel, outboundLimit: config.outboundBufferBytes) { why in
            logger.warning(
                "disconnecting a slow reader of an event stream",
                metadata: ["team": "\(team)", "viewer": "\(viewer.user)", "reason": "\(why)"])
        }
        let session: Session
        do throws(RPCError) {
            session = try hub.openEventStream(
                viewer, team: team, since: since, output: output, maxStreams: config.httpMaxEventStreams,
                maxPerViewer: config.httpMaxEventStreamsPerViewer)
        } catch {
            if error.code == .internalError && !hub.isAccepting { throw .unavailable }
            throw HTTPFailure(error)
        }
        let hub = self.hub
        // A shutdown that began meanwhile closed the streams open then: this one too.
        if shuttingDown.withLockedValue({ $0 }) { session.close(.shutdown) }
        // However the response ends (or never starts), the watcher goes.
        context.channel.closeFuture.whenComplete { _ in
            hub.disconnected(session)
            output.finish()
        }
        let frames = EventStreamFrames(
            team: team, supervisor: viewer.role.seesSupervisorStream, since: since, now: { hub.clock.now() })
        let writer = EventStreamWriter(
            output: output, frames: frames, expiresAt: viewer.expiresAt, clock: hub.clock,
            writeTimeout: .seconds(config.writeTimeoutSeconds), heartbeat: .seconds(config.heartbeatSeconds))
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: ResponseBody { body in
                await writer.run(&body)
                hub.disconnected(session)
            })
    }

    /// `Last-Event-ID: EPOCH:SEQ[:SUPERVISORS_SEQ]`, as the stream's ids are written; nil when
    /// absent (a fresh start). Anything else is refused, so that a garbled id is never taken
    /// for a position.
    static func lastEventID(_ request: Request) throws(HTTPFailure) -> Hub.Since? {
        guard let header = request.headers[HTTPField.Name("Last-Event-ID")!], !header.isEmpty else { return nil }
        let parts = header.split(separator: ":", omittingEmptySubsequences: false)
        let seqs = parts.dropFirst().map { Int64($0) }
        guard (2...3).contains(parts.count), !parts[0].isEmpty, parts[0].count <= 64, seqs.allSatisfy({ ($0 ?? -1) >= 0 })
        else {
            throw .badRequest("Last-Event-ID must be EPOCH:SEQ or EPOCH:SEQ:SUPERVISORS_SEQ, as the stream's ids are")
        }
        return Hub.Since(epoch: String(parts[0]), seq: seqs[0] ?? 0, supervisorsSeq: seqs.count > 1 ? seqs[1] : nil)
    }

    // MARK: Acknowledging

    /// `POST /v1/alerts/{id}/ack` with `{"note": …}` (optional): as `alert.ack`, answered with the
    /// `alert_ack` event's seq once committed. Displays may not; a cookie needs the CSRF value.
    func acknowledge(_ request: Request, alert: Int64, from address: String) async throws(HTTPFailure) -> Response {
        let viewer = try await viewer(request, from: address)
        if case .display = viewer.kind {
            throw HTTPFailure(status: .forbidden, code: "forbidden", message: "a display link is read-only")
        }
        if let csrf = viewer.csrf {
            try checkSameOrigin(request)
            guard request.headers[HTTPField.Name("X-Huddle-CSRF")!] == csrf else {
                throw HTTPFailure(status: .forbidden, code: "cross_site", message: "missing or wrong X-Huddle-CSRF")
            }
        }
        var note = ""
        if request.headers[.contentLength].flatMap({ Int($0) }) != 0 {
            let body = try await Self.readBody(request, limit: hub.config.maxLineBytes)
            if body.readableBytes > 0 {
                guard case .object(let object)? = try? JSONParser.parse(Array(buffer: body)) else {
                    throw .badRequest("the body must be a JSON object like {\"note\": \"…\"}")
                }
                do throws(RPCError) {
                    note = try Params(object).optionalString("note") ?? ""
                } catch {
                    throw HTTPFailure(error)
                }
            }
        }
        switch await hub.acknowledge(alert: alert, note: note, by: viewer.user) {
        case .success(let seq):
            logger.info("alert acknowledged on the board", metadata: ["alert": "\(alert)", "user": "\(viewer.user)"])
            return Self.json(.ok, ["supervisors_seq": .int(seq)])
        case .failure(let error):
            if error.code == .internalError && !hub.isAccepting { throw .unavailable }
            throw HTTPFailure(error)
        }
    }

    // MARK: Reading requests

    static func cookie(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == cookieName {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    static func query(_ request: Request, _ name: String) -> String? {
        request.uri.queryParameters[Substring(name)].map(String.init)
    }

    /// `application/x-www-form-urlencoded` fields.
    static func formFields(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}

extension String {
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

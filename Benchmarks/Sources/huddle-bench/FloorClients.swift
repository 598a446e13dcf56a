import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Shared by `storm` and `soak`: a floor of many users in many teams, and clients that follow the
// streams (seq by seq) without a general JSON parser. Every client object lives on one event loop
// and is only touched there; the orchestrator reaches a loop's clients through `NIOLoopBound`.

// MARK: Making the floor

struct FloorUser: Sendable {
    var name: String
    var role: String
    var teams: [String]
}

/// Runs `body(0..<count)` on `parallel` threads (the admin commands are separate processes that
/// mostly wait for SQLite's commits; running several at once keeps the set-up short).
func parallelRun(count: Int, parallel: Int, _ body: @escaping @Sendable (Int) throws -> Void) async throws {
    final class Work: Sendable {
        let next = Atomic<Int>(0)
        let failure = Mutex<String?>(nil)
    }
    let work = Work()
    let group = DispatchGroup()
    for _ in 0..<max(1, min(parallel, count)) {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            while work.failure.withLock({ $0 == nil }) {
                let index = work.next.add(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                do {
                    try body(index)
                } catch {
                    work.failure.withLock { $0 = $0 ?? "\(error)" }
                }
            }
        }
    }
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        group.notify(queue: .global()) { done.resume() }
    }
    if let failure = work.failure.withLock({ $0 }) { throw BenchFailure(failure) }
}

extension HuddleLauncher {
    /// `makeFloor`, then the daemon on it with `arguments`, each step said as it is done; the
    /// floor's tokens come back with the running server.
    func serveFloor(
        teams: [String], users: [FloorUser], parallel: Int, cache: String?, tls: Bool, arguments: [String]
    ) async throws -> (server: RunningServer, tokens: [String: String]) {
        let made = monotonicNanos()
        let (data, tokens, cached) = try await makeFloor(teams: teams, users: users, parallel: parallel, cache: cache)
        say(
            "   floor: \(teams.count) teams, \(fmtThousands(Double(users.count))) users "
                + (cached ? "copied from \(cache ?? "")" : "made with huddled team/user add")
                + " in \(fmt(seconds(since: made), 1)) s")
        let server: RunningServer
        do {
            server = try await serve(data: data, tls: tls, arguments: arguments)
        } catch {
            try? FileManager.default.removeItem(atPath: data)
            throw error
        }
        say("   \(server.version), pid \(server.process.pid), port \(server.endpoint.port); daemon flags: \(arguments.joined(separator: " "))")
        return (server, tokens)
    }
}

extension HuddleLauncher {
    /// A fresh data folder with `teams` and `users`, made with `huddled team add` / `user add` (as an
    /// operator would), `parallel` commands at a time. Returns the folder and each user's token.
    ///
    /// With `cache` (a folder), the first run also keeps a copy of the floor's database and tokens
    /// there, under a name derived from the layout, and later runs with the same layout start from
    /// a copy of it instead of running thousands of admin commands again.
    func makeFloor(teams: [String], users: [FloorUser], parallel: Int, cache: String? = nil) async throws -> (
        data: String, tokens: [String: String], cached: Bool
    ) {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchFailure(
                "no huddled at \(binary): build it with `swift build -c release --product huddled` in the package root, or pass --huddled"
            )
        }
        let data = try makeTemporaryDirectory(in: workParent, prefix: "huddle-bench")
        // The daemon's build is part of the key: a rebuilt huddled may have another schema.
        let attributes = try? FileManager.default.attributesOfItem(atPath: binary)
        var layout = "\(binary) \(attributes?[.size] ?? 0) \(attributes?[.modificationDate] ?? 0)\n"
        layout += teams.joined(separator: ",") + "\n"
        for user in users { layout += "\(user.name) \(user.role) \(user.teams.joined(separator: ","))\n" }
        var hasher = FNV1a()
        hasher.add(layout)
        let template = cache.map { "\($0)/floor-\(String(hasher.value, radix: 16))" }
        if let template, let tokens = loadTemplate(template, into: data) {
            return (data, tokens, true)
        }
        do {
            let binary = self.binary
            // The first command creates the database, the certificate is made at the first serve.
            try run(binary, ["team", "add", teams[0], "--data", data])
            try await parallelRun(count: teams.count - 1, parallel: parallel) { index in
                try run(binary, ["team", "add", teams[index + 1], "--data", data])
            }
            let box = TokenBox()
            try await parallelRun(count: users.count, parallel: parallel) { index in
                let user = users[index]
                var arguments = ["user", "add", user.name, "--role", user.role, "--data", data]
                for team in user.teams { arguments += ["--team", team] }
                let output = try run(binary, arguments)
                guard let token = output.split(separator: "\n").last.map({ $0.trimmingCharacters(in: .whitespaces) }),
                    token.hasPrefix("hdl_")
                else { throw BenchFailure("huddled user add \(user.name) printed no token: \(output)") }
                box.tokens.withLock { $0[user.name] = token }
            }
            let tokens = box.tokens.withLock { $0 }
            if let template { saveTemplate(template, from: data, tokens: tokens) }
            return (data, tokens, false)
        } catch {
            try? FileManager.default.removeItem(atPath: data)
            throw error
        }
    }

    private func loadTemplate(_ template: String, into data: String) -> [String: String]? {
        let files = FileManager.default
        guard let json = files.contents(atPath: "\(template)/tokens.json"),
            let tokens = try? JSONDecoder().decode([String: String].self, from: json),
            let names = try? files.contentsOfDirectory(atPath: "\(template)/data")
        else { return nil }
        for name in names {
            guard (try? files.copyItem(atPath: "\(template)/data/\(name)", toPath: "\(data)/\(name)")) != nil else { return nil }
        }
        return tokens
    }

    private func saveTemplate(_ template: String, from data: String, tokens: [String: String]) {
        let files = FileManager.default
        try? files.removeItem(atPath: template)
        guard (try? files.createDirectory(atPath: "\(template)/data", withIntermediateDirectories: true)) != nil,
            let names = try? files.contentsOfDirectory(atPath: data)
        else { return }
        // No daemon has run here yet: the database, its WAL and the admin token are all there is.
        for name in names where name != "tls" {
            try? files.copyItem(atPath: "\(data)/\(name)", toPath: "\(template)/data/\(name)")
        }
        if let json = try? JSONEncoder().encode(tokens) {
            _ = files.createFile(atPath: "\(template)/tokens.json", contents: json, attributes: [.posixPermissions: 0o600])
        }
    }
}

/// A small stable hash (FNV-1a, 64 bits) for naming cached floors.
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ text: String) {
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value = value &* 0x100_0000_01b3
        }
    }
}

private final class TokenBox: Sendable {
    let tokens = Mutex<[String: String]>([:])
}

// MARK: Reading lines without a JSON parser

/// Byte patterns of the server's output. The server writes compact JSON with sorted keys and
/// escapes `"` inside strings, so `"seq":` can only be the key itself (never text, and never
/// `"supervisors_seq":`), and an event's `params` keys come in a fixed order.
enum Wire1 {
    static let eventPrefix: [UInt8] = Array(#"{"jsonrpc":"2.0","method":"event","params":{"#.utf8)
    static let closingPrefix: [UInt8] = Array(#"{"jsonrpc":"2.0","method":"session.closing""#.utf8)
    static let reminderPrefix: [UInt8] = Array(#"{"jsonrpc":"2.0","method":"reminder""#.utf8)
    static let resultPrefix: [UInt8] = Array(#"{"id":"#.utf8)
    static let errorPrefix: [UInt8] = Array(#"{"error":"#.utf8)
    static let seq: [UInt8] = Array(#""seq":"#.utf8)
    static let supervisorsSeq: [UInt8] = Array(#""supervisors_seq":"#.utf8)
    static let epoch: [UInt8] = Array(#""epoch":""#.utf8)
    static let recoveredTrue: [UInt8] = Array(#""recovered":true"#.utf8)
    static let streamSupervisors: [UInt8] = Array(#""stream":"supervisors""#.utf8)
    static let errorID: [UInt8] = Array(#","id":"#.utf8)
    static let code: [UInt8] = Array(#""code":"#.utf8)
    static let rule: [UInt8] = Array(#""rule":""#.utf8)
    static let reason: [UInt8] = Array(#""reason":""#.utf8)
    static let alert: [UInt8] = Array(#""alert":"#.utf8)
    static let kind: [UInt8] = Array(#""kind":""#.utf8)
    static let connectedFalse: [UInt8] = Array(#""connected":false"#.utf8)
    static let granted: [UInt8] = Array(#""decision":"granted""#.utf8)
    static let presenceType: [UInt8] = Array(#""type":"presence""#.utf8)
    static let alertType: [UInt8] = Array(#""type":"alert""#.utf8)
}

/// One received line (without its `\n` or `\r\n`), valid only during the callback that gets it.
struct Line {
    let bytes: UnsafeRawBufferPointer

    var count: Int { bytes.count }

    func hasPrefix(_ prefix: [UInt8]) -> Bool {
        guard bytes.count >= prefix.count, let base = bytes.baseAddress else { return false }
        return prefix.withUnsafeBytes { memcmp(base, $0.baseAddress!, prefix.count) == 0 }
    }

    /// Offset of the first byte of `needle` at or after `from`, or nil.
    func find(_ needle: [UInt8], from: Int = 0) -> Int? {
        guard let base = bytes.baseAddress, let first = needle.first, from >= 0 else { return nil }
        let last = bytes.count - needle.count
        var offset = from
        return needle.withUnsafeBytes { pattern -> Int? in
            while offset <= last {
                guard let hit = memchr(base + offset, Int32(first), last - offset + 1) else { return nil }
                let at = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(base + at, pattern.baseAddress!, needle.count) == 0 { return at }
                offset = at + 1
            }
            return nil
        }
    }

    func contains(_ needle: [UInt8]) -> Bool { find(needle) != nil }

    /// The (non-negative) integer right after the first `key`.
    func int(after key: [UInt8]) -> Int? {
        guard let at = find(key) else { return nil }
        return int(at: at + key.count)
    }

    func int(at position: Int) -> Int? {
        var index = position
        var value = 0
        var digits = 0
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            value = value * 10 + Int(bytes[index] - 48)
            index += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    /// The string value (without escapes) right after `key`, which ends with the opening quote.
    func string(after key: [UInt8]) -> String? {
        guard let at = find(key) else { return nil }
        let start = at + key.count
        var index = start
        while index < bytes.count, bytes[index] != 0x22 { index += 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    /// The id of a response line (`{"id":N,…` or `{"error":{…},"id":N,…`).
    var responseID: Int? {
        if hasPrefix(Wire1.resultPrefix) { return int(at: Wire1.resultPrefix.count) }
        return int(after: Wire1.errorID)
    }

    /// The code of an error line.
    var errorCode: Int? {
        guard let at = find(Wire1.code) else { return nil }
        var index = at + Wire1.code.count
        let negative = index < bytes.count && bytes[index] == 0x2D
        if negative { index += 1 }
        return int(at: index).map { negative ? -$0 : $0 }
    }

    /// The send time embedded in a text or note (`~T~` + 16 digits), if any.
    var embeddedSendTime: UInt64? {
        guard let at = find(Payload.marker) else { return nil }
        var index = at + Payload.marker.count
        let end = index + Payload.digits
        guard end <= bytes.count else { return nil }
        var value: UInt64 = 0
        while index < end {
            let digit = bytes[index] &- 48
            guard digit <= 9 else { return nil }
            value = value * 10 + UInt64(digit)
            index += 1
        }
        return value
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// Splits a byte stream into lines without copying them: complete lines are handed out straight
/// from the read buffer; only a line cut by a read boundary is copied (into `carry`).
struct LineReader {
    private var carry: [UInt8] = []

    /// Calls `body` per complete line until it returns false (then the rest of the read is dropped).
    mutating func feed(_ raw: UnsafeRawBufferPointer, _ body: (Line) -> Bool) {
        guard let base = raw.baseAddress, raw.count > 0 else { return }
        let count = raw.count
        var start = 0
        if !carry.isEmpty {
            guard let hit = memchr(base, 0x0A, count) else {
                carry.append(contentsOf: raw)
                return
            }
            let at = base.distance(to: UnsafeRawPointer(hit))
            carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<at]))
            let line = carry
            carry = []
            let goOn = line.withUnsafeBytes { body(Line(bytes: Self.trimmed($0))) }
            guard goOn else { return }
            start = at + 1
        }
        while start < count {
            guard let hit = memchr(base + start, 0x0A, count - start) else {
                carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start..<count]))
                return
            }
            let at = base.distance(to: UnsafeRawPointer(hit))
            guard body(Line(bytes: Self.trimmed(UnsafeRawBufferPointer(rebasing: raw[start..<at])))) else { return }
            start = at + 1
        }
    }

    private static func trimmed(_ raw: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        if let last = raw.last, last == 0x0D { return UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 1)]) }
        return raw
    }
}

/// `~T~` + the send time as 16 digits: what `embeddedSendTime` reads back.
func sendTimeMarker(_ sentAt: UInt64) -> String {
    let digits = String(sentAt % 10_000_000_000_000_000)
    return "~T~" + String(repeating: "0", count: Payload.digits - digits.count) + digits
}

// MARK: The connection

/// What a floor client does with its connection (all on the connection's event loop).
protocol FloorPeer: AnyObject {
    func floorActive(_ connection: FloorConnection)
    func floorTLSReady(_ connection: FloorConnection)
    func floorLine(_ line: Line, _ connection: FloorConnection)
    func floorInactive(_ connection: FloorConnection)
    func floorError(_ error: any Error, _ connection: FloorConnection)
}

extension FloorPeer {
    func floorError(_ error: any Error, _ connection: FloorConnection) {}
}

/// First in the pipeline (before TLS), so that a reset goes straight to the socket: SO_LINGER 0
/// and close, a TCP RST with no TLS close_notify, as when a client's network or process dies.
final class AbruptClose: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func reset() {
        guard let context else { return }
        if let provider = context.channel as? any SocketOptionProvider {
            provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.close(promise: nil)
        }
    }
}

/// Last in the pipeline: splits what arrives into lines and hands them to the peer.
final class FloorConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var peer: (any FloorPeer)?
    private var context: ChannelHandlerContext?
    private var lines = LineReader()
    private(set) var killed = false

    init(peer: any FloorPeer) { self.peer = peer }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        peer?.floorActive(self)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let peer = self.peer
        self.peer = nil
        peer?.floorInactive(self)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls { peer?.floorTLSReady(self) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // TLS errors after a reset, or a failed handshake: the close that follows reports it.
        peer?.floorError(error, self)
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let peer else { return }
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { raw in
            lines.feed(raw) { line in
                peer.floorLine(line, self)
                return !killed && self.peer != nil
            }
        }
    }

    func send(_ text: String) {
        guard let context, !killed else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
    }

    /// Drops the connection at once (TCP RST, no TLS goodbye); the peer hears nothing more.
    func kill() {
        guard !killed, let context else { return }
        killed = true
        peer = nil
        if let head = try? context.pipeline.syncOperations.handler(type: AbruptClose.self) {
            head.reset()
        } else {
            context.close(promise: nil)
        }
    }
}

/// Opens a connection on `loop` (which must be the peer's loop).
func openFloorConnection(
    _ endpoint: Endpoint, on loop: any EventLoop, peer: NIOLoopBound<any FloorPeer>, connectTimeout: TimeAmount = .seconds(30)
) -> EventLoopFuture<any Channel> {
    let tls = endpoint.tls
    let hostname = endpoint.hostname
    return ClientBootstrap(group: loop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .connectTimeout(connectTimeout)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(AbruptClose())
                if let tls { try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname)) }
                try sync.addHandler(FloorConnection(peer: peer.value))
            }
        }
        .connect(to: endpoint.loopbackAddress)
}

extension Endpoint {
    /// 127.0.0.1:port, without a resolver round (thousands of clients connect at once).
    var loopbackAddress: SocketAddress {
        (try? SocketAddress(ipAddress: "127.0.0.1", port: port)) ?? (try! SocketAddress.makeAddressResolvingHost("127.0.0.1", port: port))
    }
}

extension NIOLoopBound {
    /// Runs `body` on the value's loop and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable (Value) -> T) async throws -> T {
        let bound = self
        return try await eventLoop.submit { body(bound.value) }.get()
    }
}

// MARK: Requests of the floor

enum FloorRequests {
    static func join(id: Int, team: String, since: (epoch: String, seq: Int, supervisorsSeq: Int?)? = nil) -> String {
        guard let since else { return Requests.huddleJoin(id: id, team: team) }
        let supervisors = since.supervisorsSeq.map { #","supervisors_seq":\#($0)"# } ?? ""
        return #"{"jsonrpc":"2.0","id":\#(id),"method":"team.join","params":{"team":"\#(team)","since":{"epoch":"\#(since.epoch)","seq":\#(since.seq)\#(supervisors)}}}"#
            + "\n"
    }

    static func status(id: Int, status: String, note: String, reason: String? = nil) -> String {
        let extra = reason.map { #","reason":"\#($0)""# } ?? ""
        return #"{"jsonrpc":"2.0","id":\#(id),"method":"status.set","params":{"status":"\#(status)","note":"\#(note)"\#(extra)}}"#
            + "\n"
    }

    static func message(id: Int, team: String, text: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"message.send","params":{"team":"\#(team)","text":"\#(text)"}}"# + "\n"
    }

    static func queueReport(
        id: Int, team: String, callsWaiting: Int, oldestWait: Int, callsPerHour: Int, aht: Int, note: String
    ) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"queue.report","params":{"team":"\#(team)","calls_waiting":\#(callsWaiting),"oldest_wait_s":\#(oldestWait),"calls_per_hour":\#(callsPerHour),"aht_s":\#(aht),"note":"\#(note)"}}"#
            + "\n"
    }

    static func ack(id: Int, alert: Int, note: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"alert.ack","params":{"alert":\#(alert),"note":"\#(note)"}}"# + "\n"
    }

    static func policy(id: Int, team: String, policy: String, comment: String) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"policy.set","params":{"team":"\#(team)","policy":\#(policy),"comment":"\#(comment)"}}"#
            + "\n"
    }
}

// MARK: Small things

/// A seeded generator, so that a run's choices can be repeated (`--seed`).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Keeps the first few texts of a kind of trouble, and how many there were.
struct Samples: Sendable {
    var count = 0
    var first: [String] = []
    /// How many of each kind, when the caller names kinds.
    var kinds: [String: Int] = [:]

    mutating func add(_ text: String, kind: String? = nil, keep: Int = 5) {
        count += 1
        if first.count < keep { first.append(String(text.prefix(300))) }
        if let kind { kinds[kind, default: 0] += 1 }
    }

    mutating func merge(_ other: Samples, keep: Int = 5) {
        count += other.count
        for text in other.first where first.count < keep { first.append(text) }
        kinds.merge(other.kinds, uniquingKeysWith: +)
    }

    var kindSummary: String {
        kinds.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }
}

/// Busy and total jiffies of the whole machine (from /proc/stat), to tell whether the cores were full.
func machineCPUTicks() -> (busy: Double, total: Double) {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
    else { return (0, 0) }
    let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard fields.count >= 5 else { return (0, 0) }
    let idle = fields[3] + fields[4]  // idle + iowait
    let total = fields.prefix(8).reduce(0, +)
    return (total - idle, total)
}

/// Nanoseconds from `start` to `now`, 0 if `start` is later (taken after `now`).
@inline(__always)
func elapsedNanos(_ start: UInt64, _ now: UInt64) -> UInt64 { now > start ? now - start : 0 }

func round2(_ value: Double) -> Double { (value * 100).rounded() / 100 }

import Foundation
import NIOCore
import NIOPosix
import NIOSSL

// MARK: Memory

struct MemoryPlan: Sendable {
    var connections = 10_000
    var join = false
    var tls = true
    var settle = 3.0
    var huddled = "../.build/release/huddled"
    var workParent = "/tmp"
    var users = 10
    var connectConcurrency = 128
}

/// Resident memory of the daemon with N idle authenticated TLS sessions, per session.
func runMemory(_ plan: MemoryPlan, harness: Harness, openFiles: Int) async throws -> Row {
    let users = (0..<plan.users).map { ("idle\($0)", "agent") }
    let (server, tokens) = try await HuddleLauncher(binary: plan.huddled, workParent: plan.workParent, openFiles: openFiles)
        .start(tls: plan.tls, users: users)
    say("   \(server.version), pid \(server.process.pid), port \(server.endpoint.port), \(plan.tls ? "TLS" : "plaintext")")
    let tokenList = (0..<plan.users).map { tokens["idle\($0)"]! }
    let endpoint = server.endpoint
    let join = plan.join
    var channels: [any Channel] = []
    do {
        // Warm up: the first connections pay for one-time allocations (TLS context, tables).
        let warm = try await openMany(count: 20, concurrency: 20) { index in
            try await openSubscriber(index, endpoint: endpoint, token: tokenList[index % tokenList.count], harness: harness, join: join)
        }
        await closeAll(warm)
        try await Task.sleep(for: .seconds(1))
        let before = server.process.memory()
        let start = monotonicNanos()
        channels = try await openMany(count: plan.connections, concurrency: plan.connectConcurrency) { index in
            try await openSubscriber(
                index, endpoint: endpoint, token: tokenList[index % tokenList.count], harness: harness, join: join,
                keepAlive: .seconds(20))
        }
        let opening = seconds(since: start)
        try await Task.sleep(for: .seconds(plan.settle))
        let after = server.process.memory()
        let active = channels.filter(\.isActive).count
        let perConnection = Double(after.rssKiB - before.rssKiB) / Double(plan.connections)
        say(
            "   \(fmtThousands(Double(plan.connections))) idle authenticated \(plan.tls ? "TLS" : "plaintext") sessions\(join ? " (joined)" : ""):"
                + " VmRSS \(fmtThousands(Double(before.rssKiB))) KiB → \(fmtThousands(Double(after.rssKiB))) KiB"
                + " = \(fmt(perConnection, 1)) KiB per connection (opened in \(fmt(opening, 1)) s,"
                + " \(fmt(Double(plan.connections) / opening, 0)) handshakes/s; \(active) still open)")
        await closeAll(channels)
        await server.stop()
        return Row(
            bench: "memory", system: "huddle", transport: endpoint.transport, scenario: join ? "idle-joined" : "idle-authenticated",
            subscribers: plan.connections, rate: nil,
            values: [
                "kib_per_connection": (perConnection * 10).rounded() / 10,
                "rss_before_kib": Double(before.rssKiB), "rss_after_kib": Double(after.rssKiB),
                "handshakes_per_s": (Double(plan.connections) / opening).rounded(),
            ], notes: active < plan.connections ? ["\(plan.connections - active) connections closed"] : nil)
    } catch {
        await closeAll(channels)
        say("   server log tail:\n\(server.process.log.suffix(1500))")
        await server.stop()
        throw error
    }
}

// MARK: Durability

struct DurabilityPlan: Sendable {
    var agents = 100
    var warmup = 1.0
    var duration = 10.0
    var tls = false
    var join = false
    var huddled = "../.build/release/huddled"
    var workParent = "/tmp"
}

/// One request at a time over a Huddle session (the supervisor's `policy.set`).
final class ScriptHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let requests: [String]
    private let done: EventLoopPromise<[String]>
    private var answers: [String] = []
    private var lines = LineSplitter()

    init(requests: [String], done: EventLoopPromise<[String]>) {
        self.requests = requests
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        sendNext(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(BenchFailure("closed after \(answers.count) answers: \(answers)"))
        context.fireChannelInactive()
    }

    private func sendNext(_ context: ChannelHandlerContext) {
        guard answers.count < requests.count else {
            done.succeed(answers)
            return
        }
        context.writeAndFlush(
            wrapOutboundOut(context.channel.allocator.buffer(string: requests[answers.count])), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { raw in
            lines.feed(raw) { line in
                if line.hasPrefix(#"{"id":"#) || line.hasPrefix(#"{"error":"#) {
                    answers.append(line.text)
                    sendNext(context)
                }
                return true
            }
        }
    }
}

func runScript(_ endpoint: Endpoint, _ requests: [String], on loop: any EventLoop) async throws -> [String] {
    let done = loop.makePromise(of: [String].self)
    let channel = try await connect(endpoint, on: loop) { ScriptHandler(requests: requests, done: done) }
    loop.scheduleTask(in: .seconds(30)) { done.fail(BenchFailure("no answer within 30 s")) }
    defer { channel.close(promise: nil) }
    return try await done.futureResult.get()
}

/// Acknowledged (hence committed: huddled answers only after the SQLite commit) status changes
/// per second from concurrent agents, each with one request in flight.
func runDurability(_ plan: DurabilityPlan, harness: Harness, openFiles: Int) async throws -> Row {
    let fsyncMs = fsyncCostMillis(in: plan.workParent)
    say("   fdatasync of a 4 KiB rewrite in \(plan.workParent): \(fmt(fsyncMs, 2)) ms (the floor of one commit)")
    let userStart = monotonicNanos()
    let users = (0..<plan.agents).map { ("agent\($0)", "agent") } + [("boss", "supervisor")]
    let (server, tokens) = try await HuddleLauncher(binary: plan.huddled, workParent: plan.workParent, openFiles: openFiles)
        .start(tls: plan.tls, users: users)
    say("   \(server.version), pid \(server.process.pid), \(plan.agents) agents (users made in \(fmt(seconds(since: userStart), 1)) s)")
    let endpoint = server.endpoint
    var channels: [any Channel] = []
    do {
        // Every change must be granted: lift the coverage limits for the bench team.
        let answers = try await runScript(
            endpoint,
            [
                Requests.huddleHello(id: 1, token: tokens["boss"]!),
                Requests.huddlePolicy(id: 2, team: Payload.subject, policy: #"{"min_available":0,"max_on_break":100000}"#),
            ], on: harness.loops[0])
        if answers.count < 2 || !answers[1].hasPrefix(#"{"id":2"#) {
            say("   note: policy.set was refused (\(answers.last ?? "")); breaks may be denied")
        }
        let counters = AgentCounters()
        var handlers: [NIOLoopBound<AgentHandler>] = []
        for index in 0..<plan.agents {
            let loop = harness.loops[index % harness.loops.count]
            let ready = loop.makePromise(of: Void.self)
            let handshake = Handshake(
                wire: .huddle, token: tokens["agent\(index)"]!, join: plan.join, publisher: false, natsTLS: nil,
                hostname: endpoint.hostname)
            let channel = try await connect(endpoint, on: loop) {
                AgentHandler(handshake: handshake, counters: counters, ready: ready)
            }
            channels.append(channel)
            deadline(ready, on: loop, seconds: 30, "agent \(index) setup")
            try await ready.futureResult.get()
            handlers.append(
                try await loop.submit {
                    NIOLoopBound(try channel.pipeline.syncOperations.handler(type: AgentHandler.self), eventLoop: loop)
                }.get())
        }
        for handler in handlers { try await handler.eventLoop.submit { handler.value.start() }.get() }
        try await Task.sleep(for: .seconds(plan.warmup))
        let g0 = counters.granted.load(ordering: .relaxed)
        let r0 = counters.refused.load(ordering: .relaxed)
        let cpu0 = server.process.cpuSeconds()
        let t0 = monotonicNanos()
        try await Task.sleep(for: .seconds(plan.duration))
        let g1 = counters.granted.load(ordering: .relaxed)
        let r1 = counters.refused.load(ordering: .relaxed)
        let cpu1 = server.process.cpuSeconds()
        let elapsed = seconds(since: t0)
        for handler in handlers { try await handler.eventLoop.submit { handler.value.stop() }.get() }
        let rate = Double(g1 - g0) / elapsed
        let serverCPU = ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / elapsed
        // Under steady load the WAL must still start over now and then instead of growing.
        let walKiB = Double(
            ((try? FileManager.default.attributesOfItem(atPath: "\(server.directory)/huddle.sqlite-wal"))?[.size] as? Int) ?? 0)
            / 1024
        var notes: [String] = []
        if r1 > 0 {
            notes.append(
                "\(r1) changes not granted (\(r1 - r0) in the window); first: \(counters.firstRefusal.withLock { $0 } ?? "")")
        }
        say(
            "   \(plan.agents) agents, \(fmt(plan.duration, 0)) s: \(fmtThousands(rate)) committed status changes/s"
                + " (server CPU \(fmt(serverCPU, 2)) cores; WAL \(fmtThousands(walKiB)) KiB at the end)")
        for note in notes { say("     note: \(note)") }
        await closeAll(channels)
        try? await Task.sleep(for: .milliseconds(200))
        await server.stop()
        return Row(
            bench: "durability", system: "huddle", transport: endpoint.transport,
            scenario: plan.join ? "status-changes-joined" : "status-changes", subscribers: plan.agents, rate: nil,
            values: [
                "changes_per_s": rate.rounded(), "server_cpu_cores": (serverCPU * 100).rounded() / 100,
                "fsync_ms": (fsyncMs * 100).rounded() / 100, "load_average": currentLoadAverage(),
                "wal_kib": walKiB.rounded(),
            ], notes: notes.isEmpty ? nil : notes)
    } catch {
        await closeAll(channels)
        say("   server log tail:\n\(server.process.log.suffix(1500))")
        await server.stop()
        throw error
    }
}

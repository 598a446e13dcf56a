import Foundation
import NIOCore
import NIOPosix
import NIOSSL

struct LatencyPoint: Sendable {
    var rate: Double
    var subscribers: Int
}

struct FanoutPlan: Sendable {
    var throughputSubscribers: [Int] = [100, 1000, 5000]
    var latency: [LatencyPoint] = [LatencyPoint(rate: 1000, subscribers: 100), LatencyPoint(rate: 50, subscribers: 1000)]
    var warmup = 1.0
    var measure = 5.0
    var latencyMeasure = 10.0
    var window = 64
    var backlog = 2048
    var systems: [Wire] = Wire.allCases
    var tlsModes: [Bool] = [false, true]
    var clientThreads = 1
    var huddled = "../.build/release/huddled"
    var workParent = "/tmp"
    /// Subscriber sessions are spread over this many Huddle users.
    var huddleUsers = 10
    var connectConcurrency = 128
    /// Alert notices during the fan-out (Huddle only, SPEC §12): after the first full-speed point,
    /// the same point again with an agent taking wellbeing breaks as fast as they are granted, then
    /// with that many webhook targets added, cumulatively. Empty: not measured.
    var noticeTargets: [Int] = []
}

/// Load generator side of one run: the client event loops and their counters.
final class Harness: Sendable {
    let group: MultiThreadedEventLoopGroup
    let loops: [any EventLoop]
    let fleet: Fleet

    init(threads: Int) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        loops = Array(group.makeIterator())
        fleet = Fleet(stats: loops.map { LoopStats(loop: $0) })
    }

    func shutdown() async {
        try? await group.shutdownGracefully()
    }
}

/// Fails `promise` if it is still pending after `seconds`.
func deadline(_ promise: EventLoopPromise<Void>, on loop: any EventLoop, seconds: Int64, _ what: String) {
    loop.scheduleTask(in: .seconds(seconds)) {
        promise.fail(BenchFailure("\(what): no answer within \(seconds) s"))
    }
}

func openSubscriber(
    _ index: Int, endpoint: Endpoint, token: String, harness: Harness, join: Bool = true,
    keepAlive: TimeAmount? = .seconds(10)
) async throws -> any Channel {
    let slot = index % harness.loops.count
    let loop = harness.loops[slot]
    let stats = harness.fleet.stats[slot]
    let ready = loop.makePromise(of: Void.self)
    let handshake = Handshake(
        wire: endpoint.wire, token: token, join: join, publisher: false,
        natsTLS: endpoint.wire == .nats ? endpoint.tls : nil, hostname: endpoint.hostname)
    let channel = try await connect(endpoint, on: loop) {
        SubscriberHandler(handshake: handshake, stats: stats, ready: ready, keepAlive: keepAlive)
    }
    deadline(ready, on: loop, seconds: 60, "subscriber \(index) setup")
    do {
        try await ready.futureResult.get()
    } catch {
        channel.close(promise: nil)
        throw error
    }
    return channel
}

/// Opens `count` connections with at most `concurrency` handshakes at a time.
func openMany(
    count: Int, concurrency: Int, startIndex: Int = 0, _ open: @escaping @Sendable (Int) async throws -> any Channel
) async throws -> [any Channel] {
    try await withThrowingTaskGroup(of: (any Channel).self) { group in
        var opened: [any Channel] = []
        opened.reserveCapacity(count)
        var started = 0
        while started < min(concurrency, count) {
            let index = startIndex + started
            group.addTask { try await open(index) }
            started += 1
        }
        do {
            while let channel = try await group.next() {
                opened.append(channel)
                if started < count {
                    let index = startIndex + started
                    group.addTask { try await open(index) }
                    started += 1
                }
            }
        } catch {
            for channel in opened { channel.close(promise: nil) }
            throw error
        }
        return opened
    }
}

func closeAll(_ channels: [any Channel]) async {
    for channel in channels { channel.close(promise: nil) }
    for channel in channels { try? await channel.closeFuture.get() }
}

/// The publisher and its controls.
struct Publisher: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<PublisherHandler>

    static func open(endpoint: Endpoint, token: String, on loop: any EventLoop) async throws -> Publisher {
        let ready = loop.makePromise(of: Void.self)
        let handshake = Handshake(
            wire: endpoint.wire, token: token, join: false, publisher: true,
            natsTLS: endpoint.wire == .nats ? endpoint.tls : nil, hostname: endpoint.hostname)
        let channel = try await connect(endpoint, on: loop) { PublisherHandler(handshake: handshake, ready: ready) }
        deadline(ready, on: loop, seconds: 30, "publisher setup")
        try await ready.futureResult.get()
        let handler = try await loop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: PublisherHandler.self), eventLoop: loop)
        }.get()
        return Publisher(channel: channel, handler: handler)
    }

    func on<T: Sendable>(_ body: @escaping @Sendable (PublisherHandler) -> T) async throws -> T {
        let handler = self.handler
        return try await channel.eventLoop.submit { body(handler.value) }.get()
    }

    var counts: PublisherHandler.Counts {
        get async throws { try await on { $0.counts } }
    }
}

func seconds(since start: UInt64) -> Double {
    Double(monotonicNanos() - start) / 1e9
}

func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

struct FanoutRunner {
    let plan: FanoutPlan
    let harness: Harness
    let openFiles: Int

    func systemName(_ wire: Wire) -> String {
        switch wire {
        case .huddle: "huddle"
        case .nats: "nats-server"
        case .redis: "redis-server"
        }
    }

    /// Every system × transport in the plan; one server each, started and stopped here.
    func run() async throws -> [Row] {
        var rows: [Row] = []
        for wire in plan.systems {
            for tls in plan.tlsModes {
                let transport = tls ? "tls" : "plaintext"
                say("\n== \(systemName(wire)) (\(transport))")
                let server: RunningServer
                var tokens: [String: String] = [:]
                do {
                    switch wire {
                    case .huddle:
                        var users = (0..<plan.huddleUsers).map { ("sub\($0)", "agent") } + [("pub", "bot")]
                        if !plan.noticeTargets.isEmpty { users.append(("alerter", "agent")) }
                        (server, tokens) = try await HuddleLauncher(
                            binary: plan.huddled, workParent: plan.workParent, openFiles: openFiles
                        ).start(tls: tls, users: users, extraArguments: plan.noticeTargets.isEmpty ? [] : ["--notify-allow-http"])
                    case .nats: server = try await startNATS(tls: tls, workParent: plan.workParent, openFiles: openFiles)
                    case .redis: server = try await startRedis(tls: tls, workParent: plan.workParent, openFiles: openFiles)
                    }
                } catch {
                    say("   could not start: \(error)")
                    rows.append(
                        Row(
                            bench: "fanout", system: systemName(wire), transport: transport, scenario: "unavailable",
                            values: [:], notes: ["\(error)"]))
                    continue
                }
                say("   \(server.version), pid \(server.process.pid), port \(server.endpoint.port)")
                do {
                    let subscriberTokens = (0..<plan.huddleUsers).map { tokens["sub\($0)"] ?? "" }
                    rows += try await scenarios(
                        server: server, system: systemName(wire), subscriberTokens: subscriberTokens,
                        publisherToken: tokens["pub"] ?? "", alerterToken: tokens["alerter"])
                } catch {
                    say("   failed: \(error)")
                    say("   server log tail:\n\(server.process.log.suffix(1500))")
                    rows.append(
                        Row(
                            bench: "fanout", system: systemName(wire), transport: transport, scenario: "failed",
                            values: [:], notes: ["\(error)"]))
                }
                await server.stop()
            }
        }
        return rows
    }

    /// Subscribers are added in ascending counts; at each count the latency points run first
    /// (on an idle server), then the full-speed run.
    private func scenarios(
        server: RunningServer, system: String, subscriberTokens: [String], publisherToken: String, alerterToken: String?
    ) async throws -> [Row] {
        let endpoint = server.endpoint
        let publisher = try await Publisher.open(endpoint: endpoint, token: publisherToken, on: harness.loops[0])
        var subscribers: [any Channel] = []
        var rows: [Row] = []
        defer {
            let all = subscribers + [publisher.channel]
            for channel in all { channel.close(promise: nil) }
        }
        let counts = Set(plan.throughputSubscribers + plan.latency.map(\.subscribers)).sorted()
        for count in counts {
            if subscribers.count < count {
                let start = monotonicNanos()
                let harness = self.harness
                let base = subscribers.count
                subscribers += try await openMany(
                    count: count - base, concurrency: plan.connectConcurrency, startIndex: base
                ) { index in
                    try await openSubscriber(
                        index, endpoint: endpoint,
                        token: subscriberTokens.isEmpty ? "" : subscriberTokens[index % subscriberTokens.count],
                        harness: harness)
                }
                say("   \(count) subscribers connected (\(fmt(seconds(since: start), 1)) s)")
            }
            for point in plan.latency where point.subscribers == count {
                rows.append(
                    try await latency(
                        point, server: server, system: system, publisher: publisher, subscribers: subscribers))
            }
            if plan.throughputSubscribers.contains(count) {
                let alone = try await throughput(server: server, system: system, publisher: publisher, subscribers: subscribers)
                rows.append(alone)
                if let alerterToken, count == plan.throughputSubscribers.first, !plan.noticeTargets.isEmpty {
                    rows += try await notices(
                        server: server, system: system, publisher: publisher, subscribers: subscribers, alone: alone,
                        alerterToken: alerterToken)
                }
            }
        }
        await closeAll(subscribers + [publisher.channel])
        return rows
    }

    /// Waits until every message the publisher got acknowledged has reached every subscriber.
    private func drain(publisher: Publisher, base: Int, sentBase: Int, subscribers: Int, timeout: Double) async throws
        -> (delivered: Int, expected: Int)
    {
        let start = monotonicNanos()
        var expected = 0
        var delivered = 0
        while true {
            let counts = try await publisher.counts
            let good = (counts.sent - sentBase) - counts.errors
            expected = good * subscribers
            delivered = harness.fleet.delivered - base
            if counts.acked == counts.sent && delivered >= expected { break }
            if seconds(since: start) > timeout { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (delivered, expected)
    }

    /// The full-speed point again while an agent takes wellbeing breaks back to back (one alert
    /// each): first with no notify target, then with `plan.noticeTargets` webhook targets on a
    /// sink in this process. Notices/s is what the sink received while the fan-out was measured;
    /// the ratios compare deliveries/s with the point `alone`, from the same run and server.
    private func notices(
        server: RunningServer, system: String, publisher: Publisher, subscribers: [any Channel], alone: Row,
        alerterToken: String
    ) async throws -> [Row] {
        let sink = try await NoticeSink.start(on: harness.group)
        defer { Task { await sink.stop() } }
        let loop = harness.loops[0]
        let counters = AgentCounters()
        let ready = loop.makePromise(of: Void.self)
        let handshake = Handshake(
            wire: .huddle, token: alerterToken, join: false, publisher: false, natsTLS: nil, hostname: server.endpoint.hostname)
        let channel = try await connect(server.endpoint, on: loop) {
            AgentHandler(handshake: handshake, counters: counters, ready: ready, wellbeing: true)
        }
        defer { channel.close(promise: nil) }
        deadline(ready, on: loop, seconds: 30, "alerter setup")
        try await ready.futureResult.get()
        let alerter = try await loop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: AgentHandler.self), eventLoop: loop)
        }.get()
        let base = alone.values["deliveries_per_s"] ?? 0
        var rows: [Row] = []
        var targets = 0
        for wanted in [0] + plan.noticeTargets.sorted() {
            while targets < wanted {
                targets += 1
                _ = try huddle_bench.run(plan.huddled, [
                    "notify", "add", Payload.subject, "--url", "http://127.0.0.1:\(sink.port)/t\(targets)", "--format", "json",
                    "--allow-http", "--data", server.directory,
                ])
            }
            // The sender reads its targets every 2 s.
            if wanted > 0 { try await Task.sleep(for: .seconds(2.5)) }
            try await alerter.eventLoop.submit { alerter.value.start() }.get()
            let g0 = counters.granted.load(ordering: .relaxed)
            var row = try await throughput(
                server: server, system: system, publisher: publisher, subscribers: subscribers,
                sample: { sink.received.load(ordering: .relaxed) })
            try await alerter.eventLoop.submit { alerter.value.stop() }.get()
            let breaks = Double(counters.granted.load(ordering: .relaxed) - g0) / 2
            row.scenario = "throughput_with_alerts_\(wanted)_targets"
            row.values["notify_targets"] = Double(wanted)
            row.values["alerts_total"] = breaks.rounded()
            let rate = row.values["deliveries_per_s"] ?? 0
            row.values["ratio_to_alone"] = base > 0 ? (rate / base * 1000).rounded() / 1000 : 0
            if let withoutTargets = rows.first?.values["deliveries_per_s"], wanted > 0, withoutTargets > 0 {
                row.values["ratio_to_alerts_without_notices"] = (rate / withoutTargets * 1000).rounded() / 1000
            }
            say(
                "     with alerts, \(wanted) notify targets: \(fmtThousands(rate)) deliveries/s (× \(fmt(row.values["ratio_to_alone"] ?? 0, 3)) alone),"
                    + " \(fmtThousands(row.values["notices_per_s"] ?? 0)) notices/s received")
            rows.append(row)
        }
        return rows
    }

    private func throughput(
        server: RunningServer, system: String, publisher: Publisher, subscribers: [any Channel],
        sample: (() -> Int)? = nil
    ) async throws -> Row {
        let fleet = harness.fleet
        let n = subscribers.count
        let base = fleet.delivered
        let before = try await publisher.counts
        let window = plan.window
        let backlog = plan.backlog
        try await publisher.on { $0.startFullSpeed(window: window, backlog: backlog, fleet: fleet, subscribers: n) }
        try await Task.sleep(for: .seconds(plan.warmup))
        try await fleet.resetHistograms()
        let d0 = fleet.delivered
        let a0 = try await publisher.counts
        let cpu0 = server.process.cpuSeconds()
        let own0 = processCPUSeconds()
        let s0 = sample?() ?? 0
        let t0 = monotonicNanos()
        try await Task.sleep(for: .seconds(plan.measure))
        let s1 = sample?() ?? 0
        let d1 = fleet.delivered
        let a1 = try await publisher.counts
        let cpu1 = server.process.cpuSeconds()
        let own1 = processCPUSeconds()
        let elapsed = seconds(since: t0)
        let histogram = try await fleet.histogram()
        try await publisher.on { $0.stop() }
        let (delivered, expected) = try await drain(
            publisher: publisher, base: base, sentBase: before.sent, subscribers: n, timeout: 20)
        let active = subscribers.filter(\.isActive).count
        let rate = Double(d1 - d0) / elapsed
        let messages = Double(a1.acked - a0.acked) / elapsed
        let serverCPU = ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / elapsed
        let benchCPU = (own1 - own0) / elapsed
        var notes: [String] = []
        if a1.errors > before.errors { notes.append("publisher errors: \(a1.errors - before.errors) (\(a1.lastError ?? ""))") }
        if delivered < expected { notes.append("undelivered after 20 s: \(expected - delivered) of \(expected)") }
        if delivered > expected { notes.append("counted \(delivered - expected) deliveries more than were sent") }
        if active < n { notes.append("\(n - active) subscribers were disconnected") }
        say(
            "   full speed, \(lpad(String(n), 4)) subscribers: \(lpad(fmtThousands(rate), 11)) deliveries/s"
                + "  (\(fmtThousands(messages)) msg/s; under load p50 \(ms(histogram.percentile(0.5))) ms,"
                + " p99 \(ms(histogram.percentile(0.99))) ms; server CPU \(fmt(serverCPU, 2)) cores"
                + " = \(fmt(rate > 0 ? serverCPU / rate * 1e6 : 0, 2)) µs/delivery, harness \(fmt(benchCPU, 2)))"
        )
        for note in notes { say("     note: \(note)") }
        var row = Row(
            bench: "fanout", system: system, transport: server.endpoint.transport, scenario: "throughput",
            subscribers: n, rate: nil,
            values: [
                "deliveries_per_s": rate.rounded(), "messages_per_s": messages.rounded(),
                "loaded_p50_ms": msValue(histogram.percentile(0.5)), "loaded_p99_ms": msValue(histogram.percentile(0.99)),
                "server_cpu_cores": (serverCPU * 100).rounded() / 100, "harness_cpu_cores": (benchCPU * 100).rounded() / 100,
                // CPU time the server spent per delivery: steadier than deliveries/s when other
                // work competes for the cores.
                "server_cpu_us_per_delivery": rate > 0 ? (serverCPU / rate * 1e6 * 1000).rounded() / 1000 : 0,
                "delivered_fraction": expected == 0 ? 1 : Double(delivered) / Double(expected),
                "load_average": currentLoadAverage(),
            ], notes: notes.isEmpty ? nil : notes)
        if sample != nil { row.values["notices_per_s"] = (Double(s1 - s0) / elapsed).rounded() }
        return row
    }

    private func latency(
        _ point: LatencyPoint, server: RunningServer, system: String, publisher: Publisher, subscribers: [any Channel]
    ) async throws -> Row {
        let fleet = harness.fleet
        let n = subscribers.count
        let base = fleet.delivered
        let before = try await publisher.counts
        let rate = point.rate
        try await publisher.on { $0.startFixedRate(perSecond: rate) }
        try await Task.sleep(for: .seconds(min(plan.warmup, 1)))
        try await fleet.resetHistograms()
        let cpu0 = server.process.cpuSeconds()
        let t0 = monotonicNanos()
        let d0 = fleet.delivered
        try await Task.sleep(for: .seconds(plan.latencyMeasure))
        let d1 = fleet.delivered
        let elapsed = seconds(since: t0)
        let histogram = try await fleet.histogram()
        let cpu1 = server.process.cpuSeconds()
        try await publisher.on { $0.stop() }
        let after = try await publisher.counts
        let (delivered, expected) = try await drain(
            publisher: publisher, base: base, sentBase: before.sent, subscribers: n, timeout: 20)
        let active = subscribers.filter(\.isActive).count
        var notes: [String] = []
        if after.errors > before.errors {
            notes.append("publisher errors: \(after.errors - before.errors) (\(after.lastError ?? ""))")
        }
        if delivered < expected { notes.append("undelivered after 20 s: \(expected - delivered) of \(expected)") }
        if delivered > expected { notes.append("counted \(delivered - expected) deliveries more than were sent") }
        if active < n { notes.append("\(n - active) subscribers were disconnected") }
        let serverCPU = ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / elapsed
        say(
            "   \(fmtThousands(rate)) msg/s × \(n) subscribers: p50 \(ms(histogram.percentile(0.5))) ms,"
                + " p99 \(ms(histogram.percentile(0.99))) ms, p99.9 \(ms(histogram.percentile(0.999))) ms,"
                + " max \(ms(histogram.maxValue)) ms (\(fmtThousands(Double(histogram.total))) deliveries timed;"
                + " server CPU \(fmt(serverCPU, 2)) cores)")
        for note in notes { say("     note: \(note)") }
        return Row(
            bench: "fanout", system: system, transport: server.endpoint.transport, scenario: "latency",
            subscribers: n, rate: rate,
            values: [
                "p50_ms": msValue(histogram.percentile(0.5)), "p90_ms": msValue(histogram.percentile(0.9)),
                "p99_ms": msValue(histogram.percentile(0.99)), "p999_ms": msValue(histogram.percentile(0.999)),
                "max_ms": msValue(histogram.maxValue), "mean_ms": (histogram.mean / 1e3).rounded() / 1e3,
                "samples": Double(histogram.total), "deliveries_per_s": (Double(d1 - d0) / elapsed).rounded(),
                "server_cpu_cores": (serverCPU * 100).rounded() / 100,
                "delivered_fraction": expected == 0 ? 1 : Double(delivered) / Double(expected),
                "load_average": currentLoadAverage(),
            ], notes: notes.isEmpty ? nil : notes)
    }
}

func ms(_ nanos: UInt64) -> String {
    let value = Double(nanos) / 1e6
    return value < 1 ? fmt(value, 3) : value < 100 ? fmt(value, 2) : fmt(value, 0)
}

func msValue(_ nanos: UInt64) -> Double {
    (Double(nanos) / 1e3).rounded() / 1e3
}

/// Huddle's figure next to each other server's, same transport and scenario.
func fanoutRatios(_ rows: [Row]) -> [Ratio] {
    var ratios: [Ratio] = []
    for row in rows where row.system == "huddle" {
        let figures = row.scenario == "throughput" ? ["deliveries_per_s"] : row.scenario == "latency" ? ["p50_ms", "p99_ms", "p999_ms"] : []
        for other in rows where other.system != "huddle" && other.transport == row.transport
            && other.scenario == row.scenario && other.subscribers == row.subscribers && other.rate == row.rate
        {
            for figure in figures {
                guard let mine = row.values[figure], let theirs = other.values[figure], theirs > 0 else { continue }
                let scenario =
                    row.scenario == "throughput"
                    ? "throughput \(row.subscribers ?? 0) subscribers"
                    : "latency \(fmtThousands(row.rate ?? 0)) msg/s × \(row.subscribers ?? 0)"
                ratios.append(
                    Ratio(
                        figure: figure, transport: row.transport, scenario: scenario, huddle: mine, other: other.system,
                        otherValue: theirs, ratio: (mine / theirs * 1000).rounded() / 1000))
            }
        }
    }
    return ratios
}

func printFanoutTable(_ rows: [Row]) {
    let systems = ["huddle", "nats-server", "redis-server"]
    say("\nFan-out: deliveries/s at full speed (each cell: value; Huddle ÷ other)")
    say(pad("transport", 11) + pad("subscribers", 13) + systems.map { lpad($0, 16) }.joined() + "   huddle/nats  huddle/redis")
    for transport in ["plaintext", "tls"] {
        let counts = Set(rows.filter { $0.scenario == "throughput" && $0.transport == transport }.compactMap(\.subscribers)).sorted()
        for n in counts {
            let value = { (system: String) -> Double? in
                rows.first { $0.system == system && $0.transport == transport && $0.scenario == "throughput" && $0.subscribers == n }?
                    .values["deliveries_per_s"]
            }
            let cells = systems.map { lpad(value($0).map(fmtThousands) ?? "—", 16) }.joined()
            let h = value("huddle")
            let r1 = h.flatMap { h in value("nats-server").map { fmt(h / $0, 2) } } ?? "—"
            let r2 = h.flatMap { h in value("redis-server").map { fmt(h / $0, 2) } } ?? "—"
            say(pad(transport, 11) + pad(String(n), 13) + cells + lpad(r1, 14) + lpad(r2, 14))
        }
    }
    say("\nServer CPU per delivery at full speed, µs (steadier than deliveries/s on a busy machine)")
    say(pad("transport", 11) + pad("subscribers", 13) + systems.map { lpad($0, 16) }.joined())
    for transport in ["plaintext", "tls"] {
        let counts = Set(rows.filter { $0.scenario == "throughput" && $0.transport == transport }.compactMap(\.subscribers)).sorted()
        for n in counts {
            let cells = systems.map { system -> String in
                let row = rows.first {
                    $0.system == system && $0.transport == transport && $0.scenario == "throughput" && $0.subscribers == n
                }
                return lpad(row?.values["server_cpu_us_per_delivery"].map { fmt($0, 2) } ?? "—", 16)
            }.joined()
            say(pad(transport, 11) + pad(String(n), 13) + cells)
        }
    }
    say("\nFan-out latency, send → receipt of every delivery, ms (p50 / p99 / p99.9)")
    say(pad("transport", 11) + pad("load", 18) + systems.map { lpad($0, 24) }.joined())
    for transport in ["plaintext", "tls"] {
        let points = rows.filter { $0.scenario == "latency" && $0.transport == transport && $0.system == "huddle" }
        let keys = Set(rows.filter { $0.scenario == "latency" && $0.transport == transport }.map { "\(Int($0.rate ?? 0))×\($0.subscribers ?? 0)" })
        for key in keys.sorted(by: { $0.count == $1.count ? $0 > $1 : $0.count > $1.count }) {
            _ = points
            let cells = systems.map { system -> String in
                guard
                    let row = rows.first(where: {
                        $0.system == system && $0.transport == transport && $0.scenario == "latency"
                            && "\(Int($0.rate ?? 0))×\($0.subscribers ?? 0)" == key
                    })
                else { return lpad("—", 24) }
                let v = row.values
                return lpad("\(fmt(v["p50_ms"] ?? 0, 2)) / \(fmt(v["p99_ms"] ?? 0, 2)) / \(fmt(v["p999_ms"] ?? 0, 2))", 24)
            }.joined()
            say(pad(transport, 11) + pad(key.replacingOccurrences(of: "×", with: " msg/s × "), 18) + cells)
        }
    }
}

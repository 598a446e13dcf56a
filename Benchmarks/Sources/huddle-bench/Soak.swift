import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

// `huddle-bench soak`: a realistic floor for a long time. Agents change status every few minutes
// and post now and then, a supervisor watches each team (and acknowledges its alerts), a bot per
// team posts a queue report about every 30 s. Every interval: the daemon's memory, the delivery
// latency at the supervisors, events/s and errors. At the end: memory growth after warm-up.

struct SoakPlan: Sendable {
    var minutes = 60.0
    var interval = 60.0
    var teams = 100
    var agentsPerTeam = 20
    var tls = true
    var relaxPolicy = true
    var statusEvery = 60.0...300.0
    var messageEvery = 300.0...1500.0
    var supervisorMessageEvery = 300.0...900.0
    var reportEvery = 30.0
    var signInSpread = 10.0
    var connectConcurrency = 64
    var clientThreads = 1
    var adminParallel = 8
    var seed: UInt64 = 1
    var floorCache: String?
    var huddled = "../.build/release/huddled"
    var workParent = "/tmp"
}

struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A realistic floor for --minutes: memory, delivery latency, events/s and errors every interval.",
        discussion: """
            100 teams of 20 agents by default, each with a supervisor (who watches the team, relaxes the policy at \
            the start unless --keep-policy, and acknowledges alerts) and a bot that posts queue.report about every \
            30 s. Agents sign in over the first 10 s, then change status every 1–5 minutes (available, after-call \
            work, break, lunch, meeting, training, admin; 2 % of breaks after an abusive call) and post a message \
            every 5–25 minutes. Send times ride in notes and texts; latency is measured at the supervisors. \
            Denials by the coverage rules are counted, not errors; any other refusal, gap, duplicate, closed \
            connection or unanswered request is an error.
            """)

    @OptionGroup var common: Common
    @Flag(help: "A short run: 1 minute, figures every 15 s.") var short = false
    @Option(help: "Minutes to run.") var minutes: Double?
    @Option(help: "Seconds between two progress lines (default 60; 15 with --short).") var interval: Double?
    @Option(help: "Teams.") var teams = 100
    @Option(help: "Agents per team.") var agentsPerTeam = 20
    @Flag(help: "Keep the default coverage policy (min_available 2, max_on_break 2): more denials.") var keepPolicy = false
    @Flag(help: "Plaintext instead of TLS.") var plaintext = false
    @Option(help: "`huddled user add` commands at a time while making the floor.") var adminParallel = 8
    @Option(help: "Seed of the random choices.") var seed: UInt64 = 1
    @Option(help: "Keep the floor's database and tokens in this folder and start later runs from a copy (saves the minutes of admin commands).")
    var floorCache: String?

    func run() async throws {
        let openFiles = prepare(common)
        var plan = SoakPlan()
        plan.minutes = minutes ?? (short ? 1 : 60)
        plan.interval = interval ?? (short ? 15 : 60)
        plan.teams = max(1, teams)
        plan.agentsPerTeam = max(1, agentsPerTeam)
        plan.relaxPolicy = !keepPolicy
        plan.tls = !plaintext
        plan.clientThreads = common.clientThreads
        plan.adminParallel = adminParallel
        plan.seed = seed
        plan.floorCache = floorCache
        plan.huddled = common.huddledPath
        plan.workParent = common.workDir
        if (common.runs ?? 1) > 1 { say("   note: soak runs once (--runs ignored)") }
        try await Self.execute(plan, short: short, openFiles: openFiles)
    }

    static func execute(_ plan: SoakPlan, short: Bool, openFiles: Int) async throws {
        let agents = plan.teams * plan.agentsPerTeam
        say(
            "soak: \(fmt(plan.minutes, plan.minutes < 10 ? 1 : 0)) min, \(fmtThousands(Double(agents))) agents in \(plan.teams) teams"
                + " + a supervisor and a queue bot per team, \(plan.tls ? "TLS" : "plaintext");"
                + " policy \(plan.relaxPolicy ? "relaxed by the supervisors (min_available 0, max_on_break 1000)" : "default");"
                + " figures every \(fmt(plan.interval, 0)) s; open-file limit \(openFiles)")
        let row = try await runSoak(plan, openFiles: openFiles)
        printJSONLine(
            Summary(
                bench: "soak", mode: short ? "short" : "full", runs: 1,
                machine: .current(clientThreads: plan.clientThreads), results: [row]))
    }
}

// MARK: The run

func runSoak(_ plan: SoakPlan, openFiles: Int) async throws -> Row {
    let teamNames = (0..<plan.teams).map { "floor-" + lpad(String($0), 3).replacingOccurrences(of: " ", with: "0") }
    var users: [FloorUser] = []
    for (t, team) in teamNames.enumerated() {
        for a in 0..<plan.agentsPerTeam { users.append(FloorUser(name: "t\(t)-a\(a)", role: "agent", teams: [team])) }
        users.append(FloorUser(name: "t\(t)-sup", role: "supervisor", teams: [team]))
        users.append(FloorUser(name: "t\(t)-qbot", role: "bot", teams: [team]))
    }
    let launcher = HuddleLauncher(binary: plan.huddled, workParent: plan.workParent, openFiles: openFiles)
    let arguments = ["--log-level", "notice"]  // the daemon's own limits: one session per user, ordinary rates
    let (server, tokens) = try await launcher.serveFloor(
        teams: teamNames, users: users, parallel: plan.adminParallel, cache: plan.floorCache, tls: plan.tls,
        arguments: arguments)

    let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, plan.clientThreads))
    var shards: [NIOLoopBound<SoakShard>] = []
    do {
        let loops = Array(group.makeIterator())
        var specs = [[SoakSpec]](repeating: [], count: loops.count)
        for t in 0..<plan.teams {
            let slot = t % loops.count
            specs[slot].append(SoakSpec(kind: .supervisor, name: "t\(t)-sup", team: t, token: tokens["t\(t)-sup"]!))
            for a in 0..<plan.agentsPerTeam {
                specs[slot].append(SoakSpec(kind: .agent, name: "t\(t)-a\(a)", team: t, token: tokens["t\(t)-a\(a)"]!))
            }
            specs[slot].append(SoakSpec(kind: .bot, name: "t\(t)-qbot", team: t, token: tokens["t\(t)-qbot"]!))
        }
        for (i, loop) in loops.enumerated() {
            let endpoint = server.endpoint
            let mine = specs[i]
            let seed = plan.seed &* 104_729 &+ UInt64(i)
            shards.append(
                try await loop.submit {
                    NIOLoopBound(
                        SoakShard(loop: loop, endpoint: endpoint, teamNames: teamNames, specs: mine, plan: plan, seed: seed),
                        eventLoop: loop)
                }.get())
        }
        let row = try await soakPhases(plan, server: server, shards: shards)
        for shard in shards { _ = try? await shard.run { $0.finish() } }
        try? await Task.sleep(for: .milliseconds(200))
        await server.stop()
        try? await group.shutdownGracefully()
        return row
    } catch {
        for shard in shards { _ = try? await shard.run { $0.finish() } }
        say("   server log tail:\n\(server.process.log.suffix(1500))")
        await server.stop()
        try? await group.shutdownGracefully()
        throw error
    }
}

private func soakPhases(_ plan: SoakPlan, server: RunningServer, shards: [NIOLoopBound<SoakShard>]) async throws -> Row {
    let clients = plan.teams * (plan.agentsPerTeam + 2)
    // Sign-in: supervisors first (policy, join), then agents and bots, a few handshakes at a time.
    let connectStart = monotonicNanos()
    let perShard = max(1, plan.connectConcurrency / shards.count)
    for shard in shards { try await shard.run { $0.connectAll(limit: perShard) } }
    var ready = SoakSetup()
    while true {
        ready = SoakSetup()
        for shard in shards { ready.add(try await shard.run { $0.setup() }) }
        if ready.ready + ready.failures.count >= clients || seconds(since: connectStart) > 300 { break }
        try await Task.sleep(for: .milliseconds(100))
    }
    guard ready.failures.count == 0, ready.ready == clients else {
        throw BenchFailure("\(clients - ready.ready) clients could not sign in: \(ready.failures.first)")
    }
    say("   signed in \(fmtThousands(Double(clients))) clients in \(fmt(seconds(since: connectStart), 1)) s; running")

    // The floor runs.
    let start = monotonicNanos()
    for shard in shards { try await shard.run { $0.begin(at: start) } }
    let cpuStart = server.process.cpuSeconds()
    let intervals = max(1, Int((plan.minutes * 60 / plan.interval).rounded(.up)))
    var rss: [Int] = []
    var total = SoakCounts()
    var totalHistogram = Histogram()
    say(
        "   " + pad("at", 7) + lpad("VmRSS KiB", 12) + lpad("p50 ms", 9) + lpad("p99 ms", 9) + lpad("max ms", 9)
            + lpad("events/s", 10) + lpad("deliv./s", 10) + lpad("changes", 9) + lpad("denied", 8) + lpad("msgs", 6)
            + lpad("reports", 9) + lpad("alerts", 8) + lpad("errors", 8))
    var lastAt = start
    for k in 1...intervals {
        let due = start + UInt64(Double(k) * plan.interval * 1e9)
        let now = monotonicNanos()
        if due > now { try await Task.sleep(for: .nanoseconds(Int64(due - now))) }
        var counts = SoakCounts()
        var histogram = Histogram()
        for shard in shards {
            let (c, h) = try await shard.run { $0.takeInterval() }
            counts.add(c)
            histogram.merge(h)
        }
        let at = monotonicNanos()
        let elapsed = Double(at - lastAt) / 1e9
        lastAt = at
        let memory = server.process.memory()
        rss.append(memory.rssKiB)
        total.add(counts)
        totalHistogram.merge(histogram)
        let label = plan.interval >= 60 ? "min \(Int((Double(k) * plan.interval / 60).rounded()))" : "\(Int(Double(k) * plan.interval)) s"
        say(
            "   " + pad(label, 7) + lpad(fmtThousands(Double(memory.rssKiB)), 12)
                + lpad(fmt(msValue(histogram.percentile(0.5)), 2), 9) + lpad(fmt(msValue(histogram.percentile(0.99)), 2), 9)
                + lpad(fmt(msValue(histogram.maxValue), 1), 9) + lpad(fmt(Double(counts.supervisorEvents) / elapsed, 1), 10)
                + lpad(fmt(Double(counts.deliveries) / elapsed, 0), 10) + lpad(String(counts.statusSent), 9)
                + lpad(String(counts.denied), 8) + lpad(String(counts.messages), 6) + lpad(String(counts.reports), 9)
                + lpad(String(counts.alerts), 8) + lpad(String(counts.errors.count), 8))
        for text in counts.errors.first { say("       error: \(text)") }
        if !server.process.isRunning { throw BenchFailure("huddled exited:\n\(server.process.log.suffix(2000))") }
    }
    let runSeconds = seconds(since: start)
    let cpuEnd = server.process.cpuSeconds()
    let serverCPU = ((cpuEnd.user + cpuEnd.system) - (cpuStart.user + cpuStart.system)) / runSeconds

    // The end: each bot posts a last message; every agent and supervisor of its team must see it.
    for shard in shards { try await shard.run { $0.stopBehaviour() } }
    try await Task.sleep(for: .seconds(1))
    for shard in shards { try await shard.run { $0.sendFences() } }
    var fences: [Int: Int] = [:]
    let fenceStart = monotonicNanos()
    while fences.count < plan.teams && seconds(since: fenceStart) < 15 {
        fences = [:]
        for shard in shards { fences.merge(try await shard.run { $0.fences }) { a, _ in a } }
        try await Task.sleep(for: .milliseconds(100))
    }
    var fenceList = [Int](repeating: Int.max, count: plan.teams)
    for (team, seq) in fences { fenceList[team] = seq }
    let list = fenceList
    var behind = 0
    while seconds(since: fenceStart) < 30 {
        behind = 0
        for shard in shards { behind += try await shard.run { $0.behind(fences: list) } }
        if behind == 0 { break }
        try await Task.sleep(for: .milliseconds(100))
    }
    var last = SoakCounts()
    for shard in shards {
        let (c, h) = try await shard.run { $0.finalCheck(fences: list) }
        last.add(c)
        totalHistogram.merge(h)
    }
    total.add(last)
    let hwm = server.process.memory().hwmKiB

    // Figures.
    let warm = rss.first ?? 0
    let end = rss.last ?? 0
    let growth = warm > 0 ? Double(end - warm) / Double(warm) * 100 : 0
    let errors = total.errors.count
    let denialText = total.deniedByRule.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    say(
        "   memory: VmRSS \(fmtThousands(Double(warm))) KiB after the first \(fmt(plan.interval, 0)) s (warm-up),"
            + " \(fmtThousands(Double(end))) KiB at the end: \(growth >= 0 ? "+" : "")\(fmt(growth, 1)) % (goal < 10 %);"
            + " peak \(fmtThousands(Double(hwm))) KiB")
    say(
        "   delivery latency at the supervisors (send → receipt, \(fmtThousands(Double(totalHistogram.total))) events):"
            + " p50 \(fmt(msValue(totalHistogram.percentile(0.5)), 2)) ms, p99 \(fmt(msValue(totalHistogram.percentile(0.99)), 2)) ms,"
            + " p99.9 \(fmt(msValue(totalHistogram.percentile(0.999)), 2)) ms, max \(fmt(msValue(totalHistogram.maxValue), 1)) ms")
    say(
        "   \(fmt(runSeconds / 60, 1)) min: \(fmtThousands(Double(total.supervisorEvents))) events"
            + " (\(fmt(Double(total.supervisorEvents) / runSeconds, 1))/s), \(fmtThousands(Double(total.deliveries))) deliveries;"
            + " \(fmtThousands(Double(total.statusSent))) status changes asked: \(fmtThousands(Double(total.granted))) granted,"
            + " \(fmtThousands(Double(total.denied))) denied\(denialText.isEmpty ? "" : " (\(denialText))");"
            + " \(fmtThousands(Double(total.messages))) messages, \(fmtThousands(Double(total.reports))) queue reports,"
            + " \(total.alerts) alerts (\(total.acks) acknowledged by the supervisors), \(total.reminders) reminders")
    say(
        "   errors: \(errors) (goal 0); server \(fmt(serverCPU, 2)) cores on average; the last message of every bot"
            + " reached \(behind == 0 ? "every client" : "all but \(behind) clients")")
    var notes: [String] = []
    for text in total.errors.first {
        say("     error: \(text)")
        notes.append("error: \(text)")
    }
    notes.append("rss_kib per interval: " + rss.map(String.init).joined(separator: ","))

    return Row(
        bench: "soak", system: "huddle", transport: server.endpoint.transport, scenario: "floor",
        subscribers: clients, rate: nil,
        values: [
            "minutes": round2(runSeconds / 60), "agents": Double(plan.teams * plan.agentsPerTeam), "teams": Double(plan.teams),
            "rss_warm_kib": Double(warm), "rss_end_kib": Double(end), "rss_peak_kib": Double(hwm),
            "rss_growth_pct": round2(growth), "errors": Double(errors),
            "p50_ms": round2(msValue(totalHistogram.percentile(0.5))), "p99_ms": round2(msValue(totalHistogram.percentile(0.99))),
            "max_ms": round2(msValue(totalHistogram.maxValue)),
            "events_per_s": round2(Double(total.supervisorEvents) / runSeconds),
            "deliveries_per_s": round2(Double(total.deliveries) / runSeconds),
            "status_changes": Double(total.statusSent), "granted": Double(total.granted), "denied": Double(total.denied),
            "messages": Double(total.messages), "queue_reports": Double(total.reports), "alerts": Double(total.alerts),
            "acks": Double(total.acks), "server_cpu_cores": round2(serverCPU), "load_average": currentLoadAverage(),
        ], notes: notes)
}

// MARK: Counters

struct SoakCounts: Sendable {
    var deliveries = 0
    var supervisorEvents = 0
    var statusSent = 0
    var granted = 0
    var denied = 0
    var deniedByRule: [String: Int] = [:]
    var messages = 0
    var reports = 0
    var alerts = 0
    var acks = 0
    var reminders = 0
    var errors = Samples()

    mutating func add(_ other: SoakCounts) {
        deliveries += other.deliveries
        supervisorEvents += other.supervisorEvents
        statusSent += other.statusSent
        granted += other.granted
        denied += other.denied
        deniedByRule.merge(other.deniedByRule, uniquingKeysWith: +)
        messages += other.messages
        reports += other.reports
        alerts += other.alerts
        acks += other.acks
        reminders += other.reminders
        errors.merge(other.errors)
    }
}

struct SoakSetup: Sendable {
    var ready = 0
    var failures = Samples()

    mutating func add(_ other: SoakSetup) {
        ready += other.ready
        failures.merge(other.failures)
    }
}

struct SoakSpec: Sendable {
    enum Kind: Sendable { case agent, supervisor, bot }
    var kind: Kind
    var name: String
    var team: Int
    var token: String
}

// MARK: One loop's floor

final class SoakShard {
    let loop: any EventLoop
    let endpoint: Endpoint
    let teamNames: [String]
    let plan: SoakPlan
    var rng: SplitMix64
    var clients: [SoakClient] = []
    var current = SoakCounts()
    var histogram = Histogram()
    var setupState = SoakSetup()
    var fences: [Int: Int] = [:]
    private(set) var running = false
    private(set) var finished = false
    private var queue: [SoakClient] = []
    private var queueHead = 0
    private var limit = 1
    private var ticker: Scheduled<Void>?

    init(loop: any EventLoop, endpoint: Endpoint, teamNames: [String], specs: [SoakSpec], plan: SoakPlan, seed: UInt64) {
        self.loop = loop
        self.endpoint = endpoint
        self.teamNames = teamNames
        self.plan = plan
        rng = SplitMix64(seed: seed)
        clients = specs.map { spec -> SoakClient in
            switch spec.kind {
            case .agent: return SoakAgent(shard: self, spec: spec)
            case .supervisor: return SoakSupervisor(shard: self, spec: spec)
            case .bot: return SoakBot(shard: self, spec: spec)
            }
        }
        tick()
    }

    func random(_ range: ClosedRange<Double>) -> Double { Double.random(in: range, using: &rng) }
    func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

    /// Every 100 ms: each client does what is due (and pings when it has been quiet for 10 s).
    private func tick() {
        guard !finished else { return }
        let now = monotonicNanos()
        for client in clients where client.state == .live { client.tick(now) }
        ticker = loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { [self] in tick() }
    }

    func connectAll(limit: Int) {
        // Supervisors come first in each team's slice; open them before anyone else.
        queue = clients.filter { $0 is SoakSupervisor } + clients.filter { !($0 is SoakSupervisor) }
        queueHead = 0
        self.limit = limit
        for _ in 0..<min(limit, queue.count) { openNext() }
    }

    private func openNext() {
        guard queueHead < queue.count else { return }
        let client = queue[queueHead]
        queueHead += 1
        client.open()
    }

    func ready(_ client: SoakClient) {
        setupState.ready += 1
        openNext()
    }

    func setupFailed(_ client: SoakClient, _ why: String) {
        setupState.failures.add("\(client.name): \(why)")
        openNext()
    }

    func setup() -> SoakSetup { setupState }

    func begin(at start: UInt64) {
        running = true
        for client in clients { client.begin(start) }
    }

    func stopBehaviour() { running = false }

    func error(_ client: SoakClient, _ why: String) {
        current.errors.add("\(client.name): \(why)")
    }

    func takeInterval() -> (SoakCounts, Histogram) {
        defer {
            current = SoakCounts()
            histogram = Histogram()
        }
        return (current, histogram)
    }

    func sendFences() {
        for case let bot as SoakBot in clients { bot.sendFence() }
    }

    func behind(fences: [Int]) -> Int {
        clients.reduce(0) { $0 + ($1.state == .live && $1.joined && $1.lastSeq < fences[$1.team] ? 1 : 0) }
    }

    func finalCheck(fences: [Int]) -> (SoakCounts, Histogram) {
        for client in clients where client.joined {
            if client.state != .live {
                continue  // already counted when it was lost
            }
            if client.lastSeq < fences[client.team] {
                error(client, "stream stopped at seq \(client.lastSeq); the bot's last message is seq \(fences[client.team])")
            }
        }
        return takeInterval()
    }

    func finish() {
        finished = true
        running = false
        ticker?.cancel()
        for client in clients { client.finish() }
    }
}

// MARK: Clients

enum SoakRequest {
    case status(String)
    case message
    case report
    case ack(Int)
    case policy
    case join
}

/// The common part: sign-in, the streams seq by seq, one request in flight, pings.
class SoakClient: FloorPeer {
    enum State { case idle, connecting, setup, live, finished, lost }

    unowned let shard: SoakShard
    let name: String
    let team: Int
    let token: String
    var state = State.idle
    private var connection: FloorConnection?
    var joined = false
    var lastSeq = 0
    var lastSupervisorsSeq: Int?
    var pending: (id: Int, request: SoakRequest, sentAt: UInt64)?
    var lastSent: UInt64 = 0
    private var requestID = 10
    private var pingID = 1_000_000

    init(shard: SoakShard, spec: SoakSpec) {
        self.shard = shard
        name = spec.name
        team = spec.team
        token = spec.token
    }

    var teamName: String { shard.teamNames[team] }

    func open() {
        state = .connecting
        let peer = NIOLoopBound<any FloorPeer>(self, eventLoop: shard.loop)
        openFloorConnection(shard.endpoint, on: shard.loop, peer: peer).assumeIsolated().whenFailure { [self] error in
            state = .lost
            shard.setupFailed(self, "connect: \(error)")
        }
    }

    func send(_ text: String) {
        connection?.send(text)
        lastSent = monotonicNanos()
    }

    /// Sends a request that waits for its answer (one at a time).
    func request(_ request: SoakRequest, _ build: (Int) -> String) {
        requestID += 1
        pending = (requestID, request, monotonicNanos())
        send(build(requestID))
    }

    func finish() {
        state = .finished
        connection?.kill()
        connection = nil
    }

    // Overridden by the roles.
    func afterHello() { join() }
    func begin(_ start: UInt64) {}
    func onEvent(_ line: Line, supervisors: Bool) {}
    func answered(_ request: SoakRequest, ok: Bool, _ line: Line, sentAt: UInt64) {
        if !ok { shard.error(self, "\(request): \(line.text)") }
    }
    func due(_ now: UInt64) {}

    func join() {
        request(.join) { FloorRequests.join(id: $0, team: teamName) }
    }

    func ready() {
        state = .live
        shard.ready(self)
    }

    func tick(_ now: UInt64) {
        if let pending, elapsedNanos(pending.sentAt, now) > 30_000_000_000 {
            shard.error(self, "no answer within 30 s to \(pending.request)")
            self.pending = nil
        }
        if shard.running { due(now) }
        if elapsedNanos(lastSent, monotonicNanos()) > 10_000_000_000 {
            pingID += 1
            send(Requests.huddlePing(id: pingID))
        }
    }

    // FloorPeer

    func floorActive(_ connection: FloorConnection) {
        self.connection = connection
        state = .setup
        send(Requests.huddleHello(id: 1, token: token))
    }

    func floorTLSReady(_ connection: FloorConnection) {}

    func floorInactive(_ connection: FloorConnection) {
        guard connection === self.connection else { return }
        self.connection = nil
        switch state {
        case .connecting, .setup:
            state = .lost
            shard.setupFailed(self, "the connection closed during sign-in")
        case .live:
            state = .lost
            shard.error(self, "the server closed the connection")
        default:
            break
        }
    }

    func floorLine(_ line: Line, _ connection: FloorConnection) {
        if line.hasPrefix(Wire1.eventPrefix) {
            event(line)
            return
        }
        let ok = line.hasPrefix(Wire1.resultPrefix)
        if ok || line.hasPrefix(Wire1.errorPrefix) {
            response(line.responseID, ok: ok, line)
        } else if line.hasPrefix(Wire1.closingPrefix) {
            shard.error(self, "session.closing \(line.string(after: Wire1.reason) ?? "?")")
        } else if line.hasPrefix(Wire1.reminderPrefix) {
            shard.current.reminders += 1
        }
    }

    private func event(_ line: Line) {
        guard joined, let seq = line.int(after: Wire1.seq) else { return }
        let supervisors = line.contains(Wire1.streamSupervisors)
        let last = supervisors ? (lastSupervisorsSeq ?? 0) : lastSeq
        if seq != last + 1 {
            shard.error(
                self,
                seq <= last
                    ? "duplicate on the \(supervisors ? "supervisors" : "team") stream: seq \(seq) after \(last)"
                    : "gap on the \(supervisors ? "supervisors" : "team") stream: seq \(seq) after \(last)")
        }
        if supervisors {
            lastSupervisorsSeq = max(last, seq)
        } else {
            lastSeq = max(last, seq)
        }
        shard.current.deliveries += 1
        onEvent(line, supervisors: supervisors)
    }

    private func response(_ id: Int?, ok: Bool, _ line: Line) {
        if id == 1 {
            guard state == .setup else { return }
            guard ok else {
                state = .lost
                shard.setupFailed(self, "session.hello refused: \(line.text)")
                return
            }
            afterHello()
            return
        }
        if let id, id >= 1_000_000 { return }  // ping
        guard let pending, pending.id == id else {
            shard.error(self, "an answer nobody waited for: \(line.text.prefix(200))")
            return
        }
        self.pending = nil
        if case .join = pending.request {
            guard ok else {
                state = .lost
                shard.setupFailed(self, "team.join refused: \(line.text)")
                return
            }
            joined = true
            lastSeq = line.int(after: Wire1.seq) ?? 0
            lastSupervisorsSeq = line.int(after: Wire1.supervisorsSeq)
            ready()
            return
        }
        if case .policy = pending.request, state == .setup {
            guard ok else {
                state = .lost
                shard.setupFailed(self, "policy.set refused: \(line.text)")
                return
            }
            join()
            return
        }
        answered(pending.request, ok: ok, line, sentAt: pending.sentAt)
    }
}

final class SoakAgent: SoakClient {
    private var status = "offline"
    private var nextStatusAt: UInt64 = .max
    private var nextMessageAt: UInt64 = .max
    private var signedIn = false

    static let away: [(String, Int)] = [
        ("after_call_work", 40), ("break", 20), ("lunch", 6), ("meeting", 10), ("training", 6), ("admin", 18),
    ]

    override func begin(_ start: UInt64) {
        nextStatusAt = start + UInt64(shard.random(0...shard.plan.signInSpread) * 1e9)
        nextMessageAt = start + UInt64(shard.random(0...shard.plan.messageEvery.upperBound) * 1e9)
    }

    override func due(_ now: UInt64) {
        guard pending == nil else { return }
        if now >= nextStatusAt {
            // After the sign-in, the first change comes anywhere in the usual interval (agents of a
            // real floor are not in step); then every 1–5 minutes.
            let every = signedIn ? shard.random(shard.plan.statusEvery) : shard.random(1...shard.plan.statusEvery.upperBound)
            nextStatusAt = now + UInt64(every * 1e9)
            changeStatus()
        } else if now >= nextMessageAt {
            nextMessageAt = now + UInt64(shard.random(shard.plan.messageEvery) * 1e9)
            let text = sendTimeMarker(monotonicNanos()) + " anyone got the script for the new billing queue?"
            request(.message) { FloorRequests.message(id: $0, team: teamName, text: text) }
        }
    }

    private func changeStatus() {
        var next = "available"
        if signedIn && (status == "available" || !shard.chance(0.6)) {
            let total = Self.away.reduce(0) { $0 + $1.1 }
            var pick = Int(shard.random(0...Double(total - 1)))
            for (name, weight) in Self.away {
                if pick < weight {
                    next = name
                    break
                }
                pick -= weight
            }
        }
        signedIn = true
        let abusive = next == "break" && shard.chance(0.02)
        let note = sendTimeMarker(monotonicNanos()) + (abusive ? " need a minute" : " back soon")
        shard.current.statusSent += 1
        request(.status(next)) {
            FloorRequests.status(id: $0, status: next, note: note, reason: abusive ? "abusive_call" : nil)
        }
    }

    override func answered(_ request: SoakRequest, ok: Bool, _ line: Line, sentAt: UInt64) {
        switch request {
        case .status(let wanted):
            if ok && line.contains(Wire1.granted) {
                shard.current.granted += 1
                status = wanted
            } else if ok {
                shard.error(self, "status.set \(wanted) not granted: \(line.text)")
            } else if line.errorCode == -32010 {
                denied(line)
            } else {
                shard.error(self, "status.set \(wanted): \(line.text)")
            }
        case .message:
            if ok { shard.current.messages += 1 } else { shard.error(self, "message.send: \(line.text)") }
        default:
            super.answered(request, ok: ok, line, sentAt: sentAt)
        }
    }

    private func denied(_ line: Line) {
        shard.current.denied += 1
        shard.current.deniedByRule[line.string(after: Wire1.rule) ?? "?", default: 0] += 1
    }
}

final class SoakSupervisor: SoakClient {
    private var acks: [(alert: Int, at: UInt64)] = []
    private var nextMessageAt: UInt64 = .max

    /// Alerts a supervisor acknowledges; the queue alerts are closed by the system.
    static let ackable: Set<String> = ["wellbeing_break", "escalation", "coverage_breach", "overdue_status", "ghost_session"]

    override func afterHello() {
        guard shard.plan.relaxPolicy else {
            join()
            return
        }
        request(.policy) {
            FloorRequests.policy(
                id: $0, team: teamName, policy: #"{"min_available":0,"max_on_break":1000}"#,
                comment: "soak: a quiet evening, breaks for everyone")
        }
    }

    override func begin(_ start: UInt64) {
        nextMessageAt = start + UInt64(shard.random(shard.plan.supervisorMessageEvery) * 1e9)
    }

    override func onEvent(_ line: Line, supervisors: Bool) {
        shard.current.supervisorEvents += 1
        if let sentAt = line.embeddedSendTime {
            let now = monotonicNanos()
            shard.histogram.record(now > sentAt ? now - sentAt : 0)
        }
        if supervisors, line.contains(Wire1.alertType) {
            shard.current.alerts += 1
            if let kind = line.string(after: Wire1.kind), Self.ackable.contains(kind), let alert = line.int(after: Wire1.alert) {
                acks.append((alert, monotonicNanos() + UInt64(shard.random(2...10) * 1e9)))
            }
        }
    }

    override func due(_ now: UInt64) {
        guard pending == nil else { return }
        if let first = acks.first, now >= first.at {
            acks.removeFirst()
            request(.ack(first.alert)) { FloorRequests.ack(id: $0, alert: first.alert, note: "on my way") }
        } else if now >= nextMessageAt {
            nextMessageAt = now + UInt64(shard.random(shard.plan.supervisorMessageEvery) * 1e9)
            let text = sendTimeMarker(monotonicNanos()) + " reminder: team huddle at the top of the hour"
            request(.message) { FloorRequests.message(id: $0, team: teamName, text: text) }
        }
    }

    override func answered(_ request: SoakRequest, ok: Bool, _ line: Line, sentAt: UInt64) {
        switch request {
        case .ack(let alert):
            if ok { shard.current.acks += 1 } else { shard.error(self, "alert.ack \(alert): \(line.text)") }
        case .message:
            if ok { shard.current.messages += 1 } else { shard.error(self, "message.send: \(line.text)") }
        default:
            super.answered(request, ok: ok, line, sentAt: sentAt)
        }
    }
}

final class SoakBot: SoakClient {
    private var nextReportAt: UInt64 = .max

    /// Bots only post; they do not join (they are not on the floor).
    override func afterHello() { ready() }

    override func begin(_ start: UInt64) {
        nextReportAt = start + UInt64(shard.random(0...shard.plan.reportEvery) * 1e9)
    }

    override func due(_ now: UInt64) {
        guard pending == nil, now >= nextReportAt else { return }
        let every = shard.plan.reportEvery
        nextReportAt = now + UInt64(shard.random((every * 0.9)...(every * 1.1)) * 1e9)
        // Mostly a calm queue; one report in twenty is a spike that puts the queue under pressure
        // (breaks and lunches refused until the next calm report).
        let spike = shard.chance(0.05)
        let waiting = spike ? Int(shard.random(10...16)) : Int(shard.random(0...6))
        let oldest = spike ? Int(shard.random(120...400)) : Int(shard.random(5...150))
        let perHour = Int(shard.random(60...240))
        let aht = Int(shard.random(180...420))
        let note = sendTimeMarker(monotonicNanos())
        request(.report) {
            FloorRequests.queueReport(
                id: $0, team: teamName, callsWaiting: waiting, oldestWait: oldest, callsPerHour: perHour, aht: aht, note: note)
        }
    }

    func sendFence() {
        guard state == .live else { return }
        send(FloorRequests.message(id: 999_999, team: teamName, text: "soak: end of the shift"))
    }

    override func answered(_ request: SoakRequest, ok: Bool, _ line: Line, sentAt: UInt64) {
        if case .report = request {
            if ok { shard.current.reports += 1 } else { shard.error(self, "queue.report: \(line.text)") }
        } else {
            super.answered(request, ok: ok, line, sentAt: sentAt)
        }
    }

    override func floorLine(_ line: Line, _ connection: FloorConnection) {
        if line.responseID == 999_999 && line.hasPrefix(Wire1.resultPrefix) || (line.hasPrefix(Wire1.errorPrefix) && line.responseID == 999_999) {
            shard.fences[team] = line.hasPrefix(Wire1.resultPrefix) ? (line.int(after: Wire1.seq) ?? 0) : 0
            if !line.hasPrefix(Wire1.resultPrefix) { shard.error(self, "last message refused: \(line.text)") }
            return
        }
        super.floorLine(line, connection)
    }
}

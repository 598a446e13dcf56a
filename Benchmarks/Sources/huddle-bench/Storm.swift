import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

// `huddle-bench storm`: every client of a floor loses its connection at the same moment (a
// switch reboots, a VPN concentrator fails over), events keep coming while they are away, and
// they all come back at once, each asking for what it missed with `team.join since`.

struct StormPlan: Sendable {
    var clients = 10_000
    var teams = 100
    var sessionsPerUser = 1
    var tls = true
    var traffic = 3.0
    var away = 2.0
    var live = 2.0
    var botRate = 2.0
    var connectConcurrency = 128
    var reconnectConcurrency = 0
    var spread = 0.0
    var available = true
    var catchUpTimeout = 60.0
    var clientThreads = 2
    var adminParallel = 8
    var seed: UInt64 = 1
    var floorCache: String?
    var huddled = "../.build/release/huddled"
    var workParent = "/tmp"

    var usersPerTeam: Int {
        let perTeam = (clients + teams - 1) / teams
        return max(1, (perTeam + sessionsPerUser - 1) / sessionsPerUser)
    }
}

struct Storm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reconnect storm: drop every TLS client at once, reconnect all with team.join since, verify the replay.",
        discussion: """
            Agents are spread over --teams (100 teams of 100 agents by default, one session each); one bot per \
            team posts messages all along. After --traffic s of status changes and messages every connection is \
            reset (TCP RST) at once; --away s later all reconnect at once and join with since {epoch, seq} of the \
            last event they saw. Every client must get recovered: true, the missed events before the join's \
            result with no gap and no duplicate, and then the live stream up to a final message of each bot.
            """)

    @OptionGroup var common: Common
    @Flag(help: "A short run: 1,000 clients in 10 teams.") var short = false
    @Option(help: "Clients (connections) in all.") var clients: Int?
    @Option(help: "Teams the clients are spread over.") var teams: Int?
    @Option(help: "Sessions per agent user (above 8 raises --max-sessions-per-user to it).") var sessionsPerUser = 1
    @Flag(help: "Plaintext instead of TLS (to see what TLS costs).") var plaintext = false
    @Option(help: "Seconds of status changes and messages before the drop.") var traffic = 3.0
    @Option(help: "Seconds between the drop and the reconnect (keep it under presence_grace_s, 10).") var away = 2.0
    @Option(help: "Seconds of live traffic after everyone caught up, before the final check.") var live = 2.0
    @Option(help: "Messages per second each team's bot posts, all along.") var botRate = 2.0
    @Option(help: "Handshakes at a time for the initial connections.") var connectConcurrency = 128
    @Option(help: "Reconnects at a time (0: all at once).") var reconnectConcurrency = 0
    @Option(help: "Spread the reconnects uniformly over this many seconds (0: all at the same moment).") var spread = 0.0
    @Flag(help: "Agents stay offline (only messages flow): drops and reconnects then change no coverage figures.")
    var offlineAgents = false
    @Option(help: "Seconds the reconnect may take before the clients still behind count as failures.")
    var catchUpTimeout = 60.0
    @Option(help: "`huddled user add` commands at a time while making the floor.") var adminParallel = 8
    @Option(help: "Seed of the random choices.") var seed: UInt64 = 1
    @Option(help: "Keep the floor's database and tokens in this folder and start later runs from a copy (saves the minutes of admin commands).")
    var floorCache: String?

    func run() async throws {
        let openFiles = prepare(common)
        var plan = StormPlan()
        plan.clients = clients ?? (short ? 1000 : 10_000)
        plan.teams = teams ?? (short ? 10 : 100)
        plan.sessionsPerUser = max(1, sessionsPerUser)
        plan.tls = !plaintext
        plan.traffic = traffic
        plan.away = away
        plan.live = live
        plan.botRate = botRate
        plan.connectConcurrency = connectConcurrency
        plan.reconnectConcurrency = reconnectConcurrency
        plan.spread = spread
        plan.available = !offlineAgents
        plan.catchUpTimeout = catchUpTimeout
        plan.clientThreads = max(common.clientThreads, 2)
        plan.adminParallel = adminParallel
        plan.seed = seed
        plan.floorCache = floorCache
        plan.huddled = common.huddledPath
        plan.workParent = common.workDir
        try await Self.execute(plan, runs: common.runs ?? 1, short: short, openFiles: openFiles)
    }

    static func execute(_ plan: StormPlan, runs: Int, short: Bool, openFiles: Int) async throws {
        var plan = plan
        let needed = plan.clients + plan.teams + 200
        if openFiles < needed {
            say("   note: open-file limit \(openFiles) allows only \(openFiles - plan.teams - 200) clients here")
            plan.clients = max(100, openFiles - plan.teams - 200)
        }
        say(
            "storm: \(fmtThousands(Double(plan.clients))) \(plan.tls ? "TLS" : "plaintext") clients in \(plan.teams) teams"
                + " (\(plan.usersPerTeam) agents per team, \(plan.sessionsPerUser) session(s) each), a bot per team posting"
                + " \(fmt(plan.botRate, 1)) msg/s; agents \(plan.available ? "available" : "offline") before the drop; traffic \(fmt(plan.traffic, 1)) s, away \(fmt(plan.away, 1)) s;"
                + " \(plan.clientThreads) client threads; open-file limit \(openFiles); \(runs) run(s)")
        var all: [[Row]] = []
        for index in 0..<runs {
            if runs > 1 { say("### storm run \(index + 1) of \(runs)") }
            var runPlan = plan
            runPlan.seed = plan.seed &+ UInt64(index)
            all.append([try await runStorm(runPlan, openFiles: openFiles)])
        }
        let results = medians(all)
        if runs > 1, let row = results.first {
            say(
                "   median: last client caught up after \(fmt(row.values["caught_up_s"] ?? 0, 2)) s,"
                    + " \(fmtThousands(row.values["handshakes_per_s"] ?? 0)) handshakes/s, \(Int(row.values["failures"] ?? 0)) failures")
        }
        printJSONLine(
            Summary(
                bench: "storm", mode: short ? "short" : "full", runs: runs,
                machine: .current(clientThreads: plan.clientThreads), results: results))
    }
}

// MARK: The run

func runStorm(_ plan: StormPlan, openFiles: Int) async throws -> Row {
    let teamNames = (0..<plan.teams).map { "floor-" + lpad(String($0), 3).replacingOccurrences(of: " ", with: "0") }
    let perTeam = plan.usersPerTeam
    var users: [FloorUser] = []
    for (t, team) in teamNames.enumerated() {
        for a in 0..<perTeam { users.append(FloorUser(name: agentName(t, a), role: "agent", teams: [team])) }
        users.append(FloorUser(name: "t\(t)-bot", role: "bot", teams: [team]))
    }
    let launcher = HuddleLauncher(binary: plan.huddled, workParent: plan.workParent, openFiles: openFiles)
    // Only what the scenario needs: more sessions per user when one user holds more than 8.
    var arguments = ["--log-level", "notice"]
    if plan.sessionsPerUser > 8 { arguments += ["--max-sessions-per-user", "\(plan.sessionsPerUser)"] }
    let (server, tokens) = try await launcher.serveFloor(
        teams: teamNames, users: users, parallel: plan.adminParallel, cache: plan.floorCache, tls: plan.tls,
        arguments: arguments)

    let group = MultiThreadedEventLoopGroup(numberOfThreads: plan.clientThreads)
    var shards: [NIOLoopBound<StormShard>] = []
    do {
        let loops = Array(group.makeIterator())
        var specs = [[StormClientSpec]](repeating: [], count: loops.count)
        for c in 0..<plan.clients {
            let team = c % plan.teams
            let slot = c / plan.teams
            let user = slot % perTeam
            specs[c % loops.count].append(
                StormClientSpec(
                    index: c, team: team, token: tokens[agentName(team, user)]!, setsStatus: slot < perTeam))
        }
        var botSpecs = [[StormBotSpec]](repeating: [], count: loops.count)
        for t in 0..<plan.teams { botSpecs[t % loops.count].append(StormBotSpec(team: t, token: tokens["t\(t)-bot"]!)) }
        for (i, loop) in loops.enumerated() {
            let endpoint = server.endpoint
            let clientSpecs = specs[i]
            let bots = botSpecs[i]
            let seed = plan.seed &* 7919 &+ UInt64(i)
            shards.append(
                try await loop.submit {
                    NIOLoopBound(
                        StormShard(
                            loop: loop, endpoint: endpoint, teamNames: teamNames, clients: clientSpecs, bots: bots,
                            seed: seed, botRate: plan.botRate), eventLoop: loop)
                }.get())
        }
        let row = try await stormPhases(plan, server: server, shards: shards)
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

private func agentName(_ team: Int, _ agent: Int) -> String { "t\(team)-a\(agent)" }

private func gather(_ shards: [NIOLoopBound<StormShard>]) async throws -> StormProgress {
    var total = StormProgress()
    for shard in shards { total.add(try await shard.run { $0.progress() }) }
    return total
}

/// Polls until `done` holds or `timeout` passes; returns the last progress.
private func waitFor(
    _ shards: [NIOLoopBound<StormShard>], timeout: Double, every: Double = 0.1,
    report: ((StormProgress, Double) -> Void)? = nil, _ done: (StormProgress) -> Bool
) async throws -> StormProgress {
    let start = monotonicNanos()
    var lastReport = 0.0
    while true {
        let progress = try await gather(shards)
        let elapsed = seconds(since: start)
        if done(progress) || elapsed > timeout { return progress }
        if let report, elapsed - lastReport >= 1 {
            lastReport = elapsed.rounded(.down)
            report(progress, elapsed)
        }
        try await Task.sleep(for: .milliseconds(Int(every * 1000)))
    }
}

private func stormPhases(_ plan: StormPlan, server: RunningServer, shards: [NIOLoopBound<StormShard>]) async throws -> Row {
    let n = plan.clients
    // 1. The bots: they stay connected all along, post, and watch the team streams.
    for shard in shards { try await shard.run { $0.startBots() } }
    var progress = try await waitFor(shards, timeout: 30) { $0.botsLive + $0.botFailures.count >= plan.teams }
    guard progress.botFailures.count == 0, progress.botsLive == plan.teams else {
        throw BenchFailure("bots did not come up: \(progress.botFailures.first)")
    }

    // 2. Everyone signs in and joins, `connectConcurrency` handshakes at a time.
    let connectStart = monotonicNanos()
    let connectCPU = server.process.cpuSeconds()
    let connectHarnessCPU = processCPUSeconds()
    let perShard = max(1, plan.connectConcurrency / shards.count)
    for shard in shards { try await shard.run { $0.connectAll(limit: perShard) } }
    progress = try await waitFor(shards, timeout: 300) { $0.joined + $0.failures.count >= n }
    let connectTime = seconds(since: connectStart)
    guard progress.failures.count == 0, progress.joined == n else {
        throw BenchFailure("\(n - progress.joined) clients could not sign in and join: \(progress.failures.first)")
    }
    let connectCPU1 = server.process.cpuSeconds()
    say(
        "   connected and joined \(fmtThousands(Double(n))) clients in \(fmt(connectTime, 1)) s"
            + " (\(fmtThousands(Double(n) / connectTime))/s, \(plan.connectConcurrency) at a time; server"
            + " \(fmt((connectCPU1.user + connectCPU1.system - connectCPU.user - connectCPU.system) / connectTime, 2)) cores,"
            + " harness \(fmt((processCPUSeconds() - connectHarnessCPU) / connectTime, 2)) cores)")

    // 3. Traffic: agents become available, some go to after-call work and back, some post.
    let available = plan.available
    for shard in shards { try await shard.run { $0.startTraffic(seconds: plan.traffic, available: available) } }
    try await Task.sleep(for: .seconds(plan.traffic))
    progress = try await waitFor(shards, timeout: 30) { $0.outstanding == 0 }
    say(
        "   traffic for \(fmt(plan.traffic, 1)) s: \(fmtThousands(Double(progress.sent))) requests answered"
            + " (\(progress.requestErrors.count) errors), \(fmtThousands(Double(progress.eventsSeen))) events delivered so far")
    if progress.outstanding > 0 { say("   note: \(progress.outstanding) requests still unanswered at the drop") }

    // 4. The drop: every client connection is reset at the same moment; the bots keep posting.
    let rssBefore = server.process.memory().rssKiB
    var dropped = 0
    for shard in shards { dropped += try await shard.run { $0.drop() } }
    let droppedAt = monotonicNanos()
    say("   dropped \(fmtThousands(Double(dropped))) connections at once (TCP RST); \(fmt(plan.away, 1)) s away")
    try await Task.sleep(for: .milliseconds(Int(plan.away * 1000)))

    // 5. The storm: every client reconnects at once and joins with since.
    let cpu0 = server.process.cpuSeconds()
    let harness0 = processCPUSeconds()
    let machine0 = machineCPUTicks()
    let t0 = monotonicNanos()
    let reconnectLimit = plan.reconnectConcurrency > 0 ? max(1, plan.reconnectConcurrency / shards.count) : 0
    let spread = plan.spread
    for shard in shards { try await shard.run { $0.reconnectAll(t0: t0, limit: reconnectLimit, spread: spread) } }
    progress = try await waitFor(
        shards, timeout: plan.catchUpTimeout,
        report: { p, elapsed in
            say(
                "     \(fmt(elapsed, 0)) s: \(fmtThousands(Double(p.tlsDone))) handshakes, \(fmtThousands(Double(p.caughtUp))) caught up"
                    + (p.failures.count > 0 ? ", \(p.failures.count) failed" : "") + (p.retries.count > 0 ? ", \(p.retries.count) retries" : ""))
        }
    ) { $0.caughtUp + $0.failures.count >= n }
    let storm = seconds(since: t0)
    let cpu1 = server.process.cpuSeconds()
    let serverCPU = ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / max(storm, 0.001)
    let harnessCPU = (processCPUSeconds() - harness0) / max(storm, 0.001)
    let machine1 = machineCPUTicks()
    let machineBusy = machine1.total > machine0.total ? (machine1.busy - machine0.busy) / (machine1.total - machine0.total) : 0
    let rssAfter = server.process.memory()

    // 6. Live traffic continues; then each bot's last message must reach every client of its team.
    try await Task.sleep(for: .milliseconds(Int(plan.live * 1000)))
    for shard in shards { try await shard.run { $0.sendFences() } }
    progress = try await waitFor(shards, timeout: 15) { $0.fences.count >= plan.teams }
    var fences = [Int](repeating: Int.max, count: plan.teams)
    for (team, seq) in progress.fences { fences[team] = seq }
    let fenceList = fences
    try await waitForFences(shards, timeout: 15, fences: fenceList)
    var results = StormResults()
    for shard in shards { results.add(try await shard.run { $0.results(fences: fenceList) }) }
    let away = Double(t0 - droppedAt) / 1e9
    // What the storm leaves behind: the daemon hands free memory back every 10 s
    // (`Allocator.returnFreeMemory`), so read VmRSS again once 11 s have passed since the catch-up.
    let sinceCatchUp = seconds(since: t0) - storm
    if sinceCatchUp < 11 { try await Task.sleep(for: .milliseconds(Int((11 - sinceCatchUp) * 1000))) }
    let rssSettled = server.process.memory().rssKiB

    // Figures.
    let failures = results.failures.count
    let caught = results.caughtUp
    let lastCaught = msValue(results.caughtUpTimes.maxValue) / 1000
    let tlsSpan = msValue(results.tlsMax) / 1000
    let handshakesPerS = tlsSpan > 0 ? Double(results.handshakes) / tlsSpan : 0
    let p50 = msValue(results.caughtUpTimes.percentile(0.5))
    let p99 = msValue(results.caughtUpTimes.percentile(0.99))
    say(
        "   reconnect: \(fmtThousands(Double(caught))) of \(fmtThousands(Double(n))) caught up; the last after \(fmt(lastCaught, 2)) s"
            + " (goal < 10 s); \(fmtThousands(handshakesPerS)) handshakes/s (the last done at \(fmt(tlsSpan, 2)) s)")
    say(
        "   time to caught up per client: p50 \(fmt(p50 / 1000, 2)) s, p99 \(fmt(p99 / 1000, 2)) s,"
            + " max \(fmt(msValue(results.caughtUpTimes.maxValue) / 1000, 2)) s (from the start of the reconnect)")
    say(
        "   replayed \(fmtThousands(Double(results.replayed))) events (\(fmt(Double(results.replayed) / Double(max(1, caught)), 1)) per client,"
            + " max \(results.replayedMax)); recovered: true \(fmtThousands(Double(results.recovered))) of \(fmtThousands(Double(n)));"
            + " gaps \(results.gapEvents), duplicates \(results.duplicateEvents); live stream after: \(fmtThousands(Double(results.fenceReached))) clients"
            + " reached their bot's last message")
    say(
        "   responsiveness: session.ping round trip of the bots (every 250 ms, drop to end) p50"
            + " \(fmt(msValue(results.pingRTT.percentile(0.5)), 1)) ms, p99 \(fmt(msValue(results.pingRTT.percentile(0.99)), 0)) ms,"
            + " max \(fmt(msValue(results.pingRTT.maxValue), 0)) ms")
    say(
        "   presence flaps: \(results.presenceOff) presence events connected:false and \(results.presenceOn) connected:true"
            + " seen by the bots since the drop (grace 10 s; away \(fmt(away, 1)) s)")
    say(
        "   server: \(fmt(serverCPU, 2)) cores during the reconnect (harness \(fmt(harnessCPU, 2)); the machine's cores"
            + " \(fmt(machineBusy * 100, 0)) % busy); VmRSS \(fmtThousands(Double(rssBefore))) KiB before the drop,"
            + " \(fmtThousands(Double(rssAfter.rssKiB))) KiB after (peak \(fmtThousands(Double(rssAfter.hwmKiB))) KiB),"
            + " \(fmtThousands(Double(rssSettled))) KiB 11 s later")
    say(
        "   failures: \(failures)" + (results.retries.count > 0 ? "; connection retries: \(results.retries.count)" : "")
            + (results.requestErrors.count > 0 ? "; request errors: \(results.requestErrors.count)" : "")
            + (results.botFailures.count > 0 ? "; bot failures: \(results.botFailures.count)" : ""))
    var notes: [String] = []
    for text in results.failures.first { say("     failure: \(text)"); notes.append("failure: \(text)") }
    if results.retries.count > 0 { say("     retries by cause: \(results.retries.kindSummary)") }
    for text in results.retries.first { say("     retry: \(text)"); notes.append("retry: \(text)") }
    for text in results.requestErrors.first { say("     request error: \(text)"); notes.append("request error: \(text)") }
    for text in results.botFailures.first { say("     bot: \(text)"); notes.append("bot: \(text)") }

    var values: [String: Double] = [:]
    values["clients"] = Double(n)
    values["teams"] = Double(plan.teams)
    values["users"] = Double(plan.usersPerTeam * plan.teams)
    values["caught_up_s"] = round2(lastCaught)
    values["handshakes_per_s"] = handshakesPerS.rounded()
    values["p50_caught_up_ms"] = p50.rounded()
    values["p99_caught_up_ms"] = p99.rounded()
    values["failures"] = Double(failures)
    values["recovered"] = Double(results.recovered)
    values["replayed_events"] = Double(results.replayed)
    values["replayed_max"] = Double(results.replayedMax)
    values["gaps"] = Double(results.gapEvents)
    values["duplicates"] = Double(results.duplicateEvents)
    values["presence_flaps"] = Double(results.presenceOff)
    values["ping_p50_ms"] = round2(msValue(results.pingRTT.percentile(0.5)))
    values["ping_p99_ms"] = round2(msValue(results.pingRTT.percentile(0.99)))
    values["ping_max_ms"] = round2(msValue(results.pingRTT.maxValue))
    values["retries"] = Double(results.retries.count)
    values["request_errors"] = Double(results.requestErrors.count)
    values["server_cpu_cores"] = round2(serverCPU)
    values["harness_cpu_cores"] = round2(harnessCPU)
    values["machine_busy_pct"] = (machineBusy * 100).rounded()
    values["rss_before_kib"] = Double(rssBefore)
    values["rss_after_kib"] = Double(rssAfter.rssKiB)
    values["rss_settled_kib"] = Double(rssSettled)
    values["connect_s"] = round2(connectTime)
    values["load_average"] = currentLoadAverage()
    return Row(
        bench: "storm", system: "huddle", transport: server.endpoint.transport, scenario: "reconnect-storm",
        subscribers: n, rate: nil,
        values: values, notes: notes.isEmpty ? nil : notes)
}

/// Waits until every client reached its team's fence (or the timeout).
private func waitForFences(_ shards: [NIOLoopBound<StormShard>], timeout: Double, fences: [Int]) async throws {
    let start = monotonicNanos()
    while true {
        var behind = 0
        for shard in shards { behind += try await shard.run { $0.behind(fences: fences) } }
        if behind == 0 || seconds(since: start) > timeout { return }
        try await Task.sleep(for: .milliseconds(100))
    }
}

// MARK: What the loops report

struct StormProgress: Sendable {
    var botsLive = 0
    var botFailures = Samples()
    var joined = 0
    var caughtUp = 0
    var tlsDone = 0
    var failures = Samples()
    var retries = Samples()
    var requestErrors = Samples()
    var outstanding = 0
    var sent = 0
    var eventsSeen = 0
    var fences: [Int: Int] = [:]

    mutating func add(_ other: StormProgress) {
        botsLive += other.botsLive
        botFailures.merge(other.botFailures)
        joined += other.joined
        caughtUp += other.caughtUp
        tlsDone += other.tlsDone
        failures.merge(other.failures)
        retries.merge(other.retries)
        requestErrors.merge(other.requestErrors)
        outstanding += other.outstanding
        sent += other.sent
        eventsSeen += other.eventsSeen
        fences.merge(other.fences) { a, _ in a }
    }
}

struct StormResults: Sendable {
    var caughtUp = 0
    var recovered = 0
    var handshakes = 0
    var tlsMax: UInt64 = 0
    var caughtUpTimes = Histogram()
    var replayed = 0
    var replayedMax = 0
    var gapEvents = 0
    var duplicateEvents = 0
    var fenceReached = 0
    var presenceOff = 0
    var presenceOn = 0
    var pingRTT = Histogram()
    var failures = Samples()
    var retries = Samples()
    var requestErrors = Samples()
    var botFailures = Samples()

    mutating func add(_ other: StormResults) {
        pingRTT.merge(other.pingRTT)
        caughtUp += other.caughtUp
        recovered += other.recovered
        handshakes += other.handshakes
        tlsMax = max(tlsMax, other.tlsMax)
        caughtUpTimes.merge(other.caughtUpTimes)
        replayed += other.replayed
        replayedMax = max(replayedMax, other.replayedMax)
        gapEvents += other.gapEvents
        duplicateEvents += other.duplicateEvents
        fenceReached += other.fenceReached
        presenceOff += other.presenceOff
        presenceOn += other.presenceOn
        failures.merge(other.failures)
        retries.merge(other.retries)
        requestErrors.merge(other.requestErrors)
        botFailures.merge(other.botFailures)
    }
}

struct StormClientSpec: Sendable {
    var index: Int
    var team: Int
    var token: String
    var setsStatus: Bool
}

struct StormBotSpec: Sendable {
    var team: Int
    var token: String
}

// MARK: One loop's clients

final class StormShard {
    let loop: any EventLoop
    let endpoint: Endpoint
    let teamNames: [String]
    let botRate: Double
    var clients: [StormClient] = []
    var bots: [StormBot] = []
    var rng: SplitMix64

    private var queue: [StormClient] = []
    private var queueHead = 0
    private var limit = 0
    private var ticker: Scheduled<Void>?
    private(set) var finished = false

    // Counters, loop-confined.
    var joined = 0
    var caughtUp = 0
    var tlsDone = 0
    var failures = Samples()
    var retries = Samples()
    var requestErrors = Samples()
    var botFailures = Samples()
    var outstanding = 0
    var sent = 0
    var eventsSeen = 0
    var gapEvents = 0
    var duplicateEvents = 0
    var watchingPresence = false
    var presenceOff = 0
    var presenceOn = 0
    var reconnectStart: UInt64 = 0
    var fences: [Int: Int] = [:]
    var probing = false
    var pingRTT = Histogram()
    private var prober: Scheduled<Void>?

    init(
        loop: any EventLoop, endpoint: Endpoint, teamNames: [String], clients: [StormClientSpec], bots: [StormBotSpec],
        seed: UInt64, botRate: Double
    ) {
        self.loop = loop
        self.endpoint = endpoint
        self.teamNames = teamNames
        self.botRate = botRate
        rng = SplitMix64(seed: seed)
        self.clients = clients.map { StormClient(shard: self, spec: $0) }
        self.bots = bots.map { StormBot(shard: self, spec: $0) }
        tick()
    }

    /// Once a second: idle connections ping (the daemon closes one that sent nothing for 3 heartbeats).
    private func tick() {
        guard !finished else { return }
        let now = monotonicNanos()
        for client in clients where client.state == .live && elapsedNanos(client.lastSent, now) > 10_000_000_000 { client.ping() }
        for bot in bots where bot.live && elapsedNanos(bot.lastSent, now) > 10_000_000_000 { bot.ping() }
        ticker = loop.assumeIsolated().scheduleTask(in: .seconds(1)) { [self] in tick() }
    }

    func startBots() {
        for bot in bots { bot.open() }
    }

    func connectAll(limit: Int) {
        queue = clients
        queueHead = 0
        self.limit = limit
        for _ in 0..<min(limit, queue.count) { openNext() }
    }

    func reconnectAll(t0: UInt64, limit: Int, spread: Double) {
        reconnectStart = t0
        queue = clients.filter { $0.state == .dropped }
        queueHead = 0
        self.limit = limit
        for client in queue { client.prepareRejoin() }
        if spread > 0 {
            // Each client comes back at its own moment within `spread` seconds.
            let looped = loop.assumeIsolated()
            for client in queue {
                let at = Int64(Double.random(in: 0..<spread, using: &rng) * 1e9)
                looped.scheduleTask(in: .nanoseconds(at)) { client.open() }
            }
            queueHead = queue.count
            return
        }
        let first = limit > 0 ? min(limit, queue.count) : queue.count
        for _ in 0..<first { openNext() }
    }

    private func openNext() {
        guard queueHead < queue.count else { return }
        let client = queue[queueHead]
        queueHead += 1
        client.open()
    }

    /// A client finished its sign-in (joined, caught up or failed): the next may start.
    func settled() {
        if limit > 0 { openNext() }
    }

    func fail(_ client: StormClient, _ why: String) {
        guard client.failure == nil else { return }
        client.failure = why
        failures.add("client \(client.index) (\(teamNames[client.team])): \(why)")
    }

    func startTraffic(seconds: Double, available: Bool) {
        let span = max(1000, Int64(seconds * 1000))
        let looped = loop.assumeIsolated()
        for client in clients where client.state == .live {
            if client.setsStatus && available {
                looped.scheduleTask(in: .milliseconds(Int64.random(in: 0..<500, using: &rng))) {
                    client.request(FloorRequests.status(id: client.nextRequestID(), status: "available", note: ""))
                }
                if Double.random(in: 0..<1, using: &rng) < 0.3 {
                    let at = Int64.random(in: 500..<(span - 400), using: &rng)
                    looped.scheduleTask(in: .milliseconds(at)) {
                        client.request(
                            FloorRequests.status(id: client.nextRequestID(), status: "after_call_work", note: "wrapping up"))
                    }
                    looped.scheduleTask(in: .milliseconds(at + 300)) {
                        client.request(FloorRequests.status(id: client.nextRequestID(), status: "available", note: ""))
                    }
                }
            }
            if Double.random(in: 0..<1, using: &rng) < 0.05 {
                looped.scheduleTask(in: .milliseconds(Int64.random(in: 500..<span, using: &rng))) {
                    client.request(
                        FloorRequests.message(
                            id: client.nextRequestID(), team: self.teamNames[client.team], text: "storm: client \(client.index) here"))
                }
            }
        }
    }

    /// Every 250 ms from the drop until the fence: each bot pings the daemon (one at a time).
    private func probeTick() {
        guard probing, !finished else { return }
        let now = monotonicNanos()
        for bot in bots { bot.probe(now) }
        prober = loop.assumeIsolated().scheduleTask(in: .milliseconds(250)) { [self] in probeTick() }
    }

    func drop() -> Int {
        watchingPresence = true
        probing = true
        probeTick()
        var count = 0
        for client in clients where client.state == .live {
            client.drop()
            count += 1
        }
        return count
    }

    func sendFences() {
        // Pings still unanswered count with the time they have waited so far.
        let now = monotonicNanos()
        for bot in bots where bot.probeSentAt > 0 { pingRTT.record(elapsedNanos(bot.probeSentAt, now)) }
        probing = false
        for bot in bots { bot.sendFence() }
    }

    func behind(fences: [Int]) -> Int {
        clients.reduce(0) { $0 + ($1.state == .live && $1.lastSeq < fences[$1.team] ? 1 : 0) }
    }

    func progress() -> StormProgress {
        var p = StormProgress()
        p.botsLive = bots.filter(\.live).count
        p.botFailures = botFailures
        p.joined = joined
        p.caughtUp = caughtUp
        p.tlsDone = tlsDone
        p.failures = failures
        p.retries = retries
        p.requestErrors = requestErrors
        p.outstanding = outstanding
        p.sent = sent
        p.eventsSeen = eventsSeen
        p.fences = fences
        return p
    }

    func results(fences: [Int]) -> StormResults {
        var r = StormResults()
        let tls = endpoint.tls != nil
        for client in clients {
            if client.state == .live, client.lastSeq < fences[client.team] {
                fail(
                    client,
                    "live stream stopped at seq \(client.lastSeq); the bot's last message is seq \(fences[client.team])")
            } else if client.state == .live {
                r.fenceReached += 1
            }
            if client.caughtUpAt > 0 {
                r.caughtUp += 1
                r.caughtUpTimes.record(elapsedNanos(reconnectStart, client.caughtUpAt))
            } else if client.failure == nil {
                let waited = fmt(Double(elapsedNanos(client.attemptStart, monotonicNanos())) / 1e9, 1)
                fail(
                    client,
                    "never caught up: still in \(client.state) after \(waited) s"
                        + (client.state == .hello
                            ? (!tls ? " (TCP connected, hello unanswered)" : client.attemptTLS ? " (TLS done, hello unanswered)" : " (TLS handshake not done)")
                            : "")
                        + " (attempt \(client.attempts + 1), since seq \(client.sinceSeq))")
            }
            if client.recovered { r.recovered += 1 }
            if client.tlsAt > 0 {
                r.handshakes += 1
                r.tlsMax = max(r.tlsMax, elapsedNanos(reconnectStart, client.tlsAt))
            }
            r.replayed += client.replayed
            r.replayedMax = max(r.replayedMax, client.replayed)
        }
        r.pingRTT = pingRTT
        r.gapEvents = gapEvents
        r.duplicateEvents = duplicateEvents
        r.presenceOff = presenceOff
        r.presenceOn = presenceOn
        r.failures = failures
        r.retries = retries
        r.requestErrors = requestErrors
        r.botFailures = botFailures
        return r
    }

    func finish() {
        finished = true
        ticker?.cancel()
        prober?.cancel()
        for client in clients { client.finish() }
        for bot in bots { bot.finish() }
    }
}

// MARK: A client

final class StormClient: FloorPeer {
    enum State { case idle, connecting, hello, joining, live, dropped, finished, failed }

    unowned let shard: StormShard
    let index: Int
    let team: Int
    let token: String
    let setsStatus: Bool

    var state = State.idle
    private var connection: FloorConnection?
    private var rejoin = false
    private var epoch = ""
    private(set) var lastSeq = 0
    private(set) var sinceSeq = 0
    private(set) var attempts = 0
    private(set) var replayed = 0
    private(set) var recovered = false
    private(set) var tlsAt: UInt64 = 0
    private(set) var caughtUpAt: UInt64 = 0
    private(set) var lastSent: UInt64 = 0
    private var requestID = 10
    private var pingID = 1_000_000
    private(set) var attemptStart: UInt64 = 0
    private var lastError: String?
    private var closing: String?
    private(set) var attemptTLS = false
    private var backoff: Int64 = 500
    private var handshakeTimer: Scheduled<Void>?
    var failure: String?

    init(shard: StormShard, spec: StormClientSpec) {
        self.shard = shard
        index = spec.index
        team = spec.team
        token = spec.token
        setsStatus = spec.setsStatus
    }

    func nextRequestID() -> Int {
        requestID += 1
        return requestID
    }

    func open() {
        state = .connecting
        attemptStart = monotonicNanos()
        lastError = nil
        closing = nil
        attemptTLS = false
        let peer = NIOLoopBound<any FloorPeer>(self, eventLoop: shard.loop)
        // The CLI's bounds: 5 s for the TCP connect, then 5 s for the TLS handshake.
        openFloorConnection(shard.endpoint, on: shard.loop, peer: peer, connectTimeout: .seconds(5)).assumeIsolated()
            .whenFailure { [self] error in
                if state == .connecting { retry("connect failed: \(error)", kind: "connect failed (\(String("\(error)".prefix(60))))") }
            }
    }

    /// Tries again the way `huddle watch` does (HuddleClient's TeamWatcher): after 0.5 s, doubling
    /// up to 5 s, no jitter, for as long as it takes (the run's catch-up timeout ends it).
    private func retry(_ why: String, kind: String) {
        connection?.kill()
        connection = nil
        handshakeTimer?.cancel()
        attempts += 1
        let after = fmt(Double(elapsedNanos(attemptStart, monotonicNanos())) / 1e9, 1)
        shard.retries.add("client \(index): \(why) after \(after) s (attempt \(attempts))", kind: kind)
        state = .connecting
        let delay = backoff
        backoff = min(backoff * 2, 5000)
        shard.loop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) { [self] in
            if state == .connecting && !shard.finished { open() }
        }
    }

    private func send(_ text: String) {
        connection?.send(text)
        lastSent = monotonicNanos()
    }

    func request(_ text: String) {
        guard state == .live else { return }
        shard.outstanding += 1
        shard.sent += 1
        send(text)
    }

    func ping() {
        pingID += 1
        send(Requests.huddlePing(id: pingID))
    }

    func drop() {
        sinceSeq = lastSeq
        connection?.kill()
        connection = nil
        state = .dropped
    }

    func prepareRejoin() {
        backoff = 500
        rejoin = true
        attempts = 0
        tlsAt = 0
        caughtUpAt = 0
    }

    func finish() {
        state = .finished
        connection?.kill()
        connection = nil
    }

    // FloorPeer

    func floorActive(_ connection: FloorConnection) {
        guard state == .connecting else {
            connection.kill()
            return
        }
        self.connection = connection
        state = .hello
        if shard.endpoint.tls == nil {
            handshakeDone()
        } else {
            handshakeTimer = shard.loop.assumeIsolated().scheduleTask(in: .seconds(5)) { [self] in
                if connection === self.connection && !attemptTLS && state == .hello {
                    retry("TLS handshake not done within 5 s", kind: "TLS handshake timeout (5 s)")
                }
            }
        }
        send(Requests.huddleHello(id: 1, token: token))
    }

    func floorTLSReady(_ connection: FloorConnection) {
        guard connection === self.connection else { return }
        handshakeDone()
    }

    func floorError(_ error: any Error, _ connection: FloorConnection) {
        guard connection === self.connection else { return }
        lastError = lastError ?? "\(error)"
    }

    private func handshakeDone() {
        attemptTLS = true
        handshakeTimer?.cancel()
        if tlsAt == 0 {
            tlsAt = monotonicNanos()
            if rejoin { shard.tlsDone += 1 }
        }
    }

    func floorInactive(_ connection: FloorConnection) {
        guard connection === self.connection else { return }
        self.connection = nil
        switch state {
        case .connecting, .hello, .joining:
            let step = state == .joining ? "team.join" : attemptTLS ? "session.hello" : "the TLS handshake"
            var kind = "closed during \(step)"
            if let closing { kind += " (session.closing \(closing))" } else if let lastError { kind += " (\(lastError))" }
            retry(kind, kind: kind)
        case .live:
            shard.fail(self, "the server closed the connection")
            state = .failed
        default:
            break
        }
    }

    func floorLine(_ line: Line, _ connection: FloorConnection) {
        guard connection === self.connection else { return }
        if line.hasPrefix(Wire1.eventPrefix) {
            event(line)
        } else if line.hasPrefix(Wire1.resultPrefix) {
            response(line.responseID, ok: true, line)
        } else if line.hasPrefix(Wire1.errorPrefix) {
            response(line.responseID, ok: false, line)
        } else if line.hasPrefix(Wire1.closingPrefix) {
            let reason = line.string(after: Wire1.reason) ?? "?"
            if state == .live {
                shard.fail(self, "session.closing \(reason)")
            } else {
                closing = reason
            }
        }
    }

    private func event(_ line: Line) {
        guard let seq = line.int(after: Wire1.seq) else {
            shard.fail(self, "event without seq: \(line.text)")
            return
        }
        switch state {
        case .joining:
            guard rejoin else {
                shard.fail(self, "event seq \(seq) before the result of a join without since")
                return
            }
            check(seq)
            replayed += 1
        case .live:
            check(seq)
        default:
            return
        }
        shard.eventsSeen += 1
    }

    private func check(_ seq: Int) {
        if seq != lastSeq + 1 {
            if seq <= lastSeq {
                shard.duplicateEvents += 1
                shard.fail(self, "duplicate: seq \(seq) after \(lastSeq)\(state == .joining ? " (replay)" : "")")
                return
            }
            shard.gapEvents += seq - lastSeq - 1
            shard.fail(self, "gap: seq \(seq) after \(lastSeq)\(state == .joining ? " (replay)" : "")")
        }
        lastSeq = seq
    }

    private func response(_ id: Int?, ok: Bool, _ line: Line) {
        switch id {
        case 1:
            guard state == .hello else { return }
            guard ok else {
                shard.fail(self, "session.hello refused: \(line.text)")
                state = .failed
                connection?.kill()
                shard.settled()
                return
            }
            state = .joining
            let name = shard.teamNames[team]
            send(FloorRequests.join(id: 2, team: name, since: rejoin ? (epoch, lastSeq, nil) : nil))
        case 2:
            guard state == .joining else { return }
            guard ok else {
                shard.fail(self, "team.join refused: \(line.text)")
                state = .failed
                shard.settled()
                return
            }
            let seq = line.int(after: Wire1.seq) ?? -1
            let resultEpoch = line.string(after: Wire1.epoch) ?? ""
            if !rejoin {
                epoch = resultEpoch
                lastSeq = seq
                state = .live
                shard.joined += 1
            } else {
                recovered = line.contains(Wire1.recoveredTrue)
                if !recovered {
                    shard.fail(self, "recovered: false (since \(epoch)/\(sinceSeq), result epoch \(resultEpoch) seq \(seq))")
                } else if resultEpoch != epoch {
                    shard.fail(self, "recovered: true but the epoch changed (\(epoch) → \(resultEpoch))")
                } else if seq > lastSeq {
                    shard.gapEvents += seq - lastSeq
                    shard.fail(self, "replay ended at seq \(lastSeq) but the result says seq \(seq) (since \(sinceSeq))")
                } else if seq < lastSeq {
                    shard.fail(self, "replay went to seq \(lastSeq), past the result's seq \(seq) (since \(sinceSeq))")
                }
                lastSeq = max(lastSeq, seq)
                epoch = resultEpoch
                caughtUpAt = monotonicNanos()
                backoff = 500
                state = .live
                shard.caughtUp += 1
            }
            shard.settled()
        case .some(let n) where n >= 1_000_000:
            break  // ping
        default:
            shard.outstanding -= 1
            if !ok { shard.requestErrors.add("client \(index): \(line.text)") }
        }
    }
}

// MARK: A team's bot

/// Posts `botRate` messages per second to its team all along (before, during and after the
/// storm), watches the team stream (seq by seq, and the presence events since the drop), and
/// posts the final message whose seq every client must reach.
final class StormBot: FloorPeer {
    unowned let shard: StormShard
    let team: Int
    let token: String
    private var connection: FloorConnection?
    private var state = 0  // 0 connecting, 1 hello, 2 joining, 3 live, 4 finished
    private var lastSeq = 0
    private var joined = false
    private(set) var lastSent: UInt64 = 0
    private var requestID = 10
    private var pingID = 1_000_000
    private var timer: Scheduled<Void>?
    private var posted = 0
    private var probeID = 2_000_000
    private(set) var probeSentAt: UInt64 = 0

    var live: Bool { state == 3 }

    /// A `session.ping` to time the daemon's responsiveness (one outstanding at a time).
    func probe(_ now: UInt64) {
        guard state == 3, probeSentAt == 0 else { return }
        probeID += 1
        probeSentAt = now
        send(Requests.huddlePing(id: probeID))
    }

    init(shard: StormShard, spec: StormBotSpec) {
        self.shard = shard
        team = spec.team
        token = spec.token
    }

    func open() {
        let peer = NIOLoopBound<any FloorPeer>(self, eventLoop: shard.loop)
        openFloorConnection(shard.endpoint, on: shard.loop, peer: peer).assumeIsolated().whenFailure { [self] error in
            shard.botFailures.add("bot of team \(team): connect: \(error)")
        }
    }

    private func send(_ text: String) {
        connection?.send(text)
        lastSent = monotonicNanos()
    }

    func ping() {
        pingID += 1
        send(Requests.huddlePing(id: pingID))
    }

    private func post() {
        guard state == 3, !shard.finished else { return }
        requestID += 1
        posted += 1
        send(FloorRequests.message(id: requestID, team: shard.teamNames[team], text: "queue bot tick \(posted)"))
        let period = Int64(1e9 / max(0.01, shard.botRate))
        // Spread the teams' bots over the period instead of posting all at once.
        timer = shard.loop.assumeIsolated().scheduleTask(in: .nanoseconds(period)) { [self] in post() }
    }

    func sendFence() {
        guard state == 3 else { return }
        send(FloorRequests.message(id: 999_999, team: shard.teamNames[team], text: "storm: last message"))
    }

    func finish() {
        state = 4
        timer?.cancel()
        connection?.kill()
        connection = nil
    }

    func floorActive(_ connection: FloorConnection) {
        self.connection = connection
        state = 1
        send(Requests.huddleHello(id: 1, token: token))
    }

    func floorTLSReady(_ connection: FloorConnection) {}

    func floorInactive(_ connection: FloorConnection) {
        guard connection === self.connection else { return }
        self.connection = nil
        if state != 4 { shard.botFailures.add("bot of team \(team): the connection closed (state \(state))") }
        state = 4
        timer?.cancel()
    }

    func floorLine(_ line: Line, _ connection: FloorConnection) {
        if line.hasPrefix(Wire1.eventPrefix) {
            guard joined, let seq = line.int(after: Wire1.seq) else { return }
            if seq != lastSeq + 1 {
                shard.botFailures.add("bot of team \(team): seq \(seq) after \(lastSeq)")
            }
            lastSeq = max(lastSeq, seq)
            if shard.watchingPresence, line.contains(Wire1.presenceType) {
                if line.contains(Wire1.connectedFalse) { shard.presenceOff += 1 } else { shard.presenceOn += 1 }
            }
            return
        }
        let ok = line.hasPrefix(Wire1.resultPrefix)
        guard ok || line.hasPrefix(Wire1.errorPrefix) else {
            if line.hasPrefix(Wire1.closingPrefix) {
                shard.botFailures.add("bot of team \(team): \(line.text)")
            }
            return
        }
        switch line.responseID {
        case 1:
            guard ok else {
                shard.botFailures.add("bot of team \(team): hello refused: \(line.text)")
                return
            }
            state = 2
            send(Requests.huddleJoin(id: 2, team: shard.teamNames[team]))
        case 2:
            if ok {
                joined = true
                lastSeq = line.int(after: Wire1.seq) ?? 0
            } else {
                shard.botFailures.add("bot of team \(team): team.join refused (presence not watched): \(line.text)")
            }
            state = 3
            let offset = Int64.random(in: 0..<Int64(1e9 / max(0.01, shard.botRate)), using: &shard.rng)
            timer = shard.loop.assumeIsolated().scheduleTask(in: .nanoseconds(offset)) { [self] in post() }
        case 999_999:
            if ok, let seq = line.int(after: Wire1.seq) {
                shard.fences[team] = seq
            } else {
                shard.botFailures.add("bot of team \(team): last message refused: \(line.text)")
                shard.fences[team] = 0
            }
        case .some(let n) where n >= 2_000_000:
            if probeSentAt > 0 {
                if shard.probing { shard.pingRTT.record(elapsedNanos(probeSentAt, monotonicNanos())) }
                probeSentAt = 0
            }
        case .some(let n) where n >= 1_000_000:
            break
        default:
            if !ok { shard.botFailures.add("bot of team \(team): \(line.text)") }
        }
    }
}

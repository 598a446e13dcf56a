import ArgumentParser
import Foundation

@main
struct HuddleBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "huddle-bench",
        abstract: "Benchmarks of huddled on loopback, side by side with nats-server and redis-server.",
        discussion: """
            Every subcommand starts what it needs on 127.0.0.1 (in a temporary folder), stops it by PID,
            prints its figures for people and ends with one JSON line (`{"bench":…}`) for scripts.
            """,
        subcommands: [Fanout.self, Memory.self, Durability.self, Decision.self, Commit.self, Storm.self, Soak.self, All.self])
}

struct Common: ParsableArguments {
    @Option(help: "The release huddled to measure.") var huddled = "../.build/release/huddled"
    @Option(help: "Where temporary data folders go (put it on tmpfs, e.g. /dev/shm, to take fsync out).")
    var workDir = "/tmp"
    @Option(help: "Event-loop threads of the load generator (1–2; the daemon gets the rest of the machine).")
    var clientThreads = 1
    @Option(help: "Repeat the whole benchmark this many times and report medians.") var runs: Int?
    @Option(help: "Seconds a server may take to exit after SIGTERM before SIGKILL (raise it under a profiler).")
    var stopGrace = 5.0
    @Option(
        name: .customLong("huddled-setting"),
        help: "A daemon setting besides the raised limits, as KEY=VALUE with a `huddled serve` flag name (sync=commit, event-loops=2); repeatable.")
    var huddledSettings: [String] = []

    /// The huddled path as given, or, when the default is not there from here, the one of the
    /// package this tool was built in (so `huddle-bench` works from any directory).
    var huddledPath: String {
        let fallback = "../.build/release/huddled"
        if huddled != fallback || FileManager.default.isExecutableFile(atPath: huddled) { return absolute(huddled) }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        // …/Benchmarks/.build/<triple>/release/huddle-bench → …/.build/release/huddled
        var dir = executable.deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent(".build/release/huddled").path
            if dir.lastPathComponent != "Benchmarks", FileManager.default.isExecutableFile(atPath: candidate),
                !candidate.contains("/Benchmarks/.build/")
            {
                return candidate
            }
            dir = dir.deletingLastPathComponent()
        }
        return absolute(huddled)
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

func prepare(_ common: Common) -> Int {
    installInterruptHandler()
    ServerProcess.stopGrace = common.stopGrace
    HuddleLauncher.daemonOptions = common.huddledSettings.flatMap { setting -> [String] in
        let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
        return ["--\(parts[0])"] + parts.dropFirst()
    }
    if !HuddleLauncher.daemonOptions.isEmpty {
        say("huddled runs with \(HuddleLauncher.daemonOptions.joined(separator: " "))")
    }
    return raiseOpenFileLimit(to: 65_536)
}

func parseList(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

// MARK: fanout

struct Fanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deliveries/s at full speed and latency at fixed rates: huddled, nats-server, redis-server.")

    @OptionGroup var common: Common
    @Flag(help: "A short run (CI smoke): 1,000 subscribers, 1 s per point.") var short = false
    @Option(help: "Subscriber counts for the full-speed runs.") var subscribers: String?
    @Option(help: "Fixed-rate latency points as RATExSUBSCRIBERS.") var latency: String?
    @Option(help: "Systems to measure.") var systems = "huddle,nats,redis"
    @Option(help: "Transports: plaintext, tls or both.") var transports = "plaintext,tls"
    @Flag(help: "Plaintext only (same as --transports plaintext).") var plaintext = false
    @Option(help: "Seconds measured per full-speed point.") var measure: Double?
    @Option(help: "Seconds measured per latency point.") var latencyMeasure: Double?
    @Option(help: "Seconds of warm-up before each point.") var warmup: Double?
    @Option(help: "Messages unacknowledged at most (full speed).") var window = 64
    @Option(help: "Messages ahead of the average subscriber at most (full speed; 0 = unbounded).") var backlog = 2048
    @Option(help: "Huddle only: after the first full-speed point, the same with an agent raising alerts and these notify-target counts (e.g. 1,10).")
    var noticeTargets: String?

    func plan() throws -> FanoutPlan {
        var plan = FanoutPlan()
        if short {
            plan.throughputSubscribers = [1000]
            plan.latency = [LatencyPoint(rate: 1000, subscribers: 100), LatencyPoint(rate: 50, subscribers: 1000)]
            plan.warmup = 0.3
            plan.measure = 1
            plan.latencyMeasure = 1
        }
        if let subscribers { plan.throughputSubscribers = parseList(subscribers).compactMap { Int($0) } }
        if let latency {
            plan.latency = try parseList(latency).map { item in
                let parts = item.lowercased().split(separator: "x")
                guard parts.count == 2, let rate = Double(parts[0]), let n = Int(parts[1]) else {
                    throw ValidationError("--latency takes RATExSUBSCRIBERS items, e.g. 1000x100,50x1000")
                }
                return LatencyPoint(rate: rate, subscribers: n)
            }
        }
        plan.systems = try parseList(systems).map { name in
            guard let wire = Wire(rawValue: name.replacingOccurrences(of: "-server", with: "")) else {
                throw ValidationError("unknown system \(name) (huddle, nats, redis)")
            }
            return wire
        }
        let modes = plaintext ? ["plaintext"] : parseList(transports)
        plan.tlsModes = try modes.map { mode in
            switch mode {
            case "plaintext": return false
            case "tls": return true
            default: throw ValidationError("unknown transport \(mode) (plaintext, tls)")
            }
        }
        if let measure { plan.measure = measure }
        if let latencyMeasure { plan.latencyMeasure = latencyMeasure }
        if let warmup { plan.warmup = warmup }
        plan.window = window
        plan.backlog = backlog
        if let noticeTargets { plan.noticeTargets = parseList(noticeTargets).compactMap { Int($0) } }
        plan.clientThreads = common.clientThreads
        plan.huddled = common.huddledPath
        plan.workParent = common.workDir
        return plan
    }

    func run() async throws {
        let openFiles = prepare(common)
        let plan = try plan()
        try await Self.execute(plan, runs: common.runs ?? 1, short: short, openFiles: openFiles)
    }

    static func execute(_ plan: FanoutPlan, runs: Int, short: Bool, openFiles: Int) async throws {
        say(
            "fan-out: \(plan.systems.map(\.rawValue).joined(separator: ", ")); subscribers \(plan.throughputSubscribers);"
                + " latency \(plan.latency.map { "\(Int($0.rate))/s×\($0.subscribers)" }); \(Payload.size)-byte texts;"
                + " window \(plan.window), backlog bound \(plan.backlog); \(plan.clientThreads) client thread(s);"
                + " open-file limit \(openFiles); \(runs) run(s)")
        var all: [[Row]] = []
        for index in 0..<runs {
            if runs > 1 { say("\n### fan-out run \(index + 1) of \(runs)") }
            let harness = Harness(threads: plan.clientThreads)
            let rows = try await FanoutRunner(plan: plan, harness: harness, openFiles: openFiles).run()
            await harness.shutdown()
            all.append(rows)
        }
        let results = medians(all)
        if runs > 1 { say("\nMedians of \(runs) runs:") }
        printFanoutTable(results)
        let ratios = fanoutRatios(results)
        printJSONLine(
            Summary(
                bench: "fanout", mode: short ? "short" : "full", runs: runs,
                machine: .current(clientThreads: plan.clientThreads), results: results, ratios: ratios))
    }
}

// MARK: memory

struct Memory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "huddled's resident memory per idle authenticated TLS connection.")

    @OptionGroup var common: Common
    @Flag(help: "A short run: 2,000 connections.") var short = false
    @Option(help: "Idle TLS connections to open.") var connections: Int?
    @Flag(help: "Also join the team on each connection (a watching client).") var join = false
    @Flag(help: "Plaintext instead of TLS (to see what TLS costs per connection).") var plaintext = false

    func run() async throws {
        let openFiles = prepare(common)
        var plan = MemoryPlan()
        plan.connections = connections ?? (short ? 2000 : 10_000)
        plan.join = join
        plan.tls = !plaintext
        plan.huddled = common.huddledPath
        plan.workParent = common.workDir
        try await Self.execute(plan, runs: common.runs ?? 1, short: short, openFiles: openFiles, clientThreads: common.clientThreads)
    }

    static func execute(_ plan: MemoryPlan, runs: Int, short: Bool, openFiles: Int, clientThreads: Int) async throws {
        var plan = plan
        let needed = plan.connections + 200
        if openFiles < needed {
            say("   note: open-file limit \(openFiles) allows only \(openFiles - 200) connections here")
            plan.connections = max(100, openFiles - 200)
        }
        say("memory: \(fmtThousands(Double(plan.connections))) idle authenticated \(plan.tls ? "TLS" : "plaintext") connections; open-file limit \(openFiles); \(runs) run(s)")
        var all: [[Row]] = []
        for index in 0..<runs {
            if runs > 1 { say("### memory run \(index + 1) of \(runs)") }
            let harness = Harness(threads: max(clientThreads, 2))
            defer { Task { await harness.shutdown() } }
            all.append([try await runMemory(plan, harness: harness, openFiles: openFiles)])
        }
        let results = medians(all)
        if runs > 1, let row = results.first {
            say("   median: \(fmt(row.values["kib_per_connection"] ?? 0, 1)) KiB per connection")
        }
        printJSONLine(
            Summary(
                bench: "memory", mode: short ? "short" : "full", runs: runs,
                machine: .current(clientThreads: max(clientThreads, 2)), results: results))
    }
}

// MARK: durability

struct Durability: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Committed (acknowledged) status changes per second from concurrent agents.")

    @OptionGroup var common: Common
    @Flag(help: "A short run: 2 s.") var short = false
    @Option(help: "Concurrent agents.") var agents = 100
    @Option(help: "Seconds measured.") var duration: Double?
    @Flag(help: "Over TLS (default plaintext).") var tls = false
    @Flag(help: "Agents also join the team, so every change is fanned out to all of them.") var join = false

    func run() async throws {
        let openFiles = prepare(common)
        var plan = DurabilityPlan()
        plan.agents = agents
        plan.duration = duration ?? (short ? 2 : 10)
        plan.warmup = short ? 0.5 : 1
        plan.tls = tls
        plan.join = join
        plan.huddled = common.huddledPath
        plan.workParent = common.workDir
        try await Self.execute(plan, runs: common.runs ?? 1, short: short, openFiles: openFiles, clientThreads: common.clientThreads)
    }

    static func execute(_ plan: DurabilityPlan, runs: Int, short: Bool, openFiles: Int, clientThreads: Int) async throws {
        say("durability: \(plan.agents) agents alternating available/break, \(plan.tls ? "TLS" : "plaintext"), data in \(plan.workParent); \(runs) run(s)")
        var all: [[Row]] = []
        for index in 0..<runs {
            if runs > 1 { say("### durability run \(index + 1) of \(runs)") }
            let harness = Harness(threads: clientThreads)
            all.append([try await runDurability(plan, harness: harness, openFiles: openFiles)])
            await harness.shutdown()
        }
        let results = medians(all)
        if runs > 1, let row = results.first {
            say("   median: \(fmtThousands(row.values["changes_per_s"] ?? 0)) committed status changes/s")
        }
        printJSONLine(
            Summary(
                bench: "durability", mode: short ? "short" : "full", runs: runs,
                machine: .current(clientThreads: clientThreads), results: results))
    }
}

// MARK: decision

struct Decision: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Microseconds per status change through the coverage rules (HuddleCore alone).",
        discussion: """
            Runs `huddle-decision-bench` from the root package (next to the huddled measured; built by \
            Benchmarks/run): 100 teams of 20 agents, random breaks, lunches and returns, each decided, \
            applied and settled as the hub does under its lock, without sockets or SQLite.
            """)

    @OptionGroup var common: Common
    @Flag(help: "A short run: 100,000 changes instead of 1,000,000.") var short = false

    func run() async throws {
        try Self.execute(short: short, huddled: common.huddledPath, runs: common.runs ?? 1)
    }

    static func execute(short: Bool, huddled: String, runs: Int) throws {
        let changes = short ? 100_000 : 1_000_000
        say("decision: \(fmtThousands(Double(changes))) status changes through the rules, \(runs) run(s)")
        let median = try runRootBench(
            "huddle-decision-bench", [String(changes)], next: huddled, runs: runs, figure: "microseconds_per_change")
        say("   median: \(fmt(median, 2)) µs per status change")
        printRootBenchSummary(
            "decision", scenario: "status-change-through-rules", short: short, runs: runs,
            values: ["microseconds_per_change": median, "changes": Double(changes)])
    }
}

struct Commit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Microseconds per event committed through HuddleStore alone (SQLite through GRDB, no sockets).",
        discussion: """
            Runs `huddle-commit-bench` from the root package (next to the huddled measured; built by \
            Benchmarks/run): batches of 35 status changes and their coverage events, the size group commit \
            makes under the durability benchmark's load, into a fresh database in --work-dir, with the \
            daemon's default sync (or --sync), checkpointed as the daemon does.
            """)

    @OptionGroup var common: Common
    @Flag(help: "A short run: 300 batches instead of 3,000.") var short = false
    @Option(help: "checkpoint or commit (the daemon's default: checkpoint).") var sync = "checkpoint"

    func run() async throws {
        try Self.execute(short: short, huddled: common.huddledPath, workDir: common.workDir, sync: sync, runs: common.runs ?? 1)
    }

    static func execute(short: Bool, huddled: String, workDir: String, sync: String, runs: Int) throws {
        let batches = short ? 300 : 3_000
        say("commit: \(fmtThousands(Double(batches))) batches of 35 status changes into \(workDir), sync \(sync), \(runs) run(s)")
        let median = try runRootBench(
            "huddle-commit-bench", [String(batches), "35", workDir, sync], next: huddled, runs: runs,
            figure: "microseconds_per_event")
        say("   median: \(fmt(median, 2)) µs per event committed")
        printRootBenchSummary(
            "commit", scenario: "events-through-store-\(sync)", short: short, runs: runs,
            values: ["microseconds_per_event": median, "batches": Double(batches)])
    }
}

/// The JSON line of a core benchmark: one row, its figures to the thousandth.
func printRootBenchSummary(_ bench: String, scenario: String, short: Bool, runs: Int, values: [String: Double]) {
    printJSONLine(
        Summary(
            bench: bench, mode: short ? "short" : "full", runs: runs, machine: .current(clientThreads: 0),
            results: [
                Row(
                    bench: bench, system: "huddle", transport: "none", scenario: scenario, subscribers: nil, rate: nil,
                    values: values.mapValues { ($0 * 1000).rounded() / 1000 }, notes: nil)
            ]))
}

/// Runs one of the root package's core benchmarks (built next to `huddled`) `runs` times and
/// returns the median of `figure` from its JSON line, saying its human line each time.
func runRootBench(_ name: String, _ arguments: [String], next huddled: String, runs: Int, figure: String) throws -> Double {
    let binary = URL(fileURLWithPath: huddled).deletingLastPathComponent().appendingPathComponent(name).path
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        throw BenchFailure("\(binary) is missing: swift build -c release --product \(name) (Benchmarks/run does)")
    }
    var values: [Double] = []
    for _ in 0..<runs {
        let output = try huddle_bench.run(binary, arguments)
        for line in output.split(separator: "\n") where !line.hasPrefix("{") { say("   " + line) }
        guard let json = output.split(separator: "\n").first(where: { $0.hasPrefix(#"{"bench":"#) }),
            let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let value = object[figure] as? Double
        else { throw BenchFailure("\(name) printed no figure:\n\(output)") }
        values.append(value)
    }
    return values.sorted()[values.count / 2]
}

// MARK: all

struct All: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every benchmark: `--short` for a CI smoke run (under a minute), else the full set (medians of 3 runs).")

    @OptionGroup var common: Common
    @Flag(help: "The short mode of every benchmark.") var short = false

    func run() async throws {
        let openFiles = prepare(common)
        let runs = common.runs ?? (short ? 1 : 3)
        let start = monotonicNanos()
        var fanout = try Fanout.parse(short ? ["--short"] : []).plan()
        fanout.clientThreads = common.clientThreads
        fanout.huddled = common.huddledPath
        fanout.workParent = common.workDir
        try await Fanout.execute(fanout, runs: runs, short: short, openFiles: openFiles)

        say("")
        var memory = MemoryPlan()
        memory.connections = short ? 2000 : 10_000
        memory.huddled = common.huddledPath
        memory.workParent = common.workDir
        try await Memory.execute(memory, runs: runs, short: short, openFiles: openFiles, clientThreads: common.clientThreads)

        say("")
        var durability = DurabilityPlan()
        durability.duration = short ? 2 : 10
        durability.warmup = short ? 0.5 : 1
        durability.huddled = common.huddledPath
        durability.workParent = common.workDir
        try await Durability.execute(
            durability, runs: runs, short: short, openFiles: openFiles, clientThreads: common.clientThreads)

        say("")
        try Decision.execute(short: short, huddled: common.huddledPath, runs: runs)

        say("")
        try Commit.execute(short: short, huddled: common.huddledPath, workDir: common.workDir, sync: "checkpoint", runs: runs)
        say("\nall: done in \(fmt(seconds(since: start), 1)) s")
    }
}

import Foundation

/// One measured figure set. `key` identifies what was measured (so runs can be combined into
/// medians); `values` holds the numbers.
struct Row: Codable, Sendable {
    var bench: String
    var system: String
    var transport: String
    var scenario: String
    var subscribers: Int?
    var rate: Double?
    var values: [String: Double]
    var notes: [String]?

    var key: String { "\(bench)|\(system)|\(transport)|\(scenario)|\(subscribers ?? 0)|\(rate ?? 0)" }
}

/// The median of each value over runs, per key, in first-seen order.
func medians(_ runs: [[Row]]) -> [Row] {
    var order: [String] = []
    var grouped: [String: [Row]] = [:]
    for run in runs {
        for row in run {
            if grouped[row.key] == nil { order.append(row.key) }
            grouped[row.key, default: []].append(row)
        }
    }
    return order.map { key in
        let rows = grouped[key]!
        var combined = rows[0]
        var values: [String: Double] = [:]
        for name in rows[0].values.keys {
            let samples = rows.compactMap { $0.values[name] }.sorted()
            values[name] = median(samples)
        }
        combined.values = values
        var notes = Set<String>()
        for row in rows { for note in row.notes ?? [] { notes.insert(note) } }
        combined.notes = notes.isEmpty ? nil : notes.sorted()
        if rows.count > 1 { combined.values["runs"] = Double(rows.count) }
        return combined
    }
}

func median(_ sorted: [Double]) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// The one machine-readable line every subcommand ends with.
struct Summary: Codable {
    var bench: String
    var mode: String
    var runs: Int
    var machine: Machine
    var results: [Row]
    var ratios: [Ratio]?
    var status: String?
}

struct Ratio: Codable {
    var figure: String
    var transport: String
    var scenario: String
    var huddle: Double
    var other: String
    var otherValue: Double
    /// huddle / other: above 1 is better for throughput, below 1 is better for latency.
    var ratio: Double
}

struct Machine: Codable {
    var cpus: Int
    var kernel: String
    var clientThreads: Int
    var loadAverage: Double
    /// The daemon options the run added to its defaults (`--sync commit`), when any.
    var huddledOptions: [String]?

    static func current(clientThreads: Int) -> Machine {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return Machine(
            cpus: ProcessInfo.processInfo.activeProcessorCount, kernel: release, clientThreads: clientThreads,
            loadAverage: currentLoadAverage(),
            huddledOptions: HuddleLauncher.daemonOptions.isEmpty ? nil : HuddleLauncher.daemonOptions)
    }
}

func printJSONLine(_ summary: Summary) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    if let data = try? encoder.encode(summary) {
        print(String(decoding: data, as: UTF8.self))
    }
}

/// The 1-minute load average: above the number of cores, something else was competing for them.
func currentLoadAverage() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return 0 }
    return Double(text.split(separator: " ").first ?? "") ?? 0
}

func say(_ text: String) {
    print(text)
    fflush(nil)
}

func fmt(_ value: Double, _ digits: Int = 0) -> String {
    String(format: "%.\(digits)f", value)
}

func fmtThousands(_ value: Double) -> String {
    let n = Int(value.rounded())
    let s = String(abs(n))
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func lpad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

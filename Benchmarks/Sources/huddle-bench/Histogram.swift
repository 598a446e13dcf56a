import NIOCore
import Synchronization

/// A log-linear latency histogram of nanoseconds (HdrHistogram's layout with 64 sub-buckets per
/// power of two: every value is kept within 1.6 %). Fixed size, no allocation per sample,
/// mergeable; one per event loop, never shared between threads while recording.
struct Histogram: Sendable {
    static let subBits = 7
    static let subCount = 1 << subBits
    static let half = subCount / 2
    static let bucketCount = subCount + 58 * half

    private(set) var counts = [UInt64](repeating: 0, count: bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var maxValue: UInt64 = 0
    private(set) var sum: Double = 0

    @inline(__always)
    static func index(_ value: UInt64) -> Int {
        if value < UInt64(subCount) { return Int(value) }
        let msb = 63 - value.leadingZeroBitCount
        let shift = msb - (subBits - 1)
        let top = Int(truncatingIfNeeded: value >> UInt64(shift))
        return Swift.min(subCount + (shift - 1) * half + (top - half), bucketCount - 1)
    }

    /// The middle of a bucket.
    static func value(at index: Int) -> UInt64 {
        if index < subCount { return UInt64(index) }
        let k = index - subCount
        let shift = k / half + 1
        let top = UInt64(k % half + half)
        return (top << UInt64(shift)) + (UInt64(1) << UInt64(shift)) / 2
    }

    @inline(__always)
    mutating func record(_ value: UInt64) {
        counts[Self.index(value)] &+= 1
        total &+= 1
        if value > maxValue { maxValue = value }
        sum += Double(value)
    }

    mutating func merge(_ other: Histogram) {
        for index in 0..<Self.bucketCount { counts[index] &+= other.counts[index] }
        total += other.total
        maxValue = Swift.max(maxValue, other.maxValue)
        sum += other.sum
    }

    /// The smallest recorded value v such that a fraction `q` of the samples are ≤ v.
    func percentile(_ q: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((q * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for index in 0..<Self.bucketCount {
            seen += counts[index]
            if seen >= rank { return Swift.min(Self.value(at: index), maxValue) }
        }
        return maxValue
    }

    var mean: Double { total == 0 ? 0 : sum / Double(total) }
}

/// What the subscribers of one event loop saw. `delivered` is read by other threads (the
/// publisher's window, the orchestrator); the histogram only on the loop itself.
final class LoopStats: @unchecked Sendable {
    let loop: any EventLoop
    let delivered = Atomic<Int>(0)
    /// Loop-confined.
    var histogram = Histogram()

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// Resets the histogram (on the loop, so no sample is half-recorded).
    func resetHistogram() async throws {
        try await loop.submit { self.histogram = Histogram() }.get()
    }

    func snapshotHistogram() async throws -> Histogram {
        try await loop.submit { self.histogram }.get()
    }
}

/// The subscribers' loops together.
struct Fleet: Sendable {
    let stats: [LoopStats]

    var delivered: Int {
        stats.reduce(0) { $0 + $1.delivered.load(ordering: .relaxed) }
    }

    func resetHistograms() async throws {
        for s in stats { try await s.resetHistogram() }
    }

    func histogram() async throws -> Histogram {
        var merged = Histogram()
        for s in stats { merged.merge(try await s.snapshotHistogram()) }
        return merged
    }
}

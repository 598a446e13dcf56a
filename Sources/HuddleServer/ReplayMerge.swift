import HuddleProtocol
import HuddleStore

/// The streams of one replay, read a piece at a time and merged into the order they are sent
/// in: each stream in seq order, the two streams interleaved by time (the team stream first on a
/// tie). A line is sent only once the next line of every other unfinished stream is known, so
/// what is left of a piece waits for the next read of the stream that ran out.
struct ReplayMerge: Sendable {
    struct Stream: Sendable {
        var stream: EventStream
        /// The last seq read.
        var cursor: Int64
        var through: Int64
        var lines = StoredLines()
        /// The first line of `lines` not sent yet.
        var next = 0

        var buffered: Bool { next < lines.count }
        var needsRead: Bool { !buffered && cursor < through }
        var done: Bool { !buffered && cursor >= through }
    }

    /// The team stream first: it wins ties.
    var streams: [Stream]

    init(ranges: [(stream: EventStream, after: Int64, through: Int64)]) {
        streams = ranges.map { Stream(stream: $0.stream, cursor: $0.after, through: $0.through) }
    }

    /// Lines already read, as whole streams (for `interleave`).
    init(read: [StoredLines]) {
        streams = read.map { lines in
            Stream(stream: .team, cursor: lines.seqs.last ?? 0, through: lines.seqs.last ?? 0, lines: lines)
        }
    }

    var finished: Bool { streams.allSatisfy(\.done) }

    /// What to read next: the streams whose lines ran out, from where they stopped.
    var wanted: [(stream: EventStream, after: Int64, through: Int64)] {
        streams.filter(\.needsRead).map { ($0.stream, $0.cursor, $0.through) }
    }

    /// Takes the pieces read for `wanted`, in its order. False when one of them misses a seq
    /// (history pruned meanwhile): the replay cannot be complete.
    mutating func add(_ pieces: [StoredLines]) -> Bool {
        var piece = pieces.makeIterator()
        for index in streams.indices where streams[index].needsRead {
            guard let lines = piece.next(), let last = lines.seqs.last, lines.isUnbroken(after: streams[index].cursor),
                last <= streams[index].through
            else { return false }
            streams[index].lines = lines
            streams[index].next = 0
            streams[index].cursor = last
        }
        return true
    }

    /// Every line that can be sent now, in order.
    mutating func take() -> [UInt8] {
        // One stream with a whole piece unsent (every replay of an agent): its bytes as read.
        let open = streams.indices.filter { !streams[$0].done }
        if open.count == 1, streams[open[0]].next == 0, streams[open[0]].buffered {
            streams[open[0]].next = streams[open[0]].lines.count
            return streams[open[0]].lines.bytes
        }
        var out: [UInt8] = []
        out.reserveCapacity(streams.reduce(0) { $0 + $1.lines.bytes.count })
        while !streams.contains(where: \.needsRead) {
            var best: Int?
            for index in streams.indices where streams[index].buffered {
                let at = streams[index].lines.ats[streams[index].next]
                if let chosen = best, streams[chosen].lines.ats[streams[chosen].next] <= at { continue }
                best = index
            }
            guard let best else { break }
            out.append(contentsOf: streams[best].lines.line(streams[best].next))
            streams[best].next += 1
        }
        return out
    }
}

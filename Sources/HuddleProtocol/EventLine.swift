/// The lines of the commonest events (`status`, `coverage`, `presence`, `message`) written
/// straight from the typed payload, keys in the sorted order `JSONWriter` gives an object: the
/// same bytes as `RPCFrame.notification("event", event.params)` without building the
/// dictionaries. Every status change makes one or two of these, encoded on the commit path.
struct EventLine {
    static func encode(_ event: Event) -> [UInt8]? {
        var line = EventLine()
        switch event.payload {
        case .status(let change):
            line.time("at", event.at)
            line.string("by", change.by)
            if let until = change.expectedUntil { line.time("expected_until", until) }
            line.string("note", change.note)
            line.int("seq", event.seq)
            line.time("since", change.since)
            line.string("status", change.status.rawValue)
            line.streamTeamType(event)
            line.string("user", change.user)
        case .coverage(let figures):
            line.time("at", event.at)
            line.int("available", figures.available)
            line.int("max_on_break", figures.maxOnBreak)
            line.int("on_break", figures.onBreak)
            line.int("on_call", figures.onCall)
            line.int("required", figures.required)
            if figures.requiredFrom != nil, let from = figures.json["required_from"] {
                line.key("required_from")
                line.write(from)
            }
            line.int("seq", event.seq)
            line.string("state", figures.state.rawValue)
            line.streamTeamType(event)
        case let .presence(user, connected):
            line.time("at", event.at)
            line.key("connected")
            line.write(.bool(connected))
            line.int("seq", event.seq)
            line.streamTeamType(event)
            line.string("user", user)
        case let .message(user, text):
            line.time("at", event.at)
            line.int("seq", event.seq)
            line.string("stream", event.stream.rawValue)
            line.string("team", event.team)
            line.string("text", text)
            line.string("type", event.payload.type)
            line.string("user", user)
        default:
            return nil
        }
        line.out.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: "}"), 0x0A])
        return line.out
    }

    private var out: [UInt8] = []
    private var first = true

    private init() {
        out.reserveCapacity(256)
        append(#"{"jsonrpc":"2.0","method":"event","params":{"#)
    }

    private mutating func append(_ literal: StaticString) {
        literal.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    private mutating func write(_ value: JSONValue) {
        JSONWriter.write(value, into: &out)
    }

    /// A key that needs no escaping, and its colon.
    private mutating func key(_ name: StaticString) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        out.append(UInt8(ascii: "\""))
        append(name)
        out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    private mutating func string(_ name: StaticString, _ value: String) {
        key(name)
        JSONWriter.writeString(value, into: &out)
    }

    private mutating func int(_ name: StaticString, _ value: some BinaryInteger) {
        key(name)
        JSONWriter.writeInt(Int64(value), into: &out)
    }

    private mutating func time(_ name: StaticString, _ value: Timestamp) {
        string(name, value.rfc3339)
    }

    /// `stream`, `team` and `type`: in this order, between `status`/`state`/`seq` and `user`, in
    /// every kind but `message` (whose `text` sorts between `team` and `type`).
    private mutating func streamTeamType(_ event: Event) {
        string("stream", event.stream.rawValue)
        string("team", event.team)
        string("type", event.payload.type)
    }
}

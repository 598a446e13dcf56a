/// A bot's (or supervisor's) report on the call queue (`queue.report`, SPEC §3 and §5).
public struct QueueReport: Sendable, Equatable {
    public struct NodeOut: Sendable, Equatable {
        public var node: String
        public var city: String

        public init(node: String, city: String) {
            self.node = node
            self.city = city
        }
    }

    public var by: String
    public var at: Timestamp
    public var callsWaiting: Int64
    public var oldestWaitSeconds: Int64
    public var callsPerHour: Double?
    public var ahtSeconds: Double?
    public var nodesOut: [NodeOut]
    public var note: String
    /// The team's state after this report, with hysteresis applied (see `HuddleCore`).
    public var pressure: Bool
    public var nodeOutage: Bool

    public init(
        by: String, at: Timestamp, callsWaiting: Int64, oldestWaitSeconds: Int64, callsPerHour: Double? = nil,
        ahtSeconds: Double? = nil, nodesOut: [NodeOut] = [], note: String = "", pressure: Bool = false,
        nodeOutage: Bool = false
    ) {
        self.by = by
        self.at = at
        self.callsWaiting = callsWaiting
        self.oldestWaitSeconds = oldestWaitSeconds
        self.callsPerHour = callsPerHour
        self.ahtSeconds = ahtSeconds
        self.nodesOut = nodesOut
        self.note = note
        self.pressure = pressure
        self.nodeOutage = nodeOutage
    }

    /// Reads the report fields of `queue.report` params (or the HTTP body); `team` is not read here.
    public init(params: Params, by: String, at: Timestamp) throws(RPCError) {
        self.by = by
        self.at = at
        callsWaiting = try params.int("calls_waiting", in: 0...1_000_000)
        oldestWaitSeconds = try params.int("oldest_wait_s", in: 0...10_000_000)
        callsPerHour = try Self.number(params, "calls_per_hour", allowZero: true)
        ahtSeconds = try Self.number(params, "aht_s", allowZero: false)
        var nodes: [NodeOut] = []
        if let value = params["nodes_out"], value != .null {
            guard let list = value.arrayValue, list.count <= 1000 else {
                throw .invalidParam("nodes_out", "nodes_out must be a list of {node, city}")
            }
            for (index, item) in list.enumerated() {
                guard let node = item["node"]?.stringValue, let city = item["city"]?.stringValue else {
                    throw .invalidParam("nodes_out[\(index)]", "each node out needs a node and a city")
                }
                nodes.append(
                    NodeOut(
                        node: try TextRules.check(node, param: "nodes_out[\(index)].node", maxScalars: 64, allowEmpty: false),
                        city: try TextRules.check(city, param: "nodes_out[\(index)].city", maxScalars: 64, allowEmpty: false)))
            }
        }
        nodesOut = nodes
        note = try TextRules.check(
            params.optionalString("note") ?? "", param: "note", maxScalars: TextRules.maxNoteScalars, allowEmpty: true)
        pressure = false
        nodeOutage = false
    }

    static func number(_ params: Params, _ key: String, allowZero: Bool) throws(RPCError) -> Double? {
        guard let value = params[key], value != .null else { return nil }
        guard let number = value.doubleValue, number.isFinite, allowZero ? number >= 0 : number > 0, number <= 1_000_000
        else {
            throw .invalidParam(key, "\(key) must be a number \(allowZero ? "from 0" : "above 0") to 1000000")
        }
        return number
    }

    var nodesJSON: JSONValue {
        .array(nodesOut.map { ["node": .string($0.node), "city": .string($0.city)] })
    }

    /// The `queue` event's fields.
    public var eventFields: [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "by": .string(by), "calls_waiting": .int(callsWaiting), "oldest_wait_s": .int(oldestWaitSeconds),
            "nodes_out": nodesJSON, "note": .string(note), "pressure": .bool(pressure), "node_outage": .bool(nodeOutage),
        ]
        if let callsPerHour { fields["calls_per_hour"] = .double(callsPerHour) }
        if let ahtSeconds { fields["aht_s"] = .double(ahtSeconds) }
        return fields
    }

    /// What a snapshot's `queue` shows: the same, and when it came.
    public var json: JSONValue {
        var fields = eventFields
        fields["at"] = at.json
        return .object(fields)
    }

    /// The `queue` of a denial's data.
    public var denialJSON: JSONValue {
        ["calls_waiting": .int(callsWaiting), "oldest_wait_s": .int(oldestWaitSeconds), "nodes_out": nodesJSON]
    }

    public init?(json: JSONValue) {
        guard let by = json["by"]?.stringValue, let at = json["at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
            let waiting = json["calls_waiting"]?.intValue, let oldest = json["oldest_wait_s"]?.intValue
        else { return nil }
        self.init(
            by: by, at: at, callsWaiting: waiting, oldestWaitSeconds: oldest,
            callsPerHour: json["calls_per_hour"]?.doubleValue, ahtSeconds: json["aht_s"]?.doubleValue,
            nodesOut: json["nodes_out"]?.arrayValue?.compactMap { item in
                guard let node = item["node"]?.stringValue, let city = item["city"]?.stringValue else { return nil }
                return NodeOut(node: node, city: city)
            } ?? [],
            note: json["note"]?.stringValue ?? "", pressure: json["pressure"]?.boolValue ?? false,
            nodeOutage: json["node_outage"]?.boolValue ?? false)
    }
}

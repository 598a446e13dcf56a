/// A team's coverage policy (SPEC §3) and its exact wire shape.
public struct Policy: Sendable, Equatable {
    public enum MinAvailable: Sendable, Equatable {
        case fixed(Int64)
        case auto
    }

    public var minAvailable: MinAvailable = .fixed(2)
    public var maxOnBreak: Int64 = 2
    public var limits: [Status: Int64] = Dictionary(
        uniqueKeysWithValues: Status.limited.map { ($0, $0.defaultLimitSeconds!) })
    public var overdueGraceS: Int64 = 120
    public var queuePressureCallsWaiting: Int64 = 10
    public var queuePressureOldestWaitS: Int64 = 300
    public var escalateAfterS: Int64 = 300
    public var ghostAfterS: Int64 = 120
    /// `coverage_breach` when a team has been in breach this long, whatever the cause (SPEC §12).
    public var coverageBreachAfterS: Int64 = 60
    public var presenceGraceS: Int64 = 10
    public var queueReportEveryS: Int64? = nil
    /// Who reports the queue (SPEC §14): with `agents`, the daemon asks one agent each time.
    public var queueReportBy: QueueReportBy = .bots
    /// How long an asked agent has to answer before the next one is asked.
    public var queueReportGraceS: Int64 = 300
    public var serviceLevelTarget: Double = 0.8
    public var serviceLevelWithinS: Int64 = 20
    public var shrinkageFloor: Int64 = 1
    /// The phone rules (SPEC §10), under `calls`.
    public var calls = Calls()
    /// Read-only on the wire: set by the daemon when a version is stored.
    public var version: Int64 = 1

    public init() {}

    /// `calls.*`: what a phone-system bridge's call states set off.
    public struct Calls: Sendable, Equatable {
        /// After Call Work by `system` when a call ends while the agent is `available`.
        public var acwAfterCall = true
        /// A reminder to the agent every this many seconds of a hold.
        public var holdCheckinS: Int64 = 150
        /// `long_hold` for supervisors past this many seconds of a hold.
        public var holdAlertAfterS: Int64 = 600
        /// One reminder to use hold instead, after this many seconds muted.
        public var muteRemindAfterS: Int64 = 30
        /// Offline with the phone still logged in this long: a reminder and `phone_still_logged_in`.
        public var phoneLogoutGraceS: Int64 = 300

        public init() {}

        var json: JSONValue {
            [
                "acw_after_call": .bool(acwAfterCall), "hold_checkin_s": .int(holdCheckinS),
                "hold_alert_after_s": .int(holdAlertAfterS), "mute_remind_after_s": .int(muteRemindAfterS),
                "phone_logout_grace_s": .int(phoneLogoutGraceS),
            ]
        }

        func merging(_ value: JSONValue, path: String) throws(RPCError) -> Calls {
            var c = self
            for (name, v) in try Policy.object(value, path).sorted(by: { $0.key < $1.key }) {
                let key = "\(path).\(name)"
                switch name {
                case "acw_after_call":
                    guard case .bool(let on) = v else { throw .invalidParam(key, "\(key) must be true or false") }
                    c.acwAfterCall = on
                case "hold_checkin_s": c.holdCheckinS = try Policy.integer(v, key, min: 1)
                case "hold_alert_after_s": c.holdAlertAfterS = try Policy.integer(v, key, min: 1)
                case "mute_remind_after_s": c.muteRemindAfterS = try Policy.integer(v, key, min: 1)
                case "phone_logout_grace_s": c.phoneLogoutGraceS = try Policy.integer(v, key, min: 1)
                default: throw .invalidParam(key, "unknown key \(key)")
                }
            }
            return c
        }
    }

    public func limit(for status: Status) -> Int64? {
        limits[status]
    }

    public var json: JSONValue {
        let minAvailableJSON: JSONValue =
            switch minAvailable {
            case .fixed(let n): .int(n)
            case .auto: "auto"
            }
        var limitsJSON: [String: JSONValue] = [:]
        for (status, seconds) in limits { limitsJSON[status.rawValue] = .int(seconds) }
        return [
            "min_available": minAvailableJSON,
            "max_on_break": .int(maxOnBreak),
            "limits": .object(limitsJSON),
            "overdue_grace_s": .int(overdueGraceS),
            "queue_pressure": ["calls_waiting": .int(queuePressureCallsWaiting), "oldest_wait_s": .int(queuePressureOldestWaitS)],
            "wellbeing": ["escalate_after_s": .int(escalateAfterS)],
            "ghost_after_s": .int(ghostAfterS),
            "coverage_breach_after_s": .int(coverageBreachAfterS),
            "presence_grace_s": .int(presenceGraceS),
            "queue_report_every_s": queueReportEveryS.map(JSONValue.int) ?? .null,
            "queue_report_by": .string(queueReportBy.rawValue),
            "queue_report_grace_s": .int(queueReportGraceS),
            "service_level": ["target": .double(serviceLevelTarget), "within_s": .int(serviceLevelWithinS)],
            "shrinkage_floor": .int(shrinkageFloor),
            "calls": calls.json,
            "version": .int(version),
        ]
    }

    /// Applies a partial policy (`policy.set`): only the keys present change, nested objects merge
    /// key by key. Unknown keys, wrong types and out-of-range values throw -32602 with the dotted
    /// path of the offending key under `root` (`policy.wellbeing.hugs`).
    public func merging(_ patch: [String: JSONValue], root: String = "policy", allowVersion: Bool = false)
        throws(RPCError) -> Policy
    {
        var p = self
        // Sorted, so that with several bad keys the same one is reported every time.
        for (key, value) in patch.sorted(by: { $0.key < $1.key }) {
            let path = "\(root).\(key)"
            switch key {
            case "min_available":
                if value == .string("auto") {
                    p.minAvailable = .auto
                } else {
                    p.minAvailable = .fixed(try Self.integer(value, path, min: 0))
                }
            case "max_on_break": p.maxOnBreak = try Self.integer(value, path, min: 0)
            case "limits":
                let object = try Self.object(value, path)
                for (name, seconds) in object.sorted(by: { $0.key < $1.key }) {
                    guard let status = Status(rawValue: name), status.defaultLimitSeconds != nil else {
                        throw .invalidParam("\(path).\(name)", "unknown key \(path).\(name)")
                    }
                    p.limits[status] = try Self.integer(seconds, "\(path).\(name)", min: 1)
                }
            case "overdue_grace_s": p.overdueGraceS = try Self.integer(value, path, min: 1)
            case "queue_pressure":
                for (name, v) in try Self.object(value, path).sorted(by: { $0.key < $1.key }) {
                    switch name {
                    case "calls_waiting": p.queuePressureCallsWaiting = try Self.integer(v, "\(path).\(name)", min: 1)
                    case "oldest_wait_s": p.queuePressureOldestWaitS = try Self.integer(v, "\(path).\(name)", min: 1)
                    default: throw .invalidParam("\(path).\(name)", "unknown key \(path).\(name)")
                    }
                }
            case "wellbeing":
                for (name, v) in try Self.object(value, path).sorted(by: { $0.key < $1.key }) {
                    guard name == "escalate_after_s" else {
                        throw .invalidParam("\(path).\(name)", "unknown key \(path).\(name)")
                    }
                    p.escalateAfterS = try Self.integer(v, "\(path).\(name)", min: 1)
                }
            case "ghost_after_s": p.ghostAfterS = try Self.integer(value, path, min: 1)
            case "coverage_breach_after_s": p.coverageBreachAfterS = try Self.integer(value, path, min: 0)
            case "presence_grace_s": p.presenceGraceS = try Self.integer(value, path, min: 1)
            case "queue_report_every_s":
                p.queueReportEveryS = value == .null ? nil : try Self.integer(value, path, min: 1)
            case "queue_report_by":
                guard let by = value.stringValue.flatMap(QueueReportBy.init(rawValue:)) else {
                    throw .invalidParam(path, "\(path) must be \"bots\" or \"agents\"")
                }
                p.queueReportBy = by
            case "queue_report_grace_s": p.queueReportGraceS = try Self.integer(value, path, min: 1)
            case "service_level":
                for (name, v) in try Self.object(value, path).sorted(by: { $0.key < $1.key }) {
                    switch name {
                    case "target":
                        guard let t = v.doubleValue, t > 0, t < 1 else {
                            throw .invalidParam("\(path).\(name)", "\(path).\(name) must be a number between 0 and 1")
                        }
                        p.serviceLevelTarget = t
                    case "within_s": p.serviceLevelWithinS = try Self.integer(v, "\(path).\(name)", min: 1)
                    default: throw .invalidParam("\(path).\(name)", "unknown key \(path).\(name)")
                    }
                }
            case "shrinkage_floor": p.shrinkageFloor = try Self.integer(value, path, min: 0)
            case "calls": p.calls = try p.calls.merging(value, path: path)
            case "version" where allowVersion: p.version = try Self.integer(value, path, min: 1)
            case "version": throw .invalidParam(path, "\(path) is read-only")
            default: throw .invalidParam(path, "unknown key \(path)")
            }
        }
        return p
    }

    /// Reads a complete stored policy (every key present, `version` included).
    public static func decode(_ value: JSONValue) throws(RPCError) -> Policy {
        guard case .object(let object) = value else { throw .invalidParam("policy", "policy must be an object") }
        return try Policy().merging(object, allowVersion: true)
    }

    static func integer(_ value: JSONValue, _ path: String, min: Int64) throws(RPCError) -> Int64 {
        guard let i = value.intValue, value != .bool(true), value != .bool(false) else {
            throw .invalidParam(path, "\(path) must be a whole number")
        }
        guard i >= min, i <= 1_000_000_000 else {
            throw .invalidParam(path, "\(path) must be between \(min) and 1000000000")
        }
        return i
    }

    static func object(_ value: JSONValue, _ path: String) throws(RPCError) -> [String: JSONValue] {
        guard case .object(let o) = value else { throw .invalidParam(path, "\(path) must be an object") }
        return o
    }
}

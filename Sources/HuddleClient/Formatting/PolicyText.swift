import HuddleProtocol

/// Why `KEY=VALUE` arguments could not become a policy change.
public struct PolicyAssignmentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// `huddle policy set` arguments: `max_on_break=1 limits.break=600 wellbeing.escalate_after_s=120`
/// become the partial policy `policy.set` takes, `{"max_on_break": 1, "limits": {"break": 600},
/// "wellbeing": {"escalate_after_s": 120}}`.
///
/// Keys are dotted paths of letters, digits and `_`. Values are whole numbers, decimals (`0.9`),
/// `auto`, `null`, `true` or `false`; nothing else, so a typo never travels as a string. Which
/// keys exist and what range they take is the server's to say.
public enum PolicyAssignments {
    public static func parse(_ words: [String]) throws(PolicyAssignmentError) -> [String: JSONValue] {
        guard !words.isEmpty else { throw PolicyAssignmentError("nothing to change: give KEY=VALUE, e.g. max_on_break=1") }
        var patch: [String: JSONValue] = [:]
        for word in words {
            guard let equals = word.firstIndex(of: "=") else {
                throw PolicyAssignmentError("'\(shown(word))' is not KEY=VALUE (e.g. limits.break=600)")
            }
            let key = String(word[..<equals])
            let text = String(word[word.index(after: equals)...])
            let path = try self.path(key)
            guard let value = value(text) else {
                throw PolicyAssignmentError(
                    "\(key): '\(shown(text))' is not a value; use a whole number, a decimal (0.9), auto, null, true or false")
            }
            try insert(value, at: path[...], into: &patch, key: key)
        }
        return patch
    }

    /// The segments of a dotted key.
    static func path(_ key: String) throws(PolicyAssignmentError) -> [String] {
        guard !key.isEmpty else { throw PolicyAssignmentError("a key is missing before '='") }
        let segments = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        for segment in segments {
            guard !segment.isEmpty else { throw PolicyAssignmentError("'\(shown(key))' has an empty part between dots") }
            guard segment.unicodeScalars.allSatisfy({ isKeyScalar($0) }) else {
                throw PolicyAssignmentError(
                    "'\(shown(key))' is not a policy key: use letters, digits and _ separated by dots (e.g. limits.break)")
            }
        }
        return segments
    }

    static func isKeyScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_": true
        default: false
        }
    }

    /// The JSON a value text stands for, or nil.
    public static func value(_ text: String) -> JSONValue? {
        switch text {
        case "auto": return .string("auto")
        // `queue_report_by` (SPEC §14); the server says which key takes which word.
        case "bots", "agents": return .string(text)
        case "null": return .null
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: break
        }
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count),
            parts.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy { ("0"..."9").contains($0) } })
        else { return nil }
        if parts.count == 1 {
            return Int64(text).map(JSONValue.int)
        }
        return Double(text).map(JSONValue.double)
    }

    private static func insert(
        _ value: JSONValue, at path: ArraySlice<String>, into object: inout [String: JSONValue], key: String
    ) throws(PolicyAssignmentError) {
        guard let head = path.first else { return }
        let rest = path.dropFirst()
        if rest.isEmpty {
            switch object[head] {
            case nil: break
            case .object?: throw PolicyAssignmentError("\(key) is given a value and also has keys set inside it")
            default: throw PolicyAssignmentError("\(key) is given more than once")
            }
            object[head] = value
            return
        }
        var inner: [String: JSONValue]
        switch object[head] {
        case nil: inner = [:]
        case .object(let existing)?: inner = existing
        default:
            let prefix = key.split(separator: ".").prefix(path.startIndex + 1).joined(separator: ".")
            throw PolicyAssignmentError("\(prefix) is given a value and also has \(key) set inside it")
        }
        try insert(value, at: rest, into: &inner, key: key)
        object[head] = .object(inner)
    }

    static func shown(_ text: String) -> String {
        TextRules.sanitizedForTerminal(text)
    }
}

/// How a policy reads on a terminal: one dotted key per line, and what changed between versions.
public enum PolicyText {
    /// Every leaf of the policy as `(dotted key, value)`, sorted by key; `version` is left out.
    public static func flatten(_ policy: JSONValue) -> [(key: String, value: JSONValue)] {
        var out: [(key: String, value: JSONValue)] = []
        func walk(_ value: JSONValue, _ prefix: String) {
            if case .object(let object) = value, !(object.isEmpty && !prefix.isEmpty) {
                for (key, inner) in object {
                    if prefix.isEmpty && key == "version" { continue }
                    walk(inner, prefix.isEmpty ? key : prefix + "." + key)
                }
            } else {
                out.append((prefix, value))
            }
        }
        walk(policy, "")
        return out.sorted { $0.key < $1.key }
    }

    /// A value as `KEY=VALUE` takes it back: `900`, `0.8`, `auto`, `null`, `true`.
    public static func render(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .string(let s): TextRules.sanitizedForTerminal(s)
        case .array, .object: TextRules.sanitizedForTerminal(JSONText.line(value))
        }
    }

    /// `limits.break          900  (15m)`: key, value, and for durations the time it reads as.
    public static func lines(_ policy: JSONValue) -> [String] {
        let rows = flatten(policy).map { entry -> [String] in
            var row = [TextRules.sanitizedForTerminal(entry.key), render(entry.value)]
            if isDuration(entry.key), let seconds = entry.value.intValue, seconds >= 60 {
                row.append("(\(DurationText.short(seconds: seconds)))")
            }
            return row
        }
        guard !rows.isEmpty else { return [] }
        return TextTable.render(rows).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// `max_on_break: 2 → 1` for each key that differs, sorted by key; a key only one side has
    /// shows `(none)` on the other.
    public static func changes(from old: JSONValue, to new: JSONValue) -> [String] {
        let before = Dictionary(flatten(old).map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(flatten(new).map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        return Set(before.keys).union(after.keys).sorted().compactMap { key in
            let was = before[key]
            let now = after[key]
            guard !same(was, now) else { return nil }
            let shownKey = TextRules.sanitizedForTerminal(key)
            return "\(shownKey): \(was.map(render) ?? "(none)") → \(now.map(render) ?? "(none)")"
        }
    }

    /// Equal values, counting `1` and `1.0` as the same.
    static func same(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
        if a == b { return true }
        if let x = a?.doubleValue, let y = b?.doubleValue, a?.boolValue == nil, b?.boolValue == nil { return x == y }
        return false
    }

    /// Keys measured in seconds: `limits.*` and anything ending in `_s`.
    static func isDuration(_ key: String) -> Bool {
        key.hasPrefix("limits.") || key.hasSuffix("_s")
    }
}

/// `huddle policy history`: each version with when, by whom and why, then what it changed from
/// the version before it.
public enum PolicyHistoryText {
    /// Oldest first, e.g.
    /// ```
    /// v2  2026-11-23 09:15  sam  "Two agents out sick today"
    ///     max_on_break: 2 → 1
    /// ```
    /// `clock` renders the time in the viewer's zone.
    public static func render(_ versions: [PolicyVersion], clock: (Timestamp) -> String) -> String {
        guard !versions.isEmpty else { return "No policy versions." }
        var lines: [String] = []
        var previous: JSONValue?
        for version in versions.sorted(by: { $0.version < $1.version }) {
            var head = "v\(version.version)  \(version.at.map(clock) ?? "?")  \(clean(version.by))"
            if !version.comment.isEmpty { head += "  \"\(clean(version.comment))\"" }
            lines.append(head)
            if let previous {
                let changes = PolicyText.changes(from: previous, to: version.policy)
                lines += changes.isEmpty ? ["    (no value changed)"] : changes.map { "    " + $0 }
            }
            previous = version.policy
        }
        return lines.joined(separator: "\n")
    }

    static func clean(_ text: String) -> String {
        TextRules.sanitizedForTerminal(text)
    }
}

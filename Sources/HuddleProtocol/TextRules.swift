/// Checks on human text (notes, messages): one line, bounded length in Unicode scalars, no control
/// characters, no bidirectional overrides (which can make a note read differently than it is).
public enum TextRules {
    public static let maxNoteScalars = 140
    public static let maxMessageScalars = 500
    public static let maxCommentScalars = 500

    public static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0 and C1 controls, DEL
        case 0x2028, 0x2029: return true  // line and paragraph separators
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: return true  // bidi controls
        default: return false
        }
    }

    /// Returns the text when it is acceptable, or throws -32012 naming `param`.
    public static func check(_ text: String, param: String, maxScalars: Int, allowEmpty: Bool) throws(RPCError)
        -> String
    {
        if !allowEmpty && text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) {
            throw RPCError(.invalidText, "\(param) is empty", data: ["param": .string(param), "reason": "empty"])
        }
        var count = 0
        for scalar in text.unicodeScalars {
            count += 1
            if isForbidden(scalar) {
                throw RPCError(
                    .invalidText, "\(param) contains a control or bidirectional-override character",
                    data: ["param": .string(param), "reason": "forbidden_character"])
            }
        }
        if count > maxScalars {
            throw RPCError(
                .invalidText, "\(param) is longer than \(maxScalars) characters",
                data: ["param": .string(param), "reason": "too_long", "max": .int(Int64(maxScalars))])
        }
        return text
    }

    /// Replaces anything a terminal could interpret (escape sequences, controls, bidi overrides)
    /// with U+FFFD, for display of other people's text.
    public static func sanitizedForTerminal(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            out.append(isForbidden(scalar) ? "\u{FFFD}" : scalar)
        }
        return String(out)
    }
}

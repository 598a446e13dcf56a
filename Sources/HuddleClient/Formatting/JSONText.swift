import HuddleProtocol

/// JSON for `--json` output: what `JSONWriter` writes, with every scalar a terminal could act on
/// (C1 controls, bidirectional overrides, line separators) escaped as `\uXXXX`, so a script
/// reads the same text and a human who forgot to pipe the output sees nothing reordered.
public enum JSONText {
    public static func line(_ value: JSONValue) -> String {
        let encoded = String(decoding: JSONWriter.encode(value), as: UTF8.self)
        var out = String.UnicodeScalarView()
        for scalar in encoded.unicodeScalars {
            // Outside strings JSON is ASCII, so any such scalar is inside a string, where an
            // escape means the same character. All of them are in the Basic Multilingual Plane.
            if TextRules.isForbidden(scalar) {
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}

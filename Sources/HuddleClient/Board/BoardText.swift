import HuddleProtocol

/// How a run of board text looks. Colours are the basic ANSI ones, so they read on any terminal.
public struct BoardStyle: Sendable, Hashable {
    public enum Color: Sendable, Hashable {
        case none
        case green
        case amber
        case red
    }

    public var color: Color
    public var bold: Bool
    public var dim: Bool
    public var inverse: Bool

    public init(color: Color = .none, bold: Bool = false, dim: Bool = false, inverse: Bool = false) {
        self.color = color
        self.bold = bold
        self.dim = dim
        self.inverse = inverse
    }

    public static let plain = BoardStyle()
    public static let bold = BoardStyle(bold: true)
    public static let dim = BoardStyle(dim: true)
    public static let inverse = BoardStyle(inverse: true)
    public static let green = BoardStyle(color: .green)
    public static let amber = BoardStyle(color: .amber)
    public static let red = BoardStyle(color: .red)

    public func with(bold: Bool? = nil, dim: Bool? = nil, inverse: Bool? = nil) -> BoardStyle {
        BoardStyle(color: color, bold: bold ?? self.bold, dim: dim ?? self.dim, inverse: inverse ?? self.inverse)
    }

    /// The SGR sequence that switches from any style to this one (it starts with a reset).
    public var sgr: String {
        var codes = ["0"]
        if bold { codes.append("1") }
        if dim { codes.append("2") }
        if inverse { codes.append("7") }
        switch color {
        case .none: break
        case .green: codes.append("32")
        case .amber: codes.append("33")
        case .red: codes.append("31")
        }
        return "\u{1B}[" + codes.joined(separator: ";") + "m"
    }
}

/// A run of text in one style. The text must already be safe for a terminal (sanitised).
public struct BoardSpan: Sendable, Equatable {
    public var text: String
    public var style: BoardStyle

    public init(_ text: String, _ style: BoardStyle = .plain) {
        self.text = text
        self.style = style
    }
}

/// One screen row: styled spans, measured in terminal columns.
public struct BoardLine: Sendable, Equatable, ExpressibleByStringLiteral {
    public var spans: [BoardSpan]

    public init(_ spans: [BoardSpan] = []) {
        self.spans = spans.filter { !$0.text.isEmpty }
    }

    public init(_ text: String, _ style: BoardStyle = .plain) {
        self.init([BoardSpan(text, style)])
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// The text without styles.
    public var plain: String { spans.map(\.text).joined() }

    /// Columns on a terminal.
    public var width: Int { spans.reduce(0) { $0 + TerminalWidth.of($1.text) } }

    public mutating func append(_ text: String, _ style: BoardStyle = .plain) {
        guard !text.isEmpty else { return }
        if let last = spans.last, last.style == style {
            spans[spans.count - 1].text += text
        } else {
            spans.append(BoardSpan(text, style))
        }
    }

    public mutating func append(_ line: BoardLine) {
        for span in line.spans { append(span.text, span.style) }
    }

    /// The style of the first span containing `text`, for tests and checks.
    public func style(of text: String) -> BoardStyle? {
        spans.first { $0.text.contains(text) }?.style
    }

    /// At most `width` columns; a line that had to be cut ends with `…`.
    public func fitted(to width: Int) -> BoardLine {
        guard width > 0 else { return BoardLine() }
        guard self.width > width else { return self }
        var out = BoardLine()
        var used = 0
        for span in spans {
            var kept = ""
            for character in span.text {
                let w = TerminalWidth.of(character)
                if used + w > width - 1 {
                    out.append(kept, span.style)
                    out.append("…", span.style)
                    return out
                }
                kept.append(character)
                used += w
            }
            out.append(kept, span.style)
        }
        return out
    }

    /// Filled with spaces in `style` up to `width` columns (after fitting).
    public func padded(to width: Int, _ style: BoardStyle = .plain) -> BoardLine {
        var out = fitted(to: width)
        let missing = width - out.width
        if missing > 0 { out.append(String(repeating: " ", count: missing), style) }
        return out
    }
}

/// How many terminal columns text takes: East Asian wide characters and emoji take two,
/// combining marks none, everything else one.
public enum TerminalWidth {
    public static func of(_ text: String) -> Int {
        text.reduce(0) { $0 + of($1) }
    }

    public static func of(_ character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if first.value < 0x20 || (0x7F..<0xA0).contains(first.value) { return 0 }
        if isZeroWidth(first) { return 0 }
        if isWide(first.value) || first.properties.isEmojiPresentation { return 2 }
        // A text-default emoji asked to show as emoji (U+FE0F) is drawn two columns wide.
        if first.properties.isEmoji && scalars.contains(where: { $0.value == 0xFE0F }) { return 2 }
        return 1
    }

    static func isZeroWidth(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return scalar.value != 0x00AD
        default: return scalar.value == 0x200B
        }
    }

    static func isWide(_ value: UInt32) -> Bool {
        switch value {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF,
            0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19,
            0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF,
            0x20000...0x2FFFD, 0x30000...0x3FFFD:
            return true
        default:
            return false
        }
    }
}

/// Turns rendered lines into what is written to the terminal, all at once: each row is placed
/// with an absolute cursor move and cleared to its end only when it is shorter than the screen
/// (clearing after a full row would erase its last column on many terminals). Nothing scrolls.
public enum BoardFrame {
    /// Alternate screen on, cursor hidden, screen cleared.
    public static let enter = "\u{1B}[?1049h\u{1B}[?25l\u{1B}[0m\u{1B}[H\u{1B}[2J"
    /// Attributes reset, cursor shown, alternate screen off (the shell's screen comes back).
    public static let leave = "\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l"

    /// `clear` erases the whole screen first (after a resize, when old rows may be anywhere).
    public static func encode(_ lines: [BoardLine], width: Int, clear: Bool = false) -> String {
        var out = "\u{1B}[?25l"
        if clear { out += "\u{1B}[0m\u{1B}[2J" }
        for (index, line) in lines.enumerated() {
            out += "\u{1B}[\(index + 1);1H"
            let fitted = line.fitted(to: width)
            for span in fitted.spans {
                out += span.style.sgr + span.text
            }
            out += BoardStyle.plain.sgr
            if fitted.width < width { out += "\u{1B}[K" }
        }
        return out
    }
}

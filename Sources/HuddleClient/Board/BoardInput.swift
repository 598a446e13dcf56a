import HuddleProtocol

/// A key as the board understands it.
public enum BoardKey: Sendable, Equatable {
    case character(Character)
    case enter
    case escape
    case backspace
    case up
    case down
    /// Ctrl-C (the terminal is raw, so it arrives as a byte, not as SIGINT).
    case interrupt
    /// Ctrl-D.
    case endOfInput
    /// Ctrl-L.
    case redraw
    case other
}

/// Turns the bytes a raw terminal sends into keys: UTF-8 characters, control keys and the
/// arrow-key escape sequences. A sequence cut between two reads is completed by the next one; a
/// lone ESC at the end of a read is the Escape key.
public struct BoardKeyDecoder: Sendable {
    var pending: [UInt8] = []

    public init() {}

    public mutating func decode(_ bytes: [UInt8]) -> [BoardKey] {
        let input = pending + bytes
        pending = []
        var keys: [BoardKey] = []
        var index = 0
        while index < input.count {
            let byte = input[index]
            switch byte {
            case 0x1B:
                guard index + 1 < input.count else {
                    keys.append(.escape)
                    index += 1
                    continue
                }
                let introducer = input[index + 1]
                guard introducer == UInt8(ascii: "[") || introducer == UInt8(ascii: "O") else {
                    keys.append(.escape)
                    index += 1
                    continue
                }
                // CSI / SS3: parameters, then one final byte in 0x40...0x7E.
                var end = index + 2
                while end < input.count, !(0x40...0x7E).contains(input[end]) { end += 1 }
                guard end < input.count else {
                    pending = Array(input[index...])
                    return keys
                }
                switch input[end] {
                case UInt8(ascii: "A"): keys.append(.up)
                case UInt8(ascii: "B"): keys.append(.down)
                default: keys.append(.other)
                }
                index = end + 1
            case 0x0D, 0x0A:
                keys.append(.enter)
                index += 1
            case 0x7F, 0x08:
                keys.append(.backspace)
                index += 1
            case 0x03:
                keys.append(.interrupt)
                index += 1
            case 0x04:
                keys.append(.endOfInput)
                index += 1
            case 0x0C:
                keys.append(.redraw)
                index += 1
            case 0x00..<0x20:
                keys.append(.other)
                index += 1
            default:
                let length = Self.sequenceLength(byte)
                guard length > 0 else {
                    keys.append(.other)
                    index += 1
                    continue
                }
                guard index + length <= input.count else {
                    pending = Array(input[index...])
                    return keys
                }
                let text = String(decoding: input[index..<(index + length)], as: UTF8.self)
                if let character = text.first, text.unicodeScalars.allSatisfy({ $0 != "\u{FFFD}" }) {
                    keys.append(.character(character))
                } else {
                    keys.append(.other)
                }
                index += length
            }
        }
        return keys
    }

    /// Bytes in the UTF-8 sequence this lead byte starts; 0 for a byte that cannot lead one.
    static func sequenceLength(_ lead: UInt8) -> Int {
        switch lead {
        case 0x00..<0x80: 1
        case 0xC2..<0xE0: 2
        case 0xE0..<0xF0: 3
        case 0xF0..<0xF5: 4
        default: 0
        }
    }
}

/// What a key asks the program to do beyond changing the state.
public enum BoardAction: Sendable, Equatable {
    case quit
    /// Clear the screen and draw everything again.
    case redraw
    /// Send `alert.ack`.
    case acknowledge(alert: Int64, note: String?)
}

extension BoardState {
    /// The key bindings, as the footer lists them.
    public static let supervisorKeys = "q quit · 1-9 select alert · j/k move · a acknowledge · n acknowledge with a note"
    public static let agentKeys = "q quit · r redraw"

    /// Applies a key. In normal mode: `q`, Ctrl-C or Ctrl-D quit; `r` or Ctrl-L redraw; for
    /// supervisors `1`–`9` select the n-th open alert, `j`/`k` (or the arrows) move the
    /// selection, `a` acknowledges the selected alert and `n` starts typing a note for it.
    /// While typing a note: Enter acknowledges with it, Esc cancels, Backspace deletes.
    public mutating func handle(_ key: BoardKey, now: Timestamp) -> BoardAction? {
        if key == .interrupt { return .quit }
        if case .note(let alert, let text) = input {
            return typeNote(key, alert: alert, text: text, now: now)
        }
        switch key {
        case .endOfInput, .character("q"), .character("Q"):
            return .quit
        case .redraw, .character("r"):
            return .redraw
        case .character(let c) where seesAlerts:
            return alertKey(c, now: now)
        case .down where seesAlerts:
            moveSelection(by: 1)
        case .up where seesAlerts:
            moveSelection(by: -1)
        default:
            break
        }
        return nil
    }

    mutating func alertKey(_ c: Character, now: Timestamp) -> BoardAction? {
        let open = openAlerts
        switch c {
        case "1"..."9":
            let n = Int(String(c)) ?? 0
            guard n <= open.count else {
                show(open.isEmpty ? "no open alerts" : "there is no alert \(n) (\(open.count) open)", .info, now: now)
                return nil
            }
            selectedAlert = open[n - 1].id
        case "j":
            moveSelection(by: 1)
        case "k":
            moveSelection(by: -1)
        case "a", "A":
            guard let id = selectedAlertID else {
                show("no open alerts", .info, now: now)
                return nil
            }
            show("acknowledging #\(id)…", .info, now: now)
            return .acknowledge(alert: id, note: nil)
        case "n", "N":
            guard let id = selectedAlertID else {
                show("no open alerts", .info, now: now)
                return nil
            }
            input = .note(alert: id, text: "")
        default:
            break
        }
        return nil
    }

    mutating func moveSelection(by step: Int) {
        let open = openAlerts
        guard !open.isEmpty else { return }
        let current = open.firstIndex { $0.id == selectedAlertID } ?? 0
        selectedAlert = open[min(max(current + step, 0), open.count - 1)].id
    }

    mutating func typeNote(_ key: BoardKey, alert: Int64, text: String, now: Timestamp) -> BoardAction? {
        switch key {
        case .escape:
            input = .normal
            show("acknowledgment cancelled", .info, now: now)
        case .enter:
            input = .normal
            show("acknowledging #\(alert)…", .info, now: now)
            return .acknowledge(alert: alert, note: text.isEmpty ? nil : text)
        case .backspace:
            input = .note(alert: alert, text: String(text.dropLast()))
        case .character(let c):
            let allowed = !c.unicodeScalars.contains(where: TextRules.isForbidden)
            if allowed && text.unicodeScalars.count + c.unicodeScalars.count <= TextRules.maxNoteScalars {
                input = .note(alert: alert, text: text + String(c))
            }
        default:
            break
        }
        return nil
    }
}

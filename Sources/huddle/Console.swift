import Foundation
import HuddleClient
import HuddleProtocol

/// Writes go straight to the file descriptors, unbuffered, so `huddle watch | grep` sees each line
/// as it happens and stdout and stderr interleave in the order written.
enum Console {
    static func out(_ line: String) {
        write(line + "\n", to: .standardOutput)
    }

    static func err(_ line: String) {
        write(line + "\n", to: .standardError)
    }

    /// A reader that went away (`huddle who | head -3`) ends the command quietly with 141, the
    /// status of a program that SIGPIPE ended (as `cat` would), instead of trapping in
    /// `FileHandle.write(_:)`, which cannot report the error.
    static func write(_ text: String, to handle: FileHandle) {
        do {
            try handle.write(contentsOf: Data(text.utf8))
        } catch {
            exit(141)
        }
    }

    /// One JSON document on one line (keys sorted, so output is stable).
    static func json(_ value: JSONValue) {
        out(JSONText.line(value))
    }

    static var stdinIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }

    /// Nil at end of input.
    static func ask(_ prompt: String) -> String? {
        write(prompt, to: .standardError)
        return readLine(strippingNewline: true)
    }

    /// Like `ask`, without echoing what is typed (a token must not stay on screen).
    static func askSecret(_ prompt: String) -> String? {
        var saved = termios()
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else { return ask(prompt) }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            write("\n", to: .standardError)
        }
        return ask(prompt)
    }

    static var environment: [String: String] { ProcessInfo.processInfo.environment }
}

#if canImport(Glibc)
import Glibc
#endif

/// Invariant checks for the fuzz targets: a broken invariant aborts, which libFuzzer records as a
/// crash with its input.
public enum FuzzCheck {
    public static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }

    public static func fail(_ message: String) -> Never {
        let text = "fuzz invariant broken: \(message)\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
        abort()
    }
}

/// Without libFuzzer (a plain `swift build`), each target is a corpus replayer: it runs every file
/// given on the command line (or every file in the folders given) through its entry point, so the
/// seeds and the crashes found earlier are checked by CI.
public enum CorpusReplay {
    public static func run(_ entry: (UnsafePointer<UInt8>, Int) -> CInt) {
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            for file in files(at: path) {
                guard var bytes = read(file) else { continue }
                bytes.append(0)  // never an empty buffer, so the base address exists
                _ = bytes.withUnsafeBufferPointer { entry($0.baseAddress!, $0.count - 1) }
                count += 1
            }
        }
        _ = "replayed \(count) inputs\n".withCString { write(1, $0, strlen($0)) }
    }

    static func files(at path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var result: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { result.append("\(path)/\(name)") }
        }
        return result.sorted()
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }
}

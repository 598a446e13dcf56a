import Foundation

/// The data folder holds messages, wellbeing reasons and token hashes: it is 0700 and every file
/// in it 0600, whoever created them and whatever the umask. Modes given to `open` or `mkdir` only
/// apply to what they create, so what already exists is tightened here too.
public enum PrivateFiles {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates `path` 0700 if it is missing; returns the mode it had when it was looser (after
    /// tightening it), nil otherwise.
    @discardableResult
    public static func prepareFolder(_ path: String) throws -> Int? {
        if mkdir(path, 0o700) == 0 { return nil }
        guard errno == EEXIST else {
            // A missing parent: created as the operator's umask says, the folder itself 0700.
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            return nil
        }
        return try tighten(path, to: 0o700)
    }

    /// Sets `path` to `mode` when it allows more than that; returns the mode it had. A missing
    /// file is not an error (nothing to protect).
    @discardableResult
    public static func tighten(_ path: String, to mode: mode_t) throws -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw Failure(description: "cannot read the mode of \(path): \(String(cString: strerror(errno)))")
        }
        let current = info.st_mode & 0o7777
        guard current & ~mode != 0 else { return nil }
        guard chmod(path, mode) == 0 else {
            throw Failure(description: "cannot make \(path) private (mode \(String(current, radix: 8))): \(String(cString: strerror(errno)))")
        }
        return Int(current)
    }

    /// Writes `bytes` to `path` with mode 0600 from the first byte: to a temporary file beside it,
    /// then renamed over it, so an existing file with a looser mode is replaced rather than
    /// reused and a reader never sees half a file. `durable` syncs the file and its folder.
    public static func write(_ bytes: [UInt8], to path: String, durable: Bool) throws {
        let temporary = "\(path).tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        func fail(_ what: String) -> Failure {
            let failure = Failure(description: "cannot \(what) \(temporary): \(String(cString: strerror(errno)))")
            unlink(temporary)
            return failure
        }
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, !durable || fsync(fd) == 0 else {
            let failure = fail(written == bytes.count ? "sync" : "write")
            close(fd)
            throw failure
        }
        guard close(fd) == 0 else { throw fail("write") }
        guard rename(temporary, path) == 0 else { throw fail("rename") }
        if durable { syncFolder(of: path) }
    }

    /// Makes a rename in the folder of `path` durable; best effort (some file systems refuse).
    static func syncFolder(of path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        let fd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

import GRDB
import GRDBSQLite

/// The statements every committed status change runs (the event insert and the user's state),
/// bound through SQLite's own C functions on GRDB's cached statement. GRDB's `execute(arguments:)`
/// builds a `StatementArguments` array of existentials and a `Data` copy of each line, and
/// prepares transaction observation: a sixth of the commit's cost per event
/// (`huddle-commit-bench`, 26.3 → 21.7 µs on tmpfs).
/// Everything else goes through GRDB as usual. The statement is left reset with no bindings, as
/// GRDB expects to find it.
extension Statement {
    /// Binds with `bind`, steps to the end and resets. Throws what SQLite reports; the
    /// surrounding transaction is then rolled back by its caller.
    func runDirect(_ db: Database, _ bind: (inout DirectBindings) throws -> Void) throws {
        let handle = sqliteStatement
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        var bindings = DirectBindings(handle: handle)
        try bind(&bindings)
        if let failure = bindings.failure { throw error(db, failure) }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw error(db, code) }
    }

    private func error(_ db: Database, _ code: CInt) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
    }
}

/// Positional bindings (1-based, as SQLite counts). SQLite copies text and blobs as they are
/// bound (`SQLITE_TRANSIENT`), so the caller's buffers need not outlive the call.
struct DirectBindings {
    let handle: OpaquePointer
    private(set) var failure: CInt?

    init(handle: OpaquePointer) { self.handle = handle }

    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    private mutating func check(_ code: CInt) {
        if code != SQLITE_OK, failure == nil { failure = code }
    }

    mutating func int(_ index: CInt, _ value: Int64?) {
        check(value.map { sqlite3_bind_int64(handle, index, $0) } ?? sqlite3_bind_null(handle, index))
    }

    mutating func text(_ index: CInt, _ value: String?) {
        guard var value else { return check(sqlite3_bind_null(handle, index)) }
        let code = value.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { text -> CInt in
                guard let start = text.baseAddress else { return sqlite3_bind_text(handle, index, "", 0, Self.transient) }
                return sqlite3_bind_text(handle, index, start, CInt(text.count), Self.transient)
            }
        }
        check(code)
    }

    mutating func blob(_ index: CInt, _ bytes: UnsafeRawBufferPointer) {
        // A zero-length blob is still a blob, not NULL.
        guard let start = bytes.baseAddress, !bytes.isEmpty else { return check(sqlite3_bind_zeroblob(handle, index, 0)) }
        check(sqlite3_bind_blob(handle, index, start, CInt(bytes.count), Self.transient))
    }
}

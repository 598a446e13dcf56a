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
    func runDirect(_ bind: (inout DirectBindings) -> Void) throws {
        let handle = sqliteStatement
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        var bindings = DirectBindings(handle: handle)
        bind(&bindings)
        let code = bindings.failure ?? sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(handle))),
                sql: sql)
        }
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

    /// As GRDB binds a `String`.
    mutating func text(_ index: CInt, _ value: String?) {
        check(value.map { sqlite3_bind_text(handle, index, $0, -1, Self.transient) } ?? sqlite3_bind_null(handle, index))
    }

    /// As GRDB binds `Data`.
    mutating func blob(_ index: CInt, _ bytes: UnsafeRawBufferPointer) {
        check(sqlite3_bind_blob(handle, index, bytes.baseAddress, CInt(bytes.count), Self.transient))
    }
}

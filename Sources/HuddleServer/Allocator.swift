import CHuddleSystem

/// What the daemon tells glibc's allocator. Connections come and go in bursts (a floor
/// reconnecting after a network blip, a hostile client opening thousands), and glibc keeps what a
/// burst freed unless told otherwise: resident memory would stay at the peak.
public enum Allocator {
    /// At most this many malloc arenas (glibc's default is eight per core). Each thread that
    /// allocates gets an arena of its own up to the limit, and memory freed in one arena serves
    /// only that arena; with few, the free space is shared and fragments less. Measured by
    /// Prove/hostile.py after the hostile clients left: RSS 73 MiB with the default, 55 MiB with 2
    /// (43 MiB before they came). `MALLOC_ARENA_MAX` in the environment still wins.
    public static let arenas: Int32 = 2

    /// Applies `arenas` unless the environment sets `MALLOC_ARENA_MAX`. Call before threads start.
    public static func limitArenas(environment: [String: String]) {
        guard environment["MALLOC_ARENA_MAX"] == nil else { return }
        _ = huddle_malloc_arena_max(arenas)
    }

    /// Gives memory that is free inside the allocator back to the system (every 10 s, from
    /// `Housekeeping`): glibc returns only the top of its heaps by itself.
    static func returnFreeMemory() {
        _ = huddle_malloc_trim(0)
    }
}

import CHuddleSystem
import Testing

#if canImport(Glibc)
import Glibc

@Suite struct MemoryTrimTests {
    /// Freed memory that glibc cannot give back by itself (free blocks between live ones) is given
    /// back by the trim the daemon runs: it reports that it released something. A shim that
    /// compiled to `return 0` (glibc not detected) once made the daemon keep its peak for good.
    @Test func trimmingGivesFreeBlocksBackToTheSystem() {
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<512 {
            guard let block = malloc(32 * 1024) else { continue }
            memset(block, 1, 32 * 1024)
            blocks.append(block)
        }
        for (index, block) in blocks.enumerated() where index % 2 == 0 { free(block) }
        #expect(huddle_malloc_trim(0) == 1)
        for (index, block) in blocks.enumerated() where index % 2 == 1 { free(block) }
    }
}
#endif

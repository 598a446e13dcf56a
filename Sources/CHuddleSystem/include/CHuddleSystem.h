#ifndef CHUDDLE_SYSTEM_H
#define CHUDDLE_SYSTEM_H

#include <stddef.h>

/// glibc's malloc_trim (malloc.h is not part of Swift's Glibc module); returns 0 elsewhere.
int huddle_malloc_trim(size_t pad);

/// glibc's mallopt(M_ARENA_MAX, count): how many malloc arenas threads may spread over.
/// Returns 1 on success, 0 on failure or elsewhere.
int huddle_malloc_arena_max(int count);

#endif

#include "CHuddleSystem.h"

// <stdlib.h> brings <features.h>, which says whether this is glibc (<stddef.h> alone does not).
#include <stdlib.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int huddle_malloc_trim(size_t pad) {
#if defined(__GLIBC__)
    return malloc_trim(pad);
#else
    (void)pad;
    return 0;
#endif
}

int huddle_malloc_arena_max(int count) {
#if defined(__GLIBC__)
    return mallopt(M_ARENA_MAX, count);
#else
    (void)count;
    return 0;
#endif
}

#ifndef CHUDDLE_SYSTEM_H
#define CHUDDLE_SYSTEM_H

#include <stddef.h>

/// glibc's malloc_trim (malloc.h is not part of Swift's Glibc module); returns 0 elsewhere.
int huddle_malloc_trim(size_t pad);

#endif

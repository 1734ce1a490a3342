#include "lib/malloc_tune.h"

#include <malloc.h>

/* glibc's default (DEFAULT_MMAP_THRESHOLD_MIN); setting it stops the
 * dynamic adjustment. */
#define QB_MMAP_THRESHOLD (128 * 1024)

void
qb_malloc_tune(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, QB_MMAP_THRESHOLD);
}

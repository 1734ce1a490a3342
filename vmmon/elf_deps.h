/*
 * The shared libraries a host ELF binary needs, resolved like ld.so does
 * without a cache (DT_NEEDED, recursively, in the default multiarch
 * directories), so vmmon's jail can show QEMU exactly those files rather
 * than whole library directories. Reads root-owned host binaries only.
 */
#ifndef QEMUBOX_VMMON_ELF_DEPS_H
#define QEMUBOX_VMMON_ELF_DEPS_H

#include <limits.h>
#include <stddef.h>

#define ELF_DEPS_MAX  256
#define ELF_DEPS_POOL 65536

/*
 * The paths live packed in pool (path[i] points into it): a few hundred
 * bytes touched instead of a page per library. Setting n to 0 empties it.
 */
struct elf_deps {
	char *path[ELF_DEPS_MAX]; /* as ld.so will look them up */
	size_t n;
	char pool[ELF_DEPS_POOL];
};

/*
 * Adds `file`'s interpreter and its DT_NEEDED closure to deps (no
 * duplicates). A library that cannot be found is skipped (it would make
 * QEMU fail to start, which says more than we could). 0, or -1 with errno
 * when `file` itself is unreadable or not a 64-bit ELF.
 */
int elf_deps_add(struct elf_deps *deps, const char *file);

#endif

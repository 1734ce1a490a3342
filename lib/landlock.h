/*
 * Landlock (Linux >= 5.13): an unprivileged process narrows its own file
 * access. The shim uses it as its filesystem fence after dropping every
 * capability: read where it must, write only to its state, logs and
 * containerd's bundle/FIFO directories, execute only mkfs.erofs.
 */
#ifndef QEMUBOX_LANDLOCK_H
#define QEMUBOX_LANDLOCK_H

#include <stddef.h>

#define LL_READ  0x1 /* open files for reading, list directories */
#define LL_WRITE 0x2 /* write, create, remove, rename beneath the path */
#define LL_EXEC  0x4 /* execve */
#define LL_RMDIR 0x8 /* remove (empty) directories beneath, nothing else */

struct landlock_rule {
	const char *path;
	unsigned access; /* LL_* bits */
};

/* The Landlock ABI version the kernel offers, 0 when it has none. */
int landlock_abi(void);
/*
 * Restrict this process (and its future children) to the rules. Paths that
 * do not exist are skipped with a debug line (a state dir not created yet
 * simply stays inaccessible). Returns 0 when enforced, 1 when the kernel has
 * no Landlock (a warning is logged: the caller degrades), -1 on error.
 */
int landlock_restrict(const struct landlock_rule *rules, size_t n);

#endif

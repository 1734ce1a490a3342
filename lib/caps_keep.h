/*
 * The privilege drop of qemubox's root helpers (qemubox-privnet,
 * qemubox-fsd): stay uid 0, keep only a listed set of capabilities in every
 * set, so that what they execute (CNI plugins, virtiofsd) gets exactly that
 * set and nothing else, and prove it from the kernel's view afterwards.
 * Each helper keeps its own list, with the reason for every entry, in its
 * <proc>_priv.c.
 */
#ifndef QEMUBOX_CAPS_KEEP_H
#define QEMUBOX_CAPS_KEEP_H

#include <stddef.h>

/*
 * Keep exactly kept[0..n) in the effective, permitted, inheritable,
 * bounding and ambient sets; every other capability is gone from all of
 * them. Then check, capability by capability, that the kernel's sets are
 * exactly the list, and that a dropped capability cannot be regained; a
 * mismatch is fatal. Returns -1 (errno EPERM) when the sets cannot be
 * applied (e.g. not run as root).
 */
int caps_keep_only(const int *kept, size_t n);

#endif

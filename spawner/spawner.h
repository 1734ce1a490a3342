/*
 * qemubox-spawner: the root process that starts confined, capability-
 * holding helpers for an unprivileged shim (docs/SECURITY.md, "The
 * spawner and the layer builder"). Today it starts one kind,
 * qemubox-layerbuild; a new kind is a new request type, a validator and a
 * line in the table of what it may hold.
 */
#ifndef QEMUBOX_SPAWNER_H
#define QEMUBOX_SPAWNER_H

#include <linux/capability.h>
#include <stdint.h>

#define SPAWNER_MKFS       "/usr/bin/mkfs.erofs"
#define SPAWNER_LAYERBUILD "qemubox-layerbuild"

/* uid/gid of a privileged build: nobody owns nothing it could write. */
#define SPAWNER_BUILD_UID 65534
#define SPAWNER_BUILD_GID 65534

/* What a layer build of a containerd snapshot holds, and nothing else. */
#define SPAWNER_LAYER_CAPS \
	((1ULL << CAP_DAC_READ_SEARCH) | (1ULL << CAP_SYS_ADMIN))

/* What the spawner itself keeps to start builders with SPAWNER_LAYER_CAPS. */
#define SPAWNER_OWN_CAPS                                                    \
	(SPAWNER_LAYER_CAPS | (1ULL << CAP_SETUID) | (1ULL << CAP_SETGID) | \
	    (1ULL << CAP_SETPCAP))

/*
 * Whether `real` (a canonical path, no symlink) is a containerd snapshot
 * directory: <root>/io.containerd.snapshotter.v1.<name>/snapshots/<N>/fs.
 * Only those are built with capabilities.
 */
int spawner_is_snapshot_path(const char *real);

#endif

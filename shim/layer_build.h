/*
 * A layer build through qemubox-spawner (spawner/spawner.c): the shim has
 * no capability, so the image of a containerd snapshot is built by a
 * confined qemubox-layerbuild that may read it (docs/SECURITY.md).
 */
#ifndef QEMUBOX_LAYER_BUILD_H
#define QEMUBOX_LAYER_BUILD_H

#include "lib/error.h"

/*
 * Build the EROFS image of `dir` into out_fd (a regular, empty file open
 * O_RDWR; the builder reopens it through /proc/self/fd, so its mode must
 * let uid 65534 write it). Blocking: one channel to the spawner, one
 * request, one answer. Safe to call from several processes sharing
 * spawner_fd at once. *privileged (may be NULL) says whether the build
 * held CAP_DAC_READ_SEARCH + CAP_SYS_ADMIN.
 */
int layer_build_remote(int spawner_fd, const char *dir, const char *compression,
    int out_fd, int *privileged, struct qb_error *err);

#endif

/*
 * storage_plan_prepare without blocking the shim's event loop.
 *
 * A cold layer takes mkfs.erofs seconds (1.5 s for 240 MB here); the shim is
 * one thread serving every container of its VM, so a build must not stall
 * ttrpc or stdio. Hits are resolved at once; misses are built by a forked
 * child (its own process group, so cancel also stops mkfs.erofs) that
 * reports on a pipe the loop watches. The images are then opened in the
 * shim as cache hits.
 */
#ifndef QEMUBOX_STORAGE_ASYNC_H
#define QEMUBOX_STORAGE_ASYNC_H

#include "lib/error.h"
#include "shim/layer_cache.h"
#include "shim/storage.h"

struct evloop;
struct storage_prepare;

/* err is NULL on success (every disk has its fd); plan stays the caller's. */
typedef void (*storage_prepare_cb)(
    struct storage_plan *plan, const struct qb_error *err, void *arg);

/*
 * Start preparing `plan`. cb runs exactly once, from the loop, never from
 * inside this call. Returns NULL with err set (and no callback) only if
 * nothing could be started. plan and cache must stay valid until cb.
 */
struct storage_prepare *storage_plan_prepare_async(struct storage_plan *plan,
    const struct layer_cache *cache, struct evloop *loop, storage_prepare_cb cb,
    void *arg, struct qb_error *err);

/* Stop: kill the builder (and its mkfs), no callback. NULL is a no-op. A
 * half-built image is never used (layer_cache.h). */
void storage_prepare_cancel(struct storage_prepare *p);

#endif

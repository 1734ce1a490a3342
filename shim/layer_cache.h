/*
 * EROFS layer cache: <state_dir>/layers/<key>.erofs, built by mkfs.erofs from
 * a layer directory, once.
 *
 * Key (docs/STORAGE.md): for an immutable containerd snapshot
 * (STORAGE_KEY_STAT) the directory's st_dev, st_ino and st_ctime (ns) plus
 * the build options; O(1), and sound because a committed snapshot is never
 * modified, while a deleted and recreated directory gets a new ctime. For a
 * directory that may change (a container's upperdir, a spec bind)
 * STORAGE_KEY_TREE hashes the lstat of every entry (O(entries), no reads).
 *
 * Concurrency: the build runs under flock(<key>.lock); mkfs.erofs writes
 * <key>.tmp.<pid> which is renamed to <key>.erofs only when complete. A
 * builder that dies leaves a temp file (never used; removed by the next
 * builder of that key or by eviction) and releases its lock with its fds.
 * A hit is one stat (no lock, no mkfs).
 *
 * The source path is recorded in <key>.src so that eviction can tell which
 * images no snapshot refers to any more.
 */
#ifndef QEMUBOX_LAYER_CACHE_H
#define QEMUBOX_LAYER_CACHE_H

#include <limits.h>
#include <stdint.h>
#include <stddef.h>

#include "lib/error.h"
#include "shim/storage.h"

#define LAYER_CACHE_MKFS    "/usr/bin/mkfs.erofs"
#define LAYER_CACHE_KEY_LEN 64 /* hex sha256 */

struct layer_cache {
	char dir[PATH_MAX];   /* <state_dir>/layers */
	char mkfs[PATH_MAX];  /* mkfs.erofs to exec */
	char compression[16]; /* "none" or "lz4" (storage.compression) */
	uint64_t max_bytes;   /* storage.layer_cache_max_mb; 0 = unlimited */
	/*
	 * imsg socket to qemubox-spawner, or -1: then mkfs.erofs runs as this
	 * process (tools, tests), and can read only what it may.
	 */
	int spawner_fd;
};

/* dir = <state_dir>/layers, created 0700 if missing. */
int layer_cache_init(struct layer_cache *lc, const char *state_dir,
    const char *compression, uint64_t max_mb, struct qb_error *err);

/* The cache key of a directory, 64 hex chars + NUL. */
int layer_cache_key(const struct layer_cache *lc, const char *dir,
    enum storage_key_kind kind, char key[LAYER_CACHE_KEY_LEN + 1]);

/*
 * The image for `dir`: built if missing. image_out receives its path; if
 * fd_out is not NULL it receives an O_RDONLY fd of the image (holding it
 * against eviction); *built (if not NULL) says whether mkfs.erofs ran.
 */
int layer_cache_get(const struct layer_cache *lc, const char *dir,
    enum storage_key_kind kind, char *image_out, size_t image_len, int *fd_out,
    int *built, struct qb_error *err);

struct layer_cache_evict_stats {
	unsigned removed_stale; /* source gone or changed */
	unsigned removed_lru;   /* evicted for size, oldest use first */
	unsigned removed_tmp;   /* leftovers of dead builders */
	unsigned kept_in_use;   /* would have gone, but an fd holds it */
	uint64_t bytes_left;
};

/*
 * Remove images whose source directory is gone or changed and temps of dead
 * builders; then, while the cache is larger than max_bytes (0: lc->max_bytes;
 * both 0: no size pass), the least recently used images. An image that any
 * process holds open from layer_cache_get (the shim until Delete, QEMU while
 * the VM runs: a shared flock on the open file) is never removed; the cache
 * may stay over the limit then. Run after each build when max_bytes is set,
 * and by the cleanup tool.
 */
int layer_cache_evict(const struct layer_cache *lc, uint64_t max_bytes,
    struct layer_cache_evict_stats *stats);

#endif

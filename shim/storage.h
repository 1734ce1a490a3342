/*
 * Mount translation: containerd's rootfs mounts (CreateTaskRequest.rootfs)
 * and the OCI spec's mounts become a storage plan, which the VM backend turns
 * into read-only virtio-blk disks and a guest mount message.
 *
 *   rootfs "overlay"  each lowerdir= entry is one layer disk (converted to
 *                     EROFS by the layer cache). containerd lists lowerdir
 *                     top first; the plan lists disks lowest first.
 *                     upperdir/workdir: the container's writes go to a
 *                     guest-side upper (tmpfs or scratch disk), never to
 *                     containerd's upperdir (see docs/STORAGE.md). A
 *                     non-empty upperdir (a restarted container) becomes
 *                     the topmost read-only layer.
 *   rootfs "erofs"    the source image is used as is; each device= option
 *                     adds an extra device of that same EROFS filesystem.
 *   rootfs "bind"     one directory (native snapshotter, ctr --rootfs,
 *                     single-layer views) converted like a layer.
 *   no rootfs mounts  spec root.path (relative to the bundle) as a layer.
 *   anything else     QB_E_INVALID naming the type.
 *
 *   spec bind of a directory or regular file, ro or   a volume (virtio-fs,
 *   rw (propagation shared/slave: QB_E_INVALID)       docs/STORAGE.md)
 *   ... in a pod's later container (no_volumes)       a file <= FILE_MAX is
 *                                                     copied in, a ro
 *                                                     directory is a disk, a
 *                                                     rw one QB_E_UNIMPLEMENTED
 *   spec bind of a character device                   passed through: the
 *                                                     guest's device node
 *   spec bind of a directory on /dev/shm (CRI's       a guest tmpfs (shared
 *   sandbox shm)                                      memory stays in the VM)
 *   proc, sysfs, tmpfs, devpts, mqueue, cgroup, ...   passed through
 *   any other spec mount type                         QB_E_INVALID
 */
#ifndef QEMUBOX_STORAGE_H
#define QEMUBOX_STORAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "lib/error.h"

struct layer_cache;

#define STORAGE_FILE_MAX   (1024 * 1024) /* largest file bind copied in */
#define STORAGE_MAX_DISKS  64            /* rootfs layers + devices + binds */
#define STORAGE_MAX_FILES  32
#define STORAGE_SERIAL_LEN 20 /* virtio-blk serial, without NUL */

/*
 * Where the guest puts what the plan carries (spec sources are rewritten):
 * file i at FILES_DIR/<i>, a bind disk at BINDS_DIR/<serial>.
 */
#define STORAGE_GUEST_FILES_DIR "/run/qemubox/files"
#define STORAGE_GUEST_BINDS_DIR "/run/qemubox/binds"
/* Where the guest mounts the sandbox's virtio-fs share: volume i is <i>. */
#define STORAGE_GUEST_VOLUMES_DIR "/run/qemubox/volumes"
#define STORAGE_MAX_VOLUMES       64 /* = QB_FS_MAX_VOLUMES */

/*
 * A host directory or file bound into the container: served by the
 * sandbox's virtiofsd (qemubox-fsd) and bound by crun in the guest from
 * guest_path. readonly: read-only on the host side too.
 */
struct storage_volume {
	char source[PATH_MAX];     /* host path (absolute, resolved) */
	char dest[PATH_MAX];       /* container path */
	char guest_path[PATH_MAX]; /* STORAGE_GUEST_VOLUMES_DIR/<index> */
	bool readonly;
	bool is_file;
	size_t spec_index; /* index in spec mounts */
};

/* One rootfs mount as containerd sends it (containerd.types.Mount). */
struct storage_mount {
	const char *type;
	const char *source;
	const char *target; /* unset in containerd 1.6 */
	const char *const *options;
	size_t n_options;
};

enum storage_disk_role {
	STORAGE_DISK_LAYER,   /* a rootfs layer; LAYER disks are lowest first */
	STORAGE_DISK_DEVICE,  /* extra device (erofs device=) of the LAYER or
	                         BIND disk before it, in order */
	STORAGE_DISK_BIND,    /* a read-only directory bind of the spec */
	STORAGE_DISK_SCRATCH, /* the writable layer (STORAGE_UPPER_SCRATCH):
	                         read-write, serial STORAGE_SCRATCH_SERIAL,
	                         always the last disk */
};

enum storage_src {
	STORAGE_SRC_DIR,     /* a directory: the layer cache builds the image */
	STORAGE_SRC_IMAGE,   /* already an EROFS image: used as is */
	STORAGE_SRC_SCRATCH, /* path = ext4 template; prepare makes a sparse
	                        copy in image's directory
	                        (storage_scratch_create) and unlinks it once
	                        open */
};

/* How the layer cache identifies a directory (shim/layer_cache.h). */
enum storage_key_kind {
	STORAGE_KEY_STAT, /* immutable snapshot: dev/ino/ctime of the dir */
	STORAGE_KEY_TREE, /* may change: stat of every entry */
};

struct storage_disk {
	enum storage_disk_role role;
	enum storage_src src;
	enum storage_key_kind key;
	char path[PATH_MAX];  /* host directory or image */
	char image[PATH_MAX]; /* image attached (set by storage_plan_prepare;
	                         SCRATCH: its transient name) */
	int fd;     /* image, O_RDONLY (SCRATCH: O_RDWR, unlinked); -1 until
	               prepared */
	bool built; /* prepare ran mkfs.erofs for it (a cache miss) */
	char
	    serial[STORAGE_SERIAL_LEN + 1]; /* the guest finds the disk by it */
	char dest[PATH_MAX];                /* BIND: container path */
	size_t spec_index;                  /* BIND: index in spec mounts */
};

struct storage_file {
	char dest[PATH_MAX];       /* container path (spec destination) */
	char source[PATH_MAX];     /* host path it was copied from */
	char guest_path[PATH_MAX]; /* STORAGE_GUEST_FILES_DIR/<index> */
	uint32_t mode;             /* permission bits of the source */
	uint32_t uid, gid;
	bool readonly;     /* spec asked for "ro" */
	size_t spec_index; /* index in spec mounts */
	size_t len;
	unsigned char *data; /* len bytes, malloc'd */
};

enum storage_upper_kind {
	STORAGE_UPPER_TMPFS,   /* guest tmpfs, upper_bytes (0: guest default) */
	STORAGE_UPPER_SCRATCH, /* sparse ext4 scratch disk of upper_bytes */
};

struct storage_plan {
	struct storage_disk *disks; /* n_disks, see the roles above */
	size_t n_disks;
	struct storage_file *files;
	size_t n_files;
	bool readonly;  /* rootfs has no writable upper (a view) */
	bool shm_tmpfs; /* spec mount shm_spec_index: /dev/shm bind ->
	                   guest tmpfs (storage_spec_rewrite) */
	size_t shm_spec_index;
	struct storage_volume *volumes; /* n_volumes, in spec order */
	size_t n_volumes;
	enum storage_upper_kind upper_kind;
	uint64_t upper_bytes;
};

struct storage_opts {
	const char *bundle;     /* for a relative spec root.path */
	uint64_t scratch_bytes; /* storage.scratch_size_mb; 0 = tmpfs upper */
	const char *scratch_template; /* with scratch_bytes: <share_dir>/
	                                 STORAGE_SCRATCH_TEMPLATE */
	const char *scratch_dir;      /* with scratch_bytes: where the disk is
	                                 made (state_dir; unlinked once open) */
	uint64_t tmpfs_bytes;         /* 0 = the spec's memory limit, else guest
	                                 default (half the guest RAM) */
	bool no_volumes;  /* a pod's later container: file binds are copied
	                     in; directories: see later_share */
	bool later_share; /* with no_volumes: the pod VM's virtio-fs share
	                     takes volumes while it runs, so directories are
	                     volumes (the caller picks their slots); else ro
	                     directories become disks, rw ones are refused */
};

/*
 * Build the plan. Reads the host (stat of sources, small file contents) but
 * builds no image and changes nothing. On error the plan is empty and err
 * names the mount and the reason.
 */
int storage_plan_build(const struct storage_mount *rootfs, size_t n_rootfs,
    struct json_object *spec, const struct storage_opts *opts,
    struct storage_plan *plan, struct qb_error *err);

/*
 * Turn every STORAGE_SRC_DIR disk into an image through the cache and open
 * every disk image read-only (disk->fd, to hand to vmmon). Image sources are
 * opened as they are. Safe to call once per plan.
 */
int storage_plan_prepare(struct storage_plan *plan,
    const struct layer_cache *cache, struct qb_error *err);

/*
 * Make the spec fit the guest; call it before the spec goes to the guest.
 * File and directory bind sources point at their guest paths
 * (STORAGE_GUEST_FILES_DIR/<i>, STORAGE_GUEST_BINDS_DIR/<serial>); a
 * /dev/shm directory bind becomes a tmpfs mount. The spec must be the one
 * the plan was built from.
 */
int storage_spec_rewrite(struct json_object *spec,
    const struct storage_plan *plan, struct qb_error *err);

/*
 * The writable layer on a scratch disk (storage.scratch_size_mb): a sparse
 * copy of the small ext4 template made at build time
 * (<share_dir>/scratch.ext4, STORAGE_SCRATCH_TEMPLATE), grown to `bytes`
 * with ftruncate. The shim may exec nothing but mkfs.erofs, so it cannot
 * format a disk; the guest mounts it as ext4 and grows the filesystem to the
 * disk with EXT4_IOC_RESIZE_FS (online, needs CAP_SYS_RESOURCE, which PID 1
 * has). bytes must be between the template's size (64 MiB) and
 * STORAGE_SCRATCH_MAX (the template reserves GDT blocks for that, mke2fs
 * -E resize=). Creates `path` (O_EXCL, 0600) and returns an O_RDWR fd of it
 * in *fd_out.
 */
#define STORAGE_SCRATCH_TEMPLATE "scratch.ext4"
#define STORAGE_SCRATCH_SERIAL   "qb-scratch"
#define STORAGE_SCRATCH_MAX      (1ULL << 40)
int storage_scratch_create(const char *template_path, const char *path,
    uint64_t bytes, int *fd_out, struct qb_error *err);

/* Close fds, free file contents; the plan is empty afterwards. */
void storage_plan_free(struct storage_plan *plan);

/* Split an overlay lowerdir= value (top first, '\:' escapes a colon) into
 * paths lowest first. Exposed for tests. Returns the count or -1. */
int storage_split_lowerdir(
    const char *value, char (*out)[PATH_MAX], size_t max);

#endif

/*
 * Mount translation (shim/storage.h): rootfs and spec mounts -> plan.
 */
#include "shim/storage.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "shim/layer_cache.h"

/* Mounts the guest kernel makes itself: nothing of the host is involved. */
static const char *const guest_fs_types[] = {
    "proc",
    "sysfs",
    "tmpfs",
    "devpts",
    "mqueue",
    "cgroup",
    "cgroup2",
    "devtmpfs",
    "ramfs",
    "securityfs",
    "debugfs",
    "tracefs",
    "hugetlbfs",
    "bpf",
    "fusectl",
    "configfs",
    "pstore",
    "binfmt_misc",
};

static bool
opt_has(const char *const *opts, size_t n, const char *want)
{
	for (size_t i = 0; i < n; i++)
		if (opts[i] != NULL && strcmp(opts[i], want) == 0)
			return true;
	return false;
}

static int
copy_path(char *dst, const char *src, struct qb_error *err)
{
	if (strlen(src) >= PATH_MAX)
		return qb_seterr(
		    err, QB_E_INVALID, "path too long: %.64s...", src);
	strcpy(dst, src);
	return 0;
}

static struct storage_disk *
disk_add(struct storage_plan *plan, enum storage_disk_role role,
    enum storage_src src, enum storage_key_kind key, const char *path,
    struct qb_error *err)
{
	static const char *const prefix[] = {
	    [STORAGE_DISK_LAYER] = "qb-layer-",
	    [STORAGE_DISK_DEVICE] = "qb-dev-",
	    [STORAGE_DISK_BIND] = "qb-bind-",
	    [STORAGE_DISK_SCRATCH] = "qb-scratch-",
	};
	struct storage_disk *d;

	if (plan->n_disks >= STORAGE_MAX_DISKS) {
		qb_seterr(err, QB_E_RANGE,
		    "too many disks (layers, devices and binds > %d)",
		    STORAGE_MAX_DISKS);
		return NULL;
	}
	if (plan->disks == NULL) {
		plan->disks = calloc(STORAGE_MAX_DISKS, sizeof(*plan->disks));
		if (plan->disks == NULL) {
			qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
			return NULL;
		}
	}
	d = &plan->disks[plan->n_disks];
	memset(d, 0, sizeof(*d));
	if (copy_path(d->path, path, err) == -1)
		return NULL;
	d->role = role;
	d->src = src;
	d->key = key;
	d->fd = -1;
	snprintf(
	    d->serial, sizeof(d->serial), "%s%zu", prefix[role], plan->n_disks);
	plan->n_disks++;
	return d;
}

int
storage_split_lowerdir(const char *value, char (*out)[PATH_MAX], size_t max)
{
	size_t n = 0, len = 0;
	const char *p;

	if (value == NULL || *value == '\0') {
		errno = EINVAL;
		return -1;
	}
	for (p = value;; p++) {
		if (*p == ':' || *p == '\0') {
			if (len == 0 || n >= max) {
				errno = len == 0 ? EINVAL : E2BIG;
				return -1;
			}
			out[n++][len] = '\0';
			len = 0;
			if (*p == '\0')
				break;
			continue;
		}
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (len + 1 >= PATH_MAX || n >= max) {
			errno = n >= max ? E2BIG : ENAMETOOLONG;
			return -1;
		}
		out[n][len++] = *p;
	}
	/* overlayfs takes the top layer first; the plan wants lowest first. */
	for (size_t i = 0; i < n / 2; i++) {
		char tmp[PATH_MAX];

		memcpy(tmp, out[i], PATH_MAX);
		memcpy(out[i], out[n - 1 - i], PATH_MAX);
		memcpy(out[n - 1 - i], tmp, PATH_MAX);
	}
	return (int)n;
}

static int
dir_is_empty(const char *path)
{
	DIR *d;
	struct dirent *de;
	int empty = 1;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/* path is absolute and exists as what the caller needs: a directory
 * (want_dir) or an image (regular file or block device). */
static int
need_path(
    const char *what, const char *path, bool want_dir, struct qb_error *err)
{
	struct stat st;

	if (path[0] != '/')
		return qb_seterr(err, QB_E_INVALID,
		    "%s %s: not an absolute path", what, path);
	if (stat(path, &st) == -1)
		return qb_seterr(err, QB_E_INVALID, "%s %s: %s", what, path,
		    strerror(errno));
	if (want_dir && !S_ISDIR(st.st_mode))
		return qb_seterr(
		    err, QB_E_INVALID, "%s %s: not a directory", what, path);
	if (!want_dir && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return qb_seterr(err, QB_E_INVALID,
		    "%s %s: not an image file or block device", what, path);
	return 0;
}

static int
need_dir(const char *what, const char *path, struct qb_error *err)
{
	return need_path(what, path, true, err);
}

static int
need_image(const char *what, const char *path, struct qb_error *err)
{
	return need_path(what, path, false, err);
}

static int
plan_overlay(const struct storage_mount *m, struct storage_plan *plan,
    struct qb_error *err)
{
	const char *lower = NULL, *upper = NULL;
	char(*dirs)[PATH_MAX] = NULL;
	int n, rc = -1;

	for (size_t i = 0; i < m->n_options; i++) {
		const char *o = m->options[i];

		if (o == NULL)
			continue;
		if (strncmp(o, "lowerdir=", 9) == 0)
			lower = o + 9;
		else if (strncmp(o, "upperdir=", 9) == 0)
			upper = o + 9;
	}
	if (lower == NULL)
		return qb_seterr(err, QB_E_INVALID,
		    "rootfs overlay mount has no lowerdir= option");
	if ((dirs = calloc(STORAGE_MAX_DISKS, PATH_MAX)) == NULL)
		return qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
	n = storage_split_lowerdir(lower, dirs, STORAGE_MAX_DISKS);
	if (n == -1) {
		qb_seterr(err, QB_E_INVALID,
		    "rootfs overlay lowerdir=%.200s: %s", lower,
		    errno == E2BIG ? "too many layers" : "malformed");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (need_dir("rootfs overlay lowerdir", dirs[i], err) == -1)
			goto out;
		/* containerd's committed snapshots are immutable. */
		if (disk_add(plan, STORAGE_DISK_LAYER, STORAGE_SRC_DIR,
		        STORAGE_KEY_STAT, dirs[i], err) == NULL)
			goto out;
	}
	plan->readonly = upper == NULL;
	if (upper != NULL) {
		int empty;

		if (need_dir("rootfs overlay upperdir", upper, err) == -1)
			goto out;
		/*
		 * Our writes never land in the upperdir, so it is empty unless
		 * something else wrote there (a runc-run container, a
		 * snapshot prepared with content): keep what it holds as the
		 * topmost read-only layer rather than hide it.
		 */
		if ((empty = dir_is_empty(upper)) == -1) {
			qb_seterr(err, QB_E_INVALID,
			    "rootfs overlay upperdir %s: %s", upper,
			    strerror(errno));
			goto out;
		}
		if (!empty &&
		    disk_add(plan, STORAGE_DISK_LAYER, STORAGE_SRC_DIR,
		        STORAGE_KEY_TREE, upper, err) == NULL)
			goto out;
	}
	rc = 0;
out:
	free(dirs);
	return rc;
}

static int
plan_erofs(const struct storage_mount *m, struct storage_plan *plan,
    struct qb_error *err)
{
	if (m->source == NULL)
		return qb_seterr(
		    err, QB_E_INVALID, "rootfs erofs mount has no source");
	if (need_image("rootfs erofs source", m->source, err) == -1)
		return -1;
	if (disk_add(plan, STORAGE_DISK_LAYER, STORAGE_SRC_IMAGE,
	        STORAGE_KEY_STAT, m->source, err) == NULL)
		return -1;
	for (size_t i = 0; i < m->n_options; i++) {
		const char *o = m->options[i];

		if (o == NULL || strncmp(o, "device=", 7) != 0)
			continue;
		if (need_image("rootfs erofs device", o + 7, err) == -1)
			return -1;
		if (disk_add(plan, STORAGE_DISK_DEVICE, STORAGE_SRC_IMAGE,
		        STORAGE_KEY_STAT, o + 7, err) == NULL)
			return -1;
	}
	plan->readonly = false;
	return 0;
}

static int
plan_bind_rootfs(const struct storage_mount *m, struct storage_plan *plan,
    struct qb_error *err)
{
	bool ro = opt_has(m->options, m->n_options, "ro");

	if (m->source == NULL)
		return qb_seterr(
		    err, QB_E_INVALID, "rootfs bind mount has no source");
	if (need_dir("rootfs bind source", m->source, err) == -1)
		return -1;
	/*
	 * A read-only bind is a view of a committed snapshot (immutable); a
	 * read-write one is a live snapshot (native snapshotter) that may
	 * still change, so it is identified by its contents' metadata.
	 */
	if (disk_add(plan, STORAGE_DISK_LAYER, STORAGE_SRC_DIR,
	        ro ? STORAGE_KEY_STAT : STORAGE_KEY_TREE, m->source,
	        err) == NULL)
		return -1;
	plan->readonly = ro;
	return 0;
}

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int
resolve_path(
    const char *bundle, const char *path, char *out, struct qb_error *err)
{
	int n;

	if (path[0] == '/')
		return copy_path(out, path, err);
	if (bundle == NULL || bundle[0] != '/')
		return qb_seterr(err, QB_E_INVALID,
		    "relative path %s without a bundle directory", path);
	n = snprintf(out, PATH_MAX, "%s/%s", bundle, path);
	if (n < 0 || n >= PATH_MAX)
		return qb_seterr(
		    err, QB_E_INVALID, "path too long: %s/%s", bundle, path);
	return 0;
}

static int
plan_spec_root(struct json_object *spec, const struct storage_opts *opts,
    struct storage_plan *plan, struct qb_error *err)
{
	struct json_object *root = NULL, *ro;
	const char *path;
	char full[PATH_MAX];

	if (spec != NULL)
		json_object_object_get_ex(spec, "root", &root);
	if ((path = jstr(root, "path")) == NULL)
		return qb_seterr(err, QB_E_INVALID,
		    "no rootfs mounts and no root.path in the spec");
	if (resolve_path(opts != NULL ? opts->bundle : NULL, path, full, err) ==
	    -1)
		return -1;
	if (need_dir("spec root.path", full, err) == -1)
		return -1;
	if (disk_add(plan, STORAGE_DISK_LAYER, STORAGE_SRC_DIR,
	        STORAGE_KEY_TREE, full, err) == NULL)
		return -1;
	plan->readonly = json_object_object_get_ex(root, "readonly", &ro) &&
	                 json_object_get_boolean(ro);
	return 0;
}

static bool
spec_is_bind(const char *type, const char *const *opts, size_t n)
{
	return (type != NULL && strcmp(type, "bind") == 0) ||
	       opt_has(opts, n, "bind") || opt_has(opts, n, "rbind");
}

/*
 * Options a volume's spec mount may carry: what crun applies in the guest.
 * Propagation from the host cannot cross the VM boundary: "shared" and
 * "slave" (Kubernetes Bidirectional / HostToContainer) are refused.
 */
static const char *const volume_opts[] = {"bind", "rbind", "ro", "rw",
    "private", "rprivate", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
    "relatime", "norelatime", "noatime", "atime", "strictatime", "nodiratime",
    "diratime", "sync", "async", "dirsync"};

static int
plan_volume(const char *dest, const char *full, bool is_file,
    const char *const *optv, size_t nopt, size_t idx, struct storage_plan *plan,
    struct qb_error *err)
{
	struct storage_volume *v;
	size_t i, k;

	for (i = 0; i < nopt; i++) {
		for (k = 0; k < sizeof(volume_opts) / sizeof(volume_opts[0]);
		     k++)
			if (strcmp(optv[i], volume_opts[k]) == 0)
				break;
		if (k < sizeof(volume_opts) / sizeof(volume_opts[0]))
			continue;
		if (strstr(optv[i], "shared") != NULL ||
		    strstr(optv[i], "slave") != NULL ||
		    strstr(optv[i], "unbindable") != NULL)
			return qb_seterr(err, QB_E_INVALID,
			    "bind mount %s on %s: mount propagation \"%s\" is "
			    "not supported: host mounts cannot propagate into "
			    "the VM (use private or rprivate)",
			    full, dest, optv[i]);
		return qb_seterr(err, QB_E_INVALID,
		    "bind mount %s on %s: unknown option \"%s\"", full, dest,
		    optv[i]);
	}
	if (plan->n_volumes >= STORAGE_MAX_VOLUMES)
		return qb_seterr(err, QB_E_RANGE,
		    "more than %d bind mounts (at %s)", STORAGE_MAX_VOLUMES,
		    dest);
	if (plan->volumes == NULL &&
	    (plan->volumes = calloc(
	         STORAGE_MAX_VOLUMES, sizeof(*plan->volumes))) == NULL)
		return qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
	v = &plan->volumes[plan->n_volumes];
	memset(v, 0, sizeof(*v));
	if (copy_path(v->dest, dest, err) == -1 ||
	    copy_path(v->source, full, err) == -1)
		return -1;
	snprintf(v->guest_path, sizeof(v->guest_path), "%s/%zu",
	    STORAGE_GUEST_VOLUMES_DIR, plan->n_volumes);
	v->readonly = opt_has(optv, nopt, "ro");
	v->is_file = is_file;
	v->spec_index = idx;
	plan->n_volumes++;
	return 0;
}

/* A copy of a small file bound into the container (f->data, f->len). */
static int
read_small_file(const char *path, struct storage_file *f, struct qb_error *err)
{
	struct stat st;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return qb_seterr(err, QB_E_INVALID, "bind mount source %s: %s",
		    path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		goto changed;
	if (st.st_size > STORAGE_FILE_MAX) {
		close(fd);
		return qb_seterr(err, QB_E_INVALID,
		    "bind mount of file %s (%lld bytes) in a pod's later "
		    "container: files are copied into the VM up to %d bytes",
		    path, (long long)st.st_size, STORAGE_FILE_MAX);
	}
	/* +1: notice a file that grew between fstat and read. */
	if ((f->data = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
	}
	f->len = 0;
	for (;;) {
		r = read(fd, f->data + f->len, (size_t)st.st_size + 1 - f->len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			qb_seterr(err, QB_E_INVALID, "read %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		f->len += (size_t)r;
		if (f->len > (size_t)st.st_size)
			goto changed;
	}
	f->mode = st.st_mode & 07777;
	f->uid = st.st_uid;
	f->gid = st.st_gid;
	close(fd);
	return 0;
changed:
	qb_seterr(err, QB_E_INVALID,
	    "bind mount source %s changed while being read", path);
fail:
	free(f->data);
	f->data = NULL;
	close(fd);
	return -1;
}

/*
 * A bind of a pod's later container (opts->no_volumes): when the VM's
 * virtio-fs share takes volumes while it runs (later_share), directories and
 * files (what CRI binds: hosts, resolv.conf, hostname, termination-log)
 * join it as volumes, live both ways. Without one, a file is copied in, a
 * read-only directory becomes a disk and a read-write directory is refused.
 */
static int
plan_later_bind(const char *dest, const char *full, const struct stat *st,
    const char *const *optv, size_t nopt, size_t idx, bool later_share,
    struct storage_plan *plan, struct qb_error *err)
{
	struct storage_file *f;
	struct storage_disk *d;

	if (later_share)
		return plan_volume(dest, full, S_ISREG(st->st_mode), optv, nopt,
		    idx, plan, err);
	if (S_ISDIR(st->st_mode)) {
		if (!opt_has(optv, nopt, "ro"))
			return qb_seterr(err, QB_E_UNIMPLEMENTED,
			    "read-write bind of host directory %s (on %s) in "
			    "a pod's later container: the pod VM has no "
			    "shared filesystem (qemubox-fsd is not running); "
			    "mount it read-only (\"ro\") to get a copy",
			    full, dest);
		/* A host directory may change between containers. */
		if ((d = disk_add(plan, STORAGE_DISK_BIND, STORAGE_SRC_DIR,
		         STORAGE_KEY_TREE, full, err)) == NULL)
			return -1;
		d->spec_index = idx;
		return copy_path(d->dest, dest, err);
	}
	if (plan->n_files >= STORAGE_MAX_FILES)
		return qb_seterr(err, QB_E_RANGE,
		    "more than %d file bind mounts", STORAGE_MAX_FILES);
	if (plan->files == NULL && (plan->files = calloc(STORAGE_MAX_FILES,
	                                sizeof(*plan->files))) == NULL)
		return qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
	f = &plan->files[plan->n_files];
	memset(f, 0, sizeof(*f));
	if (copy_path(f->dest, dest, err) == -1 ||
	    copy_path(f->source, full, err) == -1)
		return -1;
	snprintf(f->guest_path, sizeof(f->guest_path), "%s/%zu",
	    STORAGE_GUEST_FILES_DIR, plan->n_files);
	f->readonly = opt_has(optv, nopt, "ro");
	f->spec_index = idx;
	if (read_small_file(full, f, err) == -1)
		return qb_preferr(err, "spec mount %s", dest);
	plan->n_files++;
	return 0;
}

static int
plan_spec_mount(struct json_object *jm, size_t idx,
    const struct storage_opts *opts, struct storage_plan *plan,
    struct qb_error *err)
{
	struct json_object *jopts;
	const char *dest, *type, *source;
	const char *optv[64];
	size_t nopt = 0;
	char full[PATH_MAX];
	struct stat st;

	dest = jstr(jm, "destination");
	type = jstr(jm, "type");
	source = jstr(jm, "source");
	if (dest == NULL)
		return qb_seterr(err, QB_E_INVALID,
		    "spec mount %zu has no destination", idx);
	if (json_object_object_get_ex(jm, "options", &jopts) &&
	    json_object_is_type(jopts, json_type_array)) {
		size_t n = json_object_array_length(jopts);

		for (size_t i = 0; i < n && nopt < 64; i++) {
			struct json_object *o =
			    json_object_array_get_idx(jopts, i);

			if (json_object_is_type(o, json_type_string))
				optv[nopt++] = json_object_get_string(o);
		}
	}

	if (!spec_is_bind(type, optv, nopt)) {
		for (size_t i = 0;
		     type != NULL &&
		     i < sizeof(guest_fs_types) / sizeof(guest_fs_types[0]);
		     i++)
			if (strcmp(type, guest_fs_types[i]) == 0)
				return 0;
		return qb_seterr(err, QB_E_INVALID,
		    "spec mount %s: type %s is not supported in a qemubox VM",
		    dest, type != NULL ? type : "(none)");
	}

	if (source == NULL)
		return qb_seterr(err, QB_E_INVALID,
		    "spec bind mount %s has no source", dest);
	if (resolve_path(
	        opts != NULL ? opts->bundle : NULL, source, full, err) == -1)
		return -1;
	if (stat(full, &st) == -1)
		return qb_seterr(err, QB_E_INVALID,
		    "spec bind mount %s: source %s: %s", dest, full,
		    strerror(errno));

	if (S_ISDIR(st.st_mode) && strcmp(dest, "/dev/shm") == 0) {
		/*
		 * CRI binds the sandbox's shm directory (rw). Shared memory
		 * cannot cross the VM boundary anyway: the guest's tmpfs is
		 * the equivalent.
		 */
		log_info("%s: /dev/shm bind of %s becomes a guest tmpfs",
		    __func__, full);
		plan->shm_tmpfs = true;
		plan->shm_spec_index = idx;
		return 0;
	}
	if ((S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) && opts != NULL &&
	    opts->no_volumes)
		return plan_later_bind(dest, full, &st, optv, nopt, idx,
		    opts->later_share, plan, err);
	if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))
		return plan_volume(dest, full, S_ISREG(st.st_mode), optv, nopt,
		    idx, plan, err);
	/* /dev/null, /dev/fuse ...: the guest's own node of that path. */
	if (S_ISCHR(st.st_mode))
		return 0;
	return qb_seterr(err, QB_E_INVALID,
	    "spec bind mount %s: source %s is neither a file, a directory "
	    "nor a character device",
	    dest, full);
}

static uint64_t
spec_memory_limit(struct json_object *spec)
{
	struct json_object *o = spec;
	static const char *const path[] = {
	    "linux", "resources", "memory", "limit"};

	for (size_t i = 0; i < 4; i++)
		if (o == NULL || !json_object_object_get_ex(o, path[i], &o))
			return 0;
	if (!json_object_is_type(o, json_type_int))
		return 0;
	return json_object_get_int64(o) > 0 ? (uint64_t)json_object_get_int64(o)
	                                    : 0;
}

static int scratch_check(
    const char *template_path, uint64_t bytes, int in, struct qb_error *err);

/*
 * The scratch disk is checked here, before any layer is built or the network
 * set up, so a bad storage.scratch_size_mb fails Create early and cheaply.
 */
static int
plan_scratch(struct storage_plan *plan, const struct storage_opts *opts,
    struct qb_error *err)
{
	static unsigned seq;
	struct storage_disk *d;
	int in;

	if (opts->scratch_template == NULL || opts->scratch_dir == NULL)
		return qb_seterr(err, QB_E_INTERNAL,
		    "storage.scratch_size_mb is set but the scratch template "
		    "or directory is not");
	if ((in = open(opts->scratch_template, O_RDONLY | O_CLOEXEC)) == -1)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "scratch template %s: %s (storage.scratch_size_mb needs "
		    "it; make install)",
		    opts->scratch_template, strerror(errno));
	if (scratch_check(
	        opts->scratch_template, opts->scratch_bytes, in, err) == -1) {
		close(in);
		return -1;
	}
	close(in);
	d = disk_add(plan, STORAGE_DISK_SCRATCH, STORAGE_SRC_SCRATCH,
	    STORAGE_KEY_STAT, opts->scratch_template, err);
	if (d == NULL)
		return -1;
	snprintf(d->serial, sizeof(d->serial), "%s", STORAGE_SCRATCH_SERIAL);
	/* Unique among live shims; a leftover of a dead one is replaced. */
	if (snprintf(d->image, sizeof(d->image), "%s/scratch.%ld.%u.ext4",
	        opts->scratch_dir, (long)getpid(),
	        seq++) >= (int)sizeof(d->image))
		return qb_seterr(err, QB_E_INVALID,
		    "scratch dir %s: path too long", opts->scratch_dir);
	plan->upper_kind = STORAGE_UPPER_SCRATCH;
	plan->upper_bytes = opts->scratch_bytes;
	return 0;
}

int
storage_plan_build(const struct storage_mount *rootfs, size_t n_rootfs,
    struct json_object *spec, const struct storage_opts *opts,
    struct storage_plan *plan, struct qb_error *err)
{
	struct json_object *mounts;
	int rc;

	memset(plan, 0, sizeof(*plan));
	if (n_rootfs > 1) {
		qb_seterr(err, QB_E_INVALID,
		    "%zu rootfs mounts: qemubox takes one (overlay, erofs or "
		    "bind)",
		    n_rootfs);
		goto fail;
	}
	if (n_rootfs == 0)
		rc = plan_spec_root(spec, opts, plan, err);
	else if (rootfs[0].type == NULL)
		rc = qb_seterr(err, QB_E_INVALID, "rootfs mount has no type");
	else if (strcmp(rootfs[0].type, "overlay") == 0)
		rc = plan_overlay(&rootfs[0], plan, err);
	else if (strcmp(rootfs[0].type, "erofs") == 0)
		rc = plan_erofs(&rootfs[0], plan, err);
	else if (strcmp(rootfs[0].type, "bind") == 0 ||
	         opt_has(rootfs[0].options, rootfs[0].n_options, "rbind") ||
	         opt_has(rootfs[0].options, rootfs[0].n_options, "bind"))
		rc = plan_bind_rootfs(&rootfs[0], plan, err);
	else
		rc = qb_seterr(err, QB_E_INVALID,
		    "rootfs mount type %s is not supported by qemubox "
		    "(overlay, erofs or bind)",
		    rootfs[0].type);
	if (rc == -1)
		goto fail;

	if (spec != NULL &&
	    json_object_object_get_ex(spec, "mounts", &mounts)) {
		size_t n;

		if (!json_object_is_type(mounts, json_type_array)) {
			qb_seterr(
			    err, QB_E_INVALID, "spec mounts is not an array");
			goto fail;
		}
		n = json_object_array_length(mounts);
		for (size_t i = 0; i < n; i++)
			if (plan_spec_mount(
			        json_object_array_get_idx(mounts, i), i, opts,
			        plan, err) == -1)
				goto fail;
	}

	/* A read-only rootfs writes nothing: no disk for it. */
	if (opts != NULL && opts->scratch_bytes > 0 && !plan->readonly) {
		if (plan_scratch(plan, opts, err) == -1)
			goto fail;
	} else {
		plan->upper_kind = STORAGE_UPPER_TMPFS;
		plan->upper_bytes = opts != NULL && opts->tmpfs_bytes > 0
		                        ? opts->tmpfs_bytes
		                        : spec_memory_limit(spec);
	}
	return 0;
fail:
	storage_plan_free(plan);
	return -1;
}

/*
 * A shim killed between creating its scratch copy and unlinking it leaves
 * scratch.<pid>.<n>.ext4 behind: remove those of pids that no longer exist
 * (and any of our own pid, which can only be an earlier holder's).
 */
static void
scratch_sweep(const char *image)
{
	char dir[PATH_MAX], *slash;
	struct dirent *de;
	long pid;
	unsigned n;
	int end;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s", image);
	if ((slash = strrchr(dir, '/')) == NULL)
		return;
	*slash = '\0';
	if ((d = opendir(dir[0] != '\0' ? dir : "/")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		end = 0;
		if (sscanf(de->d_name, "scratch.%ld.%u.ext4%n", &pid, &n,
		        &end) != 2 ||
		    end == 0 || de->d_name[end] != '\0' || pid <= 0)
			continue;
		if (pid != (long)getpid() &&
		    (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("%s: removed a dead shim's scratch disk %s/%s",
			    __func__, dir, de->d_name);
	}
	closedir(d);
}

int
storage_plan_prepare(struct storage_plan *plan, const struct layer_cache *cache,
    struct qb_error *err)
{
	for (size_t i = 0; i < plan->n_disks; i++) {
		struct storage_disk *d = &plan->disks[i];
		struct stat st;
		int built = 0;

		if (d->fd != -1)
			continue;
		if (d->src == STORAGE_SRC_SCRATCH) {
			/*
			 * Unlinked once open: QEMU holds the only reference,
			 * so the disk goes when the VM does, whatever kills
			 * the shim, and nothing is left in the state dir.
			 */
			scratch_sweep(d->image);
			if (storage_scratch_create(d->path, d->image,
			        plan->upper_bytes, &d->fd, err) == -1)
				return -1;
			(void)unlink(d->image);
			continue;
		}
		if (d->src == STORAGE_SRC_DIR) {
			if (layer_cache_get(cache, d->path, d->key, d->image,
			        sizeof(d->image), &d->fd, &built, err) == -1)
				return qb_preferr(err, "layer %s", d->path);
			d->built = built != 0;
			continue;
		}
		strcpy(d->image, d->path);
		d->fd = open(d->image, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (d->fd == -1)
			return qb_seterr(err, QB_E_INVALID, "open %s: %s",
			    d->image, strerror(errno));
		if (fstat(d->fd, &st) == -1 ||
		    (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
			close(d->fd);
			d->fd = -1;
			return qb_seterr(err, QB_E_INVALID,
			    "%s: not an image file or block device", d->image);
		}
	}
	return 0;
}

static int
set_source(struct json_object *mounts, size_t idx, const char *dest,
    const char *source, struct qb_error *err)
{
	struct json_object *jm = json_object_array_get_idx(mounts, idx);
	const char *d = jstr(jm, "destination");

	if (d == NULL || strcmp(d, dest) != 0)
		return qb_seterr(err, QB_E_INTERNAL,
		    "spec mount %zu is not the one the plan was built from",
		    idx);
	if (json_object_object_add(
	        jm, "source", json_object_new_string(source)) != 0)
		return qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
	return 0;
}

int
storage_spec_rewrite(struct json_object *spec, const struct storage_plan *plan,
    struct qb_error *err)
{
	struct json_object *mounts;
	char path[PATH_MAX];

	if (plan->n_files == 0 && plan->n_disks == 0 && !plan->shm_tmpfs &&
	    plan->n_volumes == 0)
		return 0;
	if (spec == NULL ||
	    !json_object_object_get_ex(spec, "mounts", &mounts) ||
	    !json_object_is_type(mounts, json_type_array)) {
		if (plan->n_files == 0 && !plan->shm_tmpfs &&
		    plan->n_volumes == 0) {
			for (size_t i = 0; i < plan->n_disks; i++)
				if (plan->disks[i].role == STORAGE_DISK_BIND)
					goto bad;
			return 0;
		}
		goto bad;
	}
	for (size_t i = 0; i < plan->n_files; i++)
		if (set_source(mounts, plan->files[i].spec_index,
		        plan->files[i].dest, plan->files[i].guest_path,
		        err) == -1)
			return -1;
	for (size_t i = 0; i < plan->n_volumes; i++)
		if (set_source(mounts, plan->volumes[i].spec_index,
		        plan->volumes[i].dest, plan->volumes[i].guest_path,
		        err) == -1)
			return -1;
	for (size_t i = 0; i < plan->n_disks; i++) {
		const struct storage_disk *d = &plan->disks[i];

		if (d->role != STORAGE_DISK_BIND)
			continue;
		snprintf(path, sizeof(path), "%s/%s", STORAGE_GUEST_BINDS_DIR,
		    d->serial);
		if (set_source(mounts, d->spec_index, d->dest, path, err) == -1)
			return -1;
	}
	if (plan->shm_tmpfs) {
		struct json_object *m, *o;
		static const char *const shm_opts[] = {
		    "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};

		if (set_source(mounts, plan->shm_spec_index, "/dev/shm", "shm",
		        err) == -1)
			return -1;
		m = json_object_array_get_idx(mounts, plan->shm_spec_index);
		if ((o = json_object_new_array()) == NULL)
			return qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
		for (size_t i = 0; i < 5; i++)
			json_object_array_add(
			    o, json_object_new_string(shm_opts[i]));
		json_object_object_add(
		    m, "type", json_object_new_string("tmpfs"));
		json_object_object_add(m, "options", o);
	}
	return 0;
bad:
	return qb_seterr(
	    err, QB_E_INTERNAL, "spec has no mounts but the plan has binds");
}

void
storage_plan_free(struct storage_plan *plan)
{
	for (size_t i = 0; i < plan->n_disks; i++)
		if (plan->disks[i].fd != -1)
			close(plan->disks[i].fd);
	for (size_t i = 0; i < plan->n_files; i++)
		free(plan->files[i].data);
	free(plan->disks);
	free(plan->files);
	free(plan->volumes);
	memset(plan, 0, sizeof(*plan));
}

/* Copy only the data extents of in to out: the template is mostly holes. */
static int
copy_sparse(int in, int out, off_t size)
{
	char buf[65536];
	off_t data = 0, hole;

	for (;;) {
		data = lseek(in, data, SEEK_DATA);
		if (data == -1)
			return errno == ENXIO ? 0 : -1;
		if ((hole = lseek(in, data, SEEK_HOLE)) == -1)
			return -1;
		while (data < hole) {
			size_t want = (size_t)(hole - data) < sizeof(buf)
			                  ? (size_t)(hole - data)
			                  : sizeof(buf);
			ssize_t r = pread(in, buf, want, data);

			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0)
				return r == 0 ? 0 : -1;
			if (pwrite(out, buf, (size_t)r, data) != r)
				return -1;
			data += r;
		}
		if (data >= size)
			return 0;
	}
}

static int
scratch_check(
    const char *template_path, uint64_t bytes, int in, struct qb_error *err)
{
	struct stat st;

	if (fstat(in, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size <= 0)
		return qb_seterr(err, QB_E_INTERNAL,
		    "scratch template %s: not a regular file", template_path);
	if (bytes < (uint64_t)st.st_size || bytes > STORAGE_SCRATCH_MAX)
		return qb_seterr(err, QB_E_INVALID,
		    "storage.scratch_size_mb (%llu MiB) must be between %lld "
		    "MiB and %llu MiB",
		    (unsigned long long)(bytes >> 20),
		    (long long)(st.st_size >> 20),
		    (unsigned long long)(STORAGE_SCRATCH_MAX >> 20));
	return 0;
}

int
storage_scratch_create(const char *template_path, const char *path,
    uint64_t bytes, int *fd_out, struct qb_error *err)
{
	struct stat st;
	int in = -1, out = -1;

	*fd_out = -1;
	if ((in = open(template_path, O_RDONLY | O_CLOEXEC)) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "scratch template %s: %s",
		    template_path, strerror(errno));
	if (scratch_check(template_path, bytes, in, err) == -1 ||
	    fstat(in, &st) == -1) {
		close(in);
		return -1;
	}
	out = open(
	    path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out == -1) {
		close(in);
		return qb_seterr(
		    err, QB_E_INTERNAL, "create %s: %s", path, strerror(errno));
	}
	if (copy_sparse(in, out, st.st_size) == -1 ||
	    ftruncate(out, (off_t)bytes) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "scratch disk %s: %s", path,
		    strerror(errno));
		close(in);
		close(out);
		unlink(path);
		return -1;
	}
	close(in);
	*fd_out = out;
	return 0;
}

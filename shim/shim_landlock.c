/*
 * What the shim may touch once it serves containerd, decided at daemon start
 * (a Landlock domain cannot be widened later):
 *
 * - read everywhere: the rootfs layers are wherever containerd's snapshotter
 *   keeps them, named only by each Create, so no narrower read set is known
 *   in advance. Reads stay bounded by DAC for uid 0 without capabilities.
 * - write: qemubox's state and log dirs, the bundle's parent (every bundle
 *   of this namespace: a pod's later containers), containerd's state dir the
 *   bundle lives in (FIFOs of ctr in fifo/, of CRI under its plugin dir, the
 *   shim sockets in s/), containerd's fixed /run/containerd/{fifo,s},
 *   /dev/null, and /dev/vhost-vsock where the host has it (the vsock guest
 *   channel: QEMU gets the shim's fd; shim/transport.c). A FIFO a client
 *   puts anywhere else is refused (EACCES): the domain cannot grow once the
 *   first Create names it.
 * - exec: mkfs.erofs, the ELF interpreter execve opens for it, and the
 *   publish binary containerd named (only used without TTRPC_ADDRESS).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "seccomp/seccomp.h"
#include "lib/sandbox_cgroup.h"
#include "shim/layer_cache.h"
#include "shim/sandbox_host.h"
#include "shim/shim_landlock.h"

#define TASK_DIR "io.containerd.runtime.v2.task"
/*
 * Fixed defaults of containerd's client and shim code, whatever its --state:
 * ctr's FIFOs (cio) and the shim sockets. They exist by the time a shim
 * starts (the client creates the FIFOs before Create).
 */
#define CTD_FIFO_DIR "/run/containerd/fifo"
#define CTD_SOCK_DIR "/run/containerd/s"

static const char *const ld_so[] = {
    "/lib64/ld-linux-x86-64.so.2",
    "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
};

static int
add(struct shim_ll_rules *r, const char *path, unsigned access)
{
	size_t len;

	if (path == NULL || path[0] != '/')
		return 0; /* relative or unset: nothing to grant */
	if (r->n == SHIM_LL_MAX_RULES) {
		errno = ENOSPC;
		return -1;
	}
	if ((len = strlen(path)) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (len + 1 > sizeof(r->pool) - r->used) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(r->pool + r->used, path, len + 1);
	r->rule[r->n].path = r->pool + r->used;
	r->used += len + 1;
	r->rule[r->n].access = access;
	r->n++;
	return 0;
}

/* dst = the directory `levels` up from path (lexically). */
static int
up(char *dst, const char *path, int levels)
{
	char *s;

	if (strlen(path) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(dst, path);
	while (levels-- > 0) {
		/* Trailing slashes are not a level. */
		while (
		    (s = strrchr(dst, '/')) != NULL && s != dst && s[1] == '\0')
			*s = '\0';
		if ((s = strrchr(dst, '/')) == NULL)
			return -1;
		if (s == dst)
			s[1] = '\0';
		else
			*s = '\0';
	}
	return 0;
}

int
shim_landlock_rules(const struct qb_config *cfg, const char *bundle,
    const char *publish, struct shim_ll_rules *out)
{
	struct qb_config defaults;
	char ns_dir[PATH_MAX], task_dir[PATH_MAX], state[PATH_MAX];
	char parent[PATH_MAX];
	const char *base, *cg[CG_MAX_DIRS];
	size_t i, n;

	if (cfg == NULL) {
		qb_config_defaults(&defaults);
		cfg = &defaults;
	}
	out->n = out->used = 0;
	if (add(out, "/", LL_READ) == -1 ||
	    add(out, cfg->paths.state_dir, LL_READ | LL_WRITE) == -1 ||
	    add(out, cfg->paths.log_dir, LL_READ | LL_WRITE) == -1 ||
	    add(out, "/dev/null", LL_READ | LL_WRITE) == -1 ||
	    add(out, CTD_FIFO_DIR, LL_READ | LL_WRITE) == -1 ||
	    add(out, CTD_SOCK_DIR, LL_READ | LL_WRITE) == -1 ||
	    add(out, LAYER_CACHE_MKFS, LL_EXEC) == -1)
		return -1;
	if (access("/dev/vhost-vsock", F_OK) == 0 &&
	    add(out, "/dev/vhost-vsock", LL_READ | LL_WRITE) == -1)
		return -1;
	for (i = 0; i < sizeof(ld_so) / sizeof(ld_so[0]); i++)
		if (access(ld_so[i], F_OK) == 0 &&
		    add(out, ld_so[i], LL_EXEC) == -1)
			return -1;
	if (publish != NULL && publish[0] != '\0' &&
	    add(out, publish, LL_EXEC) == -1)
		return -1;
	/* The sandbox's cgroup directories go at the end: rmdir only. */
	n = sandbox_host_cgroup_dirs(cg, sizeof(cg) / sizeof(cg[0]));
	for (i = 0; i < n; i++)
		if (up(parent, cg[i], 1) == -1 ||
		    add(out, parent, LL_RMDIR) == -1)
			return -1;

	if (bundle == NULL || bundle[0] != '/')
		return 0;
	if (up(ns_dir, bundle, 1) == -1 || strcmp(ns_dir, "/") == 0)
		return 0; /* a bundle at / would grant the whole tree */
	if (add(out, ns_dir, LL_READ | LL_WRITE) == -1)
		return -1;
	/* <state>/io.containerd.runtime.v2.task/<ns>/<id>: grant <state>. */
	if (up(task_dir, bundle, 2) == -1)
		return 0;
	base = strrchr(task_dir, '/');
	if (base == NULL || strcmp(base + 1, TASK_DIR) != 0)
		return 0;
	if (up(state, bundle, 3) == -1 || strcmp(state, "/") == 0)
		return 0;
	return add(out, state, LL_READ | LL_WRITE);
}

int
shim_landlock_apply(
    const struct qb_config *cfg, const char *bundle, const char *publish)
{
	static struct shim_ll_rules r; /* PATH_MAX x 24: not on the stack */
	size_t i;

	if (shim_landlock_rules(cfg, bundle, publish, &r) == -1) {
		log_warn("%s: rules", __func__);
		return -1;
	}
	for (i = 0; i < r.n; i++)
		log_debug("%s: %s%s%s %s", __func__,
		    r.rule[i].access & LL_READ ? "r" : "-",
		    r.rule[i].access & LL_WRITE ? "w" : "-",
		    r.rule[i].access & LL_EXEC ? "x" : "-", r.rule[i].path);
	return landlock_restrict(r.rule, r.n);
}

/* The -publish-binary value of our own command line (containerd's). */
static int
own_publish_binary(char *dst, size_t size)
{
	char buf[8192], *p, *end, *val = NULL;
	ssize_t n;
	int fd;

	dst[0] = '\0';
	if ((fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	end = buf + n;
	for (p = buf; p < end; p += strlen(p) + 1) {
		const char *a = p;

		if (a[0] == '-' && a[1] == '-')
			a++;
		if (strcmp(a, "-publish-binary") == 0) {
			if (p + strlen(p) + 1 < end)
				val = p + strlen(p) + 1;
			break;
		}
		if (strncmp(a, "-publish-binary=", 16) == 0) {
			val = (char *)(uintptr_t)(a + 16);
			break;
		}
	}
	if (val == NULL || strlen(val) >= size)
		return -1;
	strcpy(dst, val);
	return 0;
}

void
shim_confine(const struct qb_config *cfg)
{
	char bundle[PATH_MAX], publish[PATH_MAX];
	enum qb_seccomp_mode mode;

	if (getcwd(bundle, sizeof(bundle)) == NULL)
		fatal("%s: getcwd", __func__);
	/*
	 * Landlock grants only paths that exist now and the parents stay
	 * read-only: create our own dirs first (modes as their users do).
	 */
	if (cfg != NULL) {
		if (mkdir(cfg->paths.state_dir, 0700) == -1 && errno != EEXIST)
			log_warn(
			    "%s: mkdir %s", __func__, cfg->paths.state_dir);
		if (mkdir(cfg->paths.log_dir, 0750) == -1 && errno != EEXIST)
			log_warn("%s: mkdir %s", __func__, cfg->paths.log_dir);
	}
	own_publish_binary(publish, sizeof(publish));
	if (shim_landlock_apply(cfg, bundle, publish) == -1)
		fatalx("%s: Landlock could not be applied", __func__);
	mode = cfg != NULL ? cfg->security.seccomp : QB_SECCOMP_ENFORCE;
	if (seccomp_apply_shim(mode) == -1)
		fatal("%s: seccomp", __func__);
	log_debug("%s: Landlock and seccomp (%s) applied", __func__,
	    mode == QB_SECCOMP_LOG ? "log" : "enforce");
}

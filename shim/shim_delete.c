/*
 * `delete`: containerd runs it whenever its connection to the shim closes
 * (also after every normal teardown in 1.6), and after a failed start, so
 * it must be idempotent: clean up whatever is left for <ns>/<id>, print a
 * raw DeleteResponse on stdout and exit 0 even when nothing was left.
 * stderr is recorded by containerd as "cleanup warnings" (level warning),
 * so a delete that finds nothing wrong writes nothing there (shim_main).
 */
#include <sys/mount.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "shim/backend.h"
#include "shim/shim_cli.h"
#include "shim/shim_delete.h"

static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/*
 * DeleteResponse{1 pid, 2 exit_status, 3 exited_at Timestamp{1 seconds,
 * 2 nanos}}; zero fields are left out as proto3 does. Returns the length.
 */
size_t
shim_encode_delete_response(
    uint8_t *buf, uint32_t pid, uint32_t exit_status, const struct timespec *at)
{
	uint8_t ts[24];
	size_t n = 0, tn = 0;

	if (at->tv_sec != 0) {
		ts[tn++] = 0x08;
		/* int64 varint: negative seconds take ten bytes. */
		tn += put_varint(ts + tn, (uint64_t)(int64_t)at->tv_sec);
	}
	if (at->tv_nsec != 0) {
		ts[tn++] = 0x10;
		tn += put_varint(ts + tn, (uint64_t)(int64_t)at->tv_nsec);
	}
	if (pid != 0) {
		buf[n++] = 0x08;
		n += put_varint(buf + n, pid);
	}
	if (exit_status != 0) {
		buf[n++] = 0x10;
		n += put_varint(buf + n, exit_status);
	}
	/* exited_at is always sent, as 1.6's gogo non-nullable field is. */
	buf[n++] = 0x1a;
	n += put_varint(buf + n, tn);
	memcpy(buf + n, ts, tn);
	return n + tn;
}

/* Unmount every layer stacked on <bundle>/rootfs; absent or unmounted is fine.
 */
static int
unmount_rootfs(const char *bundle)
{
	char path[PATH_MAX];
	int i;

	if (snprintf(path, sizeof(path), "%s/rootfs", bundle) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (i = 0; i < 16; i++) {
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == -1) {
			if (errno == EINVAL || errno == ENOENT)
				return 0;
			return -1;
		}
	}
	return 0;
}

/*
 * A daemon that died leaves its socket behind; a later `start` copes, but
 * leaving nothing is the contract. Only a socket nobody answers on goes.
 */
static void
remove_stale_socket(const char *bundle)
{
	char apath[PATH_MAX], uri[SHIM_ADDR_MAX];
	const char *path;
	ssize_t n;
	int fd;

	if (snprintf(apath, sizeof(apath), "%s/address", bundle) >=
	    (int)sizeof(apath))
		return;
	if ((fd = open(apath, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, uri, sizeof(uri) - 1);
	close(fd);
	if (n <= 0)
		return;
	uri[n] = '\0';
	if ((path = shim_uri_path(uri)) == NULL ||
	    strncmp(path, SHIM_SOCKET_DIR "/", strlen(SHIM_SOCKET_DIR) + 1) !=
	        0 ||
	    strchr(path + strlen(SHIM_SOCKET_DIR) + 1, '/') != NULL)
		return;
	if (!shim_socket_serving(path) && unlink(path) == 0)
		log_info("%s: removed stale socket %s", __func__, path);
}

int
shim_delete(const struct shim_opts *o, const struct backend_ops *backend)
{
	struct qb_error err = {0};
	char cwd[PATH_MAX];
	const char *bundle = o->bundle;
	struct timespec now;
	uint8_t buf[64];
	size_t len, off = 0;
	ssize_t n;

	if (bundle[0] == '\0') {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			fprintf(stderr, "%s delete: getcwd: %s\n", SHIM_NAME,
			    strerror(errno));
			return 1;
		}
		bundle = cwd;
	}
	if (backend->cleanup_orphan != NULL &&
	    backend->cleanup_orphan(o->namespace, o->id, bundle, &err) == -1)
		log_warnx("%s: cleanup %s/%s: %s", __func__, o->namespace,
		    o->id, err.msg);
	if (unmount_rootfs(bundle) == -1)
		log_warn("%s: unmount %s/rootfs", __func__, bundle);
	remove_stale_socket(bundle);

	clock_gettime(CLOCK_REALTIME, &now);
	/* What the runc shim reports: killed by SIGKILL, now. */
	len = shim_encode_delete_response(buf, 0, 128 + 9, &now);
	while (off < len) {
		n = write(STDOUT_FILENO, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "%s delete: write response: %s\n",
			    SHIM_NAME, strerror(errno));
			return 1;
		}
		off += (size_t)n;
	}
	return 0;
}

/*
 * `start`: containerd runs it with cwd = bundle and reads everything it
 * prints on stdout+stderr as the address, so this prints exactly one line
 * and logs only into the bundle's `log` FIFO. The daemon it spawns gets
 * /dev/null stdio (containerd waits for EOF on the pipe) and the listening
 * socket as fd 3. containerd >= 2.3 also writes BootstrapParams on stdin;
 * then the answer is the version 3 bootstrap JSON instead of the address.
 */
#include <linux/close_range.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/proc_spawn.h"
#include "lib/startprof.h"
#include "lib/ttrpc.h"
#include "lib/unix_addr.h"
#include "proto/bootstrap.pb-c.h"
#include "proto/task.pb-c.h"
#include "shim/shim_cli.h"

const char *
shim_uri_path(const char *uri)
{
	if (strncmp(uri, "unix://", 7) == 0)
		return uri + 7;
	return NULL;
}

int
shim_socket_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (unix_addr(&sun, path) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		goto fail;
	/* Only containerd (same uid) may talk to us. */
	if (chmod(path, 0600) == -1 || listen(fd, SOMAXCONN) == -1) {
		int saved = errno;
		unlink(path);
		errno = saved;
		goto fail;
	}
	return fd;
fail : {
	int saved = errno;
	close(fd);
	errno = saved;
}
	return -1;
}

/*
 * Whether a daemon answers on path. A bare connect() is not enough: a shim
 * that was just killed can still have its listening socket queued for
 * release, and connect() lands in the backlog of nobody. So ask it
 * (Connect is cheap and always answered); only a refused or dropped
 * connection counts as dead, a slow answer counts as alive.
 */
int
shim_socket_serving(const char *path)
{
	Containerd__Task__V2__ConnectRequest req;
	struct qb_error err = {0};
	int fd, rc;

	if ((fd = ttrpc_dial_unix(path)) == -1)
		return 0;
	containerd__task__v2__connect_request__init(&req);
	rc = ttrpc_call_sync(fd, "containerd.task.v2.Task", "Connect",
	    &req.base, 1000ull * 1000 * 1000, NULL, 0, NULL, NULL, &err);
	close(fd);
	return rc == 0 || err.code != QB_E_UNAVAILABLE;
}

ssize_t
shim_read_stdin(int fd, uint8_t *buf, size_t cap)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int r;

	if (fstat(fd, &st) == -1)
		return -1;
	if (!S_ISFIFO(st.st_mode) && !S_ISREG(st.st_mode))
		return 0;
	while (len < cap) {
		if ((r = poll(&pfd, 1, SHIM_STDIN_WAIT_MS)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break; /* a pipe nobody writes to: take what came */
		if ((n = read(fd, buf + len, cap - len)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == cap) {
		errno = EMSGSIZE;
		return -1;
	}
	return (ssize_t)len;
}

int
shim_bootstrap_version(const uint8_t *buf, size_t len, char *ver, size_t verlen)
{
	Containerd__Runtime__Bootstrap__V1__BootstrapParams *p;
	const char *v;
	long major = 0;
	int version = 2;

	if (ver != NULL && verlen > 0)
		ver[0] = '\0';
	if (len == 0)
		return 2;
	p = containerd__runtime__bootstrap__v1__bootstrap_params__unpack(
	    NULL, len, buf);
	if (p == NULL)
		return 2; /* not BootstrapParams: the runtime options Any */
	v = p->containerd_version;
	if (v != NULL && v[0] != '\0') {
		if (ver != NULL && verlen > 0)
			snprintf(ver, verlen, "%s", v);
		if (*v == 'v')
			v++;
		while (*v >= '0' && *v <= '9' && major < 1000)
			major = major * 10 + (*v++ - '0');
		if (major >= 2)
			version = 3;
	}
	containerd__runtime__bootstrap__v1__bootstrap_params__free_unpacked(
	    p, NULL);
	return version;
}

int
shim_start_answer(int version, const char *uri, char *out, size_t outlen)
{
	const char *c;
	int n;

	for (c = uri; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) {
			errno = EINVAL;
			return -1;
		}
	}
	if (version == 2)
		n = snprintf(out, outlen, "%s", uri);
	else if (version == 3)
		n = snprintf(out, outlen,
		    "{\"version\":3,\"address\":\"%s\",\"protocol\":"
		    "\"ttrpc\"}",
		    uri);
	else {
		errno = EINVAL;
		return -1;
	}
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
shim_write_address(const char *uri)
{
	int fd;
	size_t len = strlen(uri);

	if ((fd = open(".address", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	         0600)) == -1)
		return -1;
	if (write(fd, uri, len) != (ssize_t)len || fsync(fd) == -1) {
		int saved = errno ? errno : EIO;
		close(fd);
		unlink(".address");
		errno = saved;
		return -1;
	}
	if (close(fd) == -1 || rename(".address", "address") == -1) {
		int saved = errno;
		unlink(".address");
		errno = saved;
		return -1;
	}
	return 0;
}

int
shim_open_log_fifo(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (snprintf(path, sizeof(path), "%s/log", dir) >= (int)sizeof(path))
		return -1;
	/*
	 * O_NONBLOCK: fails with ENXIO instead of hanging when nobody reads
	 * (a shim started by hand); a regular file named `log` is fine too.
	 */
	if ((fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) ==
	    -1)
		return -1;
	if (fstat(fd, &st) == -1 ||
	    (!S_ISFIFO(st.st_mode) && !S_ISREG(st.st_mode))) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

int
shim_socket_dir_prepare(void)
{
	struct stat st;

	if (mkdir("/run/containerd", 0711) == -1 && errno != EEXIST)
		return -1;
	if (mkdir(SHIM_SOCKET_DIR, 0700) == -1 && errno != EEXIST)
		return -1;
	if (stat(SHIM_SOCKET_DIR, &st) == -1)
		return -1;
	/*
	 * The runc shim creates this directory 0600; root walks through that
	 * only with CAP_DAC_OVERRIDE, which our daemon gives up, and it must
	 * still remove its socket on exit. Owner-only access stays.
	 */
	if (st.st_uid == 0 && (st.st_mode & S_IRWXU) != S_IRWXU &&
	    chmod(SHIM_SOCKET_DIR, (st.st_mode & 07777) | S_IRWXU) == -1)
		return -1;
	return 0;
}

/*
 * Start ourselves in daemon mode (lib/proc_spawn: a session of its own,
 * stdio on /dev/null, the listening socket as fd 3, nothing else). An exec
 * failure is reported back, so `start` never prints an address nobody
 * serves. The daemon is our child until we exit a moment later; then it
 * belongs to containerd's subreaper or init, as the runc shim's does.
 */
static int
spawn_daemon(const struct shim_opts *o, int lfd)
{
	static struct shim_opts c; /* execv wants non-const strings */
	const struct proc_spawn_opts sopts = {.detach = true};
	char self[PATH_MAX];
	char *argv[16];
	ssize_t n;
	int argc = 0;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		return -1;
	self[n] = '\0';
	c = *o;
	argv[argc++] = self;
	argv[argc++] = (char *)"-namespace";
	argv[argc++] = c.namespace;
	argv[argc++] = (char *)"-id";
	argv[argc++] = c.id;
	argv[argc++] = (char *)"-address";
	argv[argc++] = c.address;
	if (o->publish_binary[0] != '\0') {
		argv[argc++] = (char *)"-publish-binary";
		argv[argc++] = c.publish_binary;
	}
	if (o->debug)
		argv[argc++] = (char *)"-debug";
	argv[argc] = NULL;
	return proc_spawn_opt(self, argv, lfd, PROC_SPAWN_IMSG_FD, &sopts) == -1
	           ? -1
	           : 0;
}

int
shim_start(const struct shim_opts *o)
{
	struct qb_error err = {0};
	char group[256], path[PATH_MAX], uri[SHIM_ADDR_MAX];
	char answer[SHIM_ADDR_MAX + 64], ctdver[64];
	uint8_t *in;
	ssize_t inlen;
	int lfd = -1, logfd, version;

	if ((logfd = shim_open_log_fifo(".")) != -1)
		log_set_fd(logfd);
	else
		log_set_fd(-1);
	if ((in = malloc(SHIM_STDIN_MAX)) == NULL ||
	    (inlen = shim_read_stdin(0, in, SHIM_STDIN_MAX)) == -1) {
		fprintf(stderr, "%s start: read stdin: %s\n", SHIM_NAME,
		    strerror(errno));
		free(in);
		return 1;
	}
	version =
	    shim_bootstrap_version(in, (size_t)inlen, ctdver, sizeof(ctdver));
	free(in);
	log_info("%s: containerd %s, %zd bytes on stdin: shim protocol %d",
	    __func__, ctdver[0] ? ctdver : "(no BootstrapParams)", inlen,
	    version);
	if (o->namespace[0] == '\0' || o->id[0] == '\0' ||
	    o->address[0] == '\0') {
		fprintf(stderr,
		    "%s start: -namespace, -id and -address are "
		    "required\n",
		    SHIM_NAME);
		return 1;
	}
	startprof_mark("exec_stdin");
	if (shim_group_from_spec(
	        "config.json", o->id, group, sizeof(group), &err) == -1) {
		fprintf(stderr, "%s start: %s\n", SHIM_NAME, err.msg);
		return 1;
	}
	startprof_mark("spec");
	if (shim_socket_path(o->address, o->namespace, group, path,
	        sizeof(path), uri, sizeof(uri)) == -1) {
		fprintf(stderr, "%s start: socket path: %s\n", SHIM_NAME,
		    strerror(errno));
		return 1;
	}
	if (shim_start_answer(version, uri, answer, sizeof(answer)) == -1) {
		fprintf(stderr, "%s start: answer: %s\n", SHIM_NAME,
		    strerror(errno));
		return 1;
	}
	if (shim_socket_dir_prepare() == -1) {
		fprintf(stderr, "%s start: mkdir %s: %s\n", SHIM_NAME,
		    SHIM_SOCKET_DIR, strerror(errno));
		return 1;
	}
	if ((lfd = shim_socket_listen(path)) == -1) {
		if (errno != EADDRINUSE) {
			fprintf(stderr, "%s start: listen %s: %s\n", SHIM_NAME,
			    path, strerror(errno));
			return 1;
		}
		if (shim_socket_serving(path)) {
			/* Another container of the same group: share it. */
			if (shim_write_address(uri) == -1) {
				fprintf(stderr, "%s start: write address: %s\n",
				    SHIM_NAME, strerror(errno));
				return 1;
			}
			log_info("%s: id=%s group=%s reuses %s", __func__,
			    o->id, group, uri);
			printf("%s", answer);
			return 0;
		}
		log_info("%s: removing stale socket %s", __func__, path);
		if (unlink(path) == -1 && errno != ENOENT) {
			fprintf(stderr, "%s start: remove stale %s: %s\n",
			    SHIM_NAME, path, strerror(errno));
			return 1;
		}
		if ((lfd = shim_socket_listen(path)) == -1) {
			fprintf(stderr, "%s start: listen %s: %s\n", SHIM_NAME,
			    path, strerror(errno));
			return 1;
		}
	}
	if (shim_write_address(uri) == -1) {
		fprintf(stderr, "%s start: write address: %s\n", SHIM_NAME,
		    strerror(errno));
		goto fail;
	}
	if (spawn_daemon(o, lfd) == -1) {
		fprintf(stderr, "%s start: spawn daemon: %s\n", SHIM_NAME,
		    strerror(errno));
		unlink("address");
		goto fail;
	}
	close(lfd);
	log_info(
	    "%s: id=%s group=%s serving on %s", __func__, o->id, group, uri);
	/* This process's CPU, which no running process holds: make bench. */
	startprof_mark("spawn");
	startprof_report(__func__);
	printf("%s", answer);
	return 0;
fail:
	close(lfd);
	unlink(path);
	return 1;
}

/*
 * One virtiofsd and its share (fsd/fsd.h).
 *
 * The child forked here builds the share in a mount namespace of its own,
 * so nothing of it is ever visible on the host and all of it goes when
 * virtiofsd exits:
 *   /run                 a small tmpfs (hides the host's /run)
 *   /run/qemubox-fs/<i>  volume i: a bind mount of the source fd fsd
 *                        opened (directory or file), nosuid, nodev, and
 *                        read-only when asked; not recursive, so mounts
 *                        below a source are not served
 *   /run/qemubox-fs.sock the vhost-user socket, listening
 * then makes the tmpfs read-only (the guest cannot add entries next to the
 * volumes) and executes virtiofsd with -o source=/run/qemubox-fs, which
 * pivots into it in its own mount, pid and net namespaces. The child
 * connects to the socket itself before virtiofsd runs and passes that end
 * back: no other process can ever reach the socket, whose path exists
 * only in that namespace.
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsd/fsd.h"
#include "lib/log.h"

#define CHILD_TIMEOUT_MS 10000

/* virtiofsd's options; each one is in docs/STORAGE.md "Volumes". */
#define VIRTIOFSD_OPTS                                                    \
	"source=" FSD_SHARE_DIR ",sandbox=namespace,cache=none,no_xattr," \
	"no_flock,no_posix_lock,announce_submounts,modcaps=-mknod:-setfcap"

/* In the child: report why it failed and exit. */
static void __attribute__((noreturn))
child_fail(int report, const char *fmt, ...)
{
	char msg[QB_ERRMSG_MAX];
	va_list ap;
	int e = errno;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(e));
	(void)!write(report, msg, strlen(msg));
	_exit(1);
}

static int
send_fd(int sock, int fd)
{
	char c = 'K';
	struct iovec iov = {&c, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = {0};
	struct cmsghdr *cm;

	memset(&u, 0, sizeof(u));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* The child's error text, or the fd it sent; -1 with msg filled. */
static int
recv_fd(int sock, char *msg, size_t msglen)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = {msg, msglen - 1};
	struct msghdr m = {0};
	struct cmsghdr *cm;
	struct pollfd pfd = {sock, POLLIN, 0};
	ssize_t n;
	int fd = -1;

	msg[0] = '\0';
	if (poll(&pfd, 1, CHILD_TIMEOUT_MS) != 1) {
		snprintf(msg, msglen, "virtiofsd set-up timed out");
		return -1;
	}
	memset(&u, 0, sizeof(u));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	if ((n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) <= 0) {
		snprintf(msg, msglen, "virtiofsd set-up ended without a word");
		return -1;
	}
	msg[n] = '\0';
	for (cm = CMSG_FIRSTHDR(&m); cm != NULL; cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (fd != -1 && (n != 1 || msg[0] != 'K')) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void __attribute__((noreturn)) child(const struct qb_fs_volume *vols,
    size_t n, const char *virtiofsd, int report)
{
	int srcfd[QB_FS_MAX_VOLUMES];
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char path[PATH_MAX], fdarg[32];
	char *argv[] = {"virtiofsd", fdarg, "-o", VIRTIOFSD_OPTS, NULL};
	char *envp[] = {NULL};
	int lsock, csock, devnull;
	size_t i;

	/* virtiofsd goes when fsd does (the shim went away). */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1)
		child_fail(report, "PR_SET_PDEATHSIG");
	if (unshare(CLONE_NEWNS) == -1)
		child_fail(report, "unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		child_fail(report, "make / private");
	/*
	 * Each source is resolved once, here (a bind mount source must be a
	 * mount of this namespace), before the tmpfs hides the host's /run.
	 */
	for (i = 0; i < n; i++) {
		struct stat st;

		if ((srcfd[i] = open(
		         vols[i].source, O_PATH | O_CLOEXEC | O_NOCTTY)) == -1)
			child_fail(report, "volume source %s", vols[i].source);
		if (fstat(srcfd[i], &st) == -1 ||
		    (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))) {
			errno = EINVAL;
			child_fail(report,
			    "volume source %s is neither a directory nor a "
			    "regular file",
			    vols[i].source);
		}
	}
	if (mount("qemubox-fs", FSD_RUN_DIR, "tmpfs",
	        MS_NOSUID | MS_NODEV | MS_NOEXEC,
	        "mode=0755,size=64k,nr_inodes=256") == -1)
		child_fail(report, "tmpfs on %s", FSD_RUN_DIR);
	if (mkdir(FSD_SHARE_DIR, 0755) == -1)
		child_fail(report, "mkdir %s", FSD_SHARE_DIR);
	for (i = 0; i < n; i++) {
		struct stat st;
		char src[64];
		unsigned long fl = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV;
		int fd;

		snprintf(path, sizeof(path), "%s/%zu", FSD_SHARE_DIR, i);
		snprintf(src, sizeof(src), "/proc/self/fd/%d", srcfd[i]);
		if (fstat(srcfd[i], &st) == -1)
			child_fail(report, "%s", vols[i].source);
		if (S_ISDIR(st.st_mode)) {
			if (mkdir(path, 0755) == -1)
				child_fail(report, "mkdir %s", path);
		} else if ((fd = open(path,
		                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		                0644)) == -1) {
			child_fail(report, "create %s", path);
		} else {
			close(fd);
		}
		if (mount(src, path, NULL, MS_BIND, NULL) == -1)
			child_fail(report, "bind %s", vols[i].source);
		if (vols[i].readonly)
			fl |= MS_RDONLY;
		if (mount(NULL, path, NULL, fl, NULL) == -1)
			child_fail(report, "remount %s", vols[i].source);
		close(srcfd[i]);
	}

	if ((lsock = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    (csock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		child_fail(report, "socket");
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", FSD_SOCKET);
	if (bind(lsock, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lsock, 1) == -1)
		child_fail(report, "listen on %s", FSD_SOCKET);
	if (connect(csock, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		child_fail(report, "connect to %s", FSD_SOCKET);
	/* Nothing can be added next to the volumes any more. */
	if (mount(NULL, FSD_RUN_DIR, NULL,
	        MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
	        "mode=0755,size=64k,nr_inodes=256") == -1)
		child_fail(report, "remount %s read-only", FSD_RUN_DIR);

	/* fd 3 = the listening socket, 0 = /dev/null; nothing else. */
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    dup2(devnull, STDIN_FILENO) == -1 || dup2(lsock, 3) == -1)
		child_fail(report, "fds");
	snprintf(fdarg, sizeof(fdarg), "--fd=%d", 3);
	if (send_fd(report, csock) == -1)
		_exit(1);
	close(csock);
	close(report);
	if (close_range(4, ~0U, 0) == -1)
		_exit(1);
	execve(virtiofsd, argv, envp);
	log_warn("%s: execve %s", __func__, virtiofsd);
	_exit(127);
}

int
fsd_spawn(const char *id, const struct qb_fs_volume *vols, size_t n,
    const char *virtiofsd, pid_t *pid, int *qemu_fd, struct qb_error *err)
{
	char msg[QB_ERRMSG_MAX];
	int sv[2] = {-1, -1}, fd, status;
	pid_t p;

	*pid = -1;
	*qemu_fd = -1;
	if (n == 0 || n > QB_FS_MAX_VOLUMES)
		return qb_seterr(err, QB_E_INVALID, "%zu volumes", n);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "socketpair: %s", strerror(errno));
		goto fail;
	}
	if ((p = fork()) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "fork: %s", strerror(errno));
		goto fail;
	}
	if (p == 0) {
		close(sv[0]);
		child(vols, n, virtiofsd, sv[1]);
	}
	close(sv[1]);
	sv[1] = -1;
	fd = recv_fd(sv[0], msg, sizeof(msg));
	close(sv[0]);
	if (fd == -1) {
		kill(p, SIGKILL);
		waitpid(p, &status, 0);
		return qb_seterr(err, QB_E_INTERNAL, "%s: volumes: %s", id,
		    msg[0] != '\0' ? msg : "virtiofsd did not start");
	}
	log_info("%s: %s: virtiofsd pid %d serves %zu volume(s)", __func__, id,
	    (int)p, n);
	*pid = p;
	*qemu_fd = fd;
	return 0;
fail:
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	return -1;
}

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
 *   /run/qemubox-fs/<j>  spare slots n..QB_FS_MAX_VOLUMES-1 (empty
 *                        directories) when the sandbox takes volumes while
 *                        it runs (fsd/fsd_share.c mounts them later)
 * then makes the tmpfs read-only (the guest cannot add entries next to the
 * volumes) and executes virtiofsd with -o source=/run/qemubox-fs, which
 * pivots into it in its own mount, pid and net namespaces. The child
 * connects to the socket itself before virtiofsd runs and passes that end
 * back: no other process can ever reach the socket, whose path exists
 * only in that namespace. With spare slots it also forks the share's
 * keeper (fsd/fsd_share.c), which stays in this namespace to mount the
 * volumes that join later, and passes back a socket to it.
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
#include "lib/fdpass.h"
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

/* fds[0], and fds[1] unless it is -1, after the byte 'K'. */
static int
send_fds(int sock, const int fds[2])
{
	return fdpass_send(sock, "K", 1, fds, fds[1] != -1 ? 2 : 1);
}

/* The child's error text, or the fd(s) it sent (0; fds[1] -1 when it sent
 * one); -1 with msg filled. */
static int
recv_fds(int sock, int fds[2], char *msg, size_t msglen)
{
	struct pollfd pfd = {sock, POLLIN, 0};
	size_t nfds;
	ssize_t n;

	fds[0] = fds[1] = -1;
	msg[0] = '\0';
	if (poll(&pfd, 1, CHILD_TIMEOUT_MS) != 1) {
		snprintf(msg, msglen, "virtiofsd set-up timed out");
		return -1;
	}
	if ((n = fdpass_recv(sock, msg, msglen - 1, fds, 2, &nfds)) <= 0) {
		snprintf(msg, msglen, "virtiofsd set-up ended without a word");
		return -1;
	}
	msg[n] = '\0';
	if (nfds > 0 && n == 1 && msg[0] == 'K')
		return 0;
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
	fds[0] = fds[1] = -1;
	return -1;
}

static void __attribute__((noreturn)) child(const struct qb_fs_volume *vols,
    size_t n, bool spare, const char *virtiofsd, int report)
{
	int srcfd[QB_FS_MAX_VOLUMES];
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char path[PATH_MAX], fdarg[32];
	char *argv[] = {"virtiofsd", fdarg, "-o", VIRTIOFSD_OPTS, NULL};
	char *envp[] = {NULL};
	int lsock, csock, devnull, back[2], kp[2] = {-1, -1};
	pid_t keeper;
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
	/* Later volumes propagate from here into virtiofsd's namespace. */
	if (spare && mount(NULL, FSD_RUN_DIR, NULL, MS_SHARED, NULL) == -1)
		child_fail(report, "make %s shared", FSD_RUN_DIR);
	if (mkdir(FSD_SHARE_DIR, 0755) == -1)
		child_fail(report, "mkdir %s", FSD_SHARE_DIR);
	for (i = n; spare && i < QB_FS_MAX_VOLUMES; i++) {
		snprintf(path, sizeof(path), "%s/%zu", FSD_SHARE_DIR, i);
		if (mkdir(path, 0755) == -1)
			child_fail(report, "mkdir %s", path);
	}
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
	if (spare) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, kp) ==
		    -1)
			child_fail(report, "socketpair");
		if ((keeper = fork()) == -1)
			child_fail(report, "fork the keeper");
		if (keeper == 0) {
			/* Only its socket (and stderr for the log). */
			if (dup2(kp[1], 3) == -1 ||
			    close_range(4, ~0U, 0) == -1)
				_exit(1);
			fsd_keeper(3);
		}
		close(kp[1]);
	}
	back[0] = csock;
	back[1] = kp[0];
	if (send_fds(report, back) == -1)
		_exit(1);
	close(csock);
	if (kp[0] != -1)
		close(kp[0]);
	close(report);
	if (close_range(4, ~0U, 0) == -1)
		_exit(1);
	execve(virtiofsd, argv, envp);
	log_warn("%s: execve %s", __func__, virtiofsd);
	_exit(127);
}

int
fsd_spawn(const char *id, const struct qb_fs_volume *vols, size_t n, bool spare,
    const char *virtiofsd, pid_t *pid, int *qemu_fd, int *keeper,
    struct qb_error *err)
{
	char msg[QB_ERRMSG_MAX];
	int sv[2] = {-1, -1}, fds[2], status;
	pid_t p;

	*pid = -1;
	*qemu_fd = *keeper = -1;
	if ((n == 0 && !spare) || n > QB_FS_MAX_VOLUMES)
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
		child(vols, n, spare, virtiofsd, sv[1]);
	}
	close(sv[1]);
	sv[1] = -1;
	(void)recv_fds(sv[0], fds, msg, sizeof(msg));
	close(sv[0]);
	if (fds[0] == -1 || (spare && fds[1] == -1)) {
		if (fds[0] != -1)
			close(fds[0]);
		kill(p, SIGKILL);
		waitpid(p, &status, 0);
		return qb_seterr(err, QB_E_INTERNAL, "%s: volumes: %s", id,
		    msg[0] != '\0' ? msg : "virtiofsd did not start");
	}
	log_info("%s: %s: virtiofsd pid %d serves %zu volume(s)%s", __func__,
	    id, (int)p, n, spare ? ", more may join" : "");
	*pid = p;
	*qemu_fd = fds[0];
	*keeper = fds[1];
	return 0;
fail:
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	return -1;
}

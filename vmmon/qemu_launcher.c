#include "vmmon/qemu_launcher.h"

#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "seccomp/seccomp.h"

static void launcher_main(int sock, const int *keep, int nkeep, pid_t parent,
    enum qb_seccomp_mode mode) __attribute__((noreturn));

static void
launcher_main(int sock, const int *keep, int nkeep, pid_t parent,
    enum qb_seccomp_mode mode)
{
	static char buf[LAUNCHER_MAX_ARGV];
	union {
		char b[CMSG_SPACE(sizeof(int) * LAUNCHER_MAX_FDS)];
		struct cmsghdr align;
	} cm;
	char *argv[512];
	/*
	 * QEMU's environment: one fixed variable, nothing of vmmon's. GLib
	 * 2.74's slice allocator keeps freed blocks (TCG's tree node per
	 * translated block, freed at every cache flush) in per-thread
	 * magazines; plain malloc returns them, and QEMU's RCU thread trims
	 * the heap: ~0.8 MiB less per idle clone (docs/PERFORMANCE.md).
	 * GLib 2.76 and later always use malloc.
	 */
	static char gslice[] = "G_SLICE=always-malloc";
	char *const envp[] = {gslice, NULL};
	int fds[LAUNCHER_MAX_FDS * 2], nfds = 0, hi, i, argc = 0;
	struct msghdr msg;
	struct cmsghdr *c;
	struct iovec iov;
	ssize_t n;
	size_t off;

	/* QEMU must not outlive its monitor: the jail ends with vmmon. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(1);
	if (seccomp_apply_vmmon_qemu(mode, getpid()) == -1)
		_exit(1);

	for (i = 0; i < nkeep; i++)
		fds[nfds++] = keep[i];
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf) - 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.b;
	msg.msg_controllen = sizeof(cm.b);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n <= 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		_exit(n == 0 ? 0 : 1);
	buf[n] = '\0';
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		int cnt;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (nfds + cnt > (int)(sizeof(fds) / sizeof(fds[0])))
			_exit(1);
		memcpy(&fds[nfds], CMSG_DATA(c), (size_t)cnt * sizeof(int));
		nfds += cnt;
	}
	for (off = 0; off < (size_t)n && argc < 511;) {
		argv[argc++] = buf + off;
		off += strlen(buf + off) + 1;
	}
	argv[argc] = NULL;
	if (argc == 0)
		_exit(1);

	/*
	 * Move every fd above the targets first so placing fd i at 3 + i
	 * never clobbers one not yet placed; dup2 clears close-on-exec.
	 */
	hi = 3 + nfds + 64;
	for (i = 0; i < nfds; i++)
		if ((fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, hi)) == -1)
			_exit(1);
	for (i = 0; i < nfds; i++)
		if (dup2(fds[i], 3 + i) == -1)
			_exit(1);
	/* Everything else, the originals included, is close-on-exec. */
	if (close_range((unsigned)(3 + nfds), ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		_exit(1);
	execve(argv[0], argv, envp);
	_exit(127);
}

pid_t
launcher_fork(const int *keep, int nkeep, int err_fd, enum qb_seccomp_mode mode,
    int *sock)
{
	int sp[2], i;
	pid_t pid, parent = getpid();

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		return -1;
	switch ((pid = fork())) {
	case -1:
		close(sp[0]);
		close(sp[1]);
		return -1;
	case 0:
		close(sp[0]);
		/* Only our own fds survive: every other one is close-on-exec.
		 */
		for (i = 3; i < 1024; i++) {
			int k, keepit = i == sp[1] || i == err_fd;

			for (k = 0; k < nkeep; k++)
				keepit |= i == keep[k];
			if (!keepit)
				close(i);
		}
		/* QEMU's stderr: vmmon relays it and quotes it on failure. */
		if (err_fd != -1 && (dup2(err_fd, 2) == -1 || close(err_fd)))
			_exit(1);
		launcher_main(sp[1], keep, nkeep, parent, mode);
	}
	close(sp[1]);
	*sock = sp[0];
	return pid;
}

int
launcher_exec(int sock, char *const argv[], const int *fds, int nfds)
{
	static char buf[LAUNCHER_MAX_ARGV];
	union {
		char b[CMSG_SPACE(sizeof(int) * LAUNCHER_MAX_FDS)];
		struct cmsghdr align;
	} cm;
	struct msghdr msg;
	struct cmsghdr *c;
	struct iovec iov;
	size_t len = 0, l;
	int i;

	if (nfds > LAUNCHER_MAX_FDS) {
		errno = E2BIG;
		return -1;
	}
	for (i = 0; argv[i] != NULL; i++) {
		l = strlen(argv[i]) + 1;
		if (len + l >= sizeof(buf)) {
			errno = E2BIG;
			return -1;
		}
		memcpy(buf + len, argv[i], l);
		len += l;
	}
	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		msg.msg_control = cm.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	return 0;
}

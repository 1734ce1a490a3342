/*
 * proc_spawn: fork+exec of a helper with one inherited fd. The child reports
 * an execv failure through a close-on-exec pipe, so the parent learns
 * "ENOENT" instead of seeing a helper that silently exits 127.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include "lib/proc_spawn.h"

static void proc_spawn_child(const char *, char *const[], int, int, int)
    __attribute__((noreturn));
static void close_fds_from(unsigned int, unsigned int);
static void child_fail(int, int) __attribute__((noreturn));

static void
child_fail(int errfd, int err)
{
	ssize_t n;

	do
		n = write(errfd, &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	_exit(127);
}

/* close_range() where the kernel has it, a loop where it does not. */
static void
close_fds_from(unsigned int first, unsigned int last)
{
	long max;
	unsigned int fd;

	if (first > last)
		return;
	if (close_range(first, last, 0) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = first; fd <= last && fd < (unsigned int)max; fd++)
		close((int)fd);
}

static void
proc_spawn_child(const char *path, char *const argv[], int child_fd,
    int keep_fd_as, int errfd)
{
	struct sigaction sa;
	sigset_t all;
	int devnull, sig;

	/*
	 * Move the error pipe above keep_fd_as first, so the dup2 below
	 * cannot overwrite it and one close range spares it.
	 */
	if ((errfd = fcntl(errfd, F_DUPFD_CLOEXEC, keep_fd_as + 1)) == -1)
		_exit(127);
	if (child_fd == keep_fd_as) {
		if (fcntl(keep_fd_as, F_SETFD, 0) == -1)
			child_fail(errfd, errno);
	} else if (dup2(child_fd, keep_fd_as) == -1) {
		child_fail(errfd, errno);
	}

	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		child_fail(errfd, errno);
	if (dup2(devnull, STDIN_FILENO) == -1)
		child_fail(errfd, errno);
	if (fcntl(STDERR_FILENO, F_GETFD) != -1) {
		if (dup2(STDERR_FILENO, STDOUT_FILENO) == -1)
			child_fail(errfd, errno);
	} else if (dup2(devnull, STDOUT_FILENO) == -1 ||
	           dup2(devnull, STDERR_FILENO) == -1) {
		child_fail(errfd, errno);
	}

	close_fds_from(3, (unsigned int)keep_fd_as - 1);
	close_fds_from((unsigned int)keep_fd_as + 1, (unsigned int)errfd - 1);
	close_fds_from((unsigned int)errfd + 1, ~0U);

	/*
	 * A parent that consumes signals with signalfd blocks them; a blocked
	 * mask and ignored dispositions survive execve and would silently
	 * make the helper deaf to SIGTERM/SIGPIPE.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);

	execv(path, argv);
	child_fail(errfd, errno);
}

/* The cgroups first: nothing of the child runs outside them. */
static void
join_cgroups(const struct proc_spawn_opts *o, int errfd)
{
	ssize_t n;
	int i;

	for (i = 0; o != NULL && i < o->njoin; i++) {
		do
			n = write(o->join_fds[i], "0", 1);
		while (n == -1 && errno == EINTR);
		if (n != 1)
			child_fail(errfd, n == -1 ? errno : EIO);
	}
}

pid_t
proc_spawn(const char *path, char *const argv[], int child_fd, int keep_fd_as)
{
	return proc_spawn_opt(path, argv, child_fd, keep_fd_as, NULL);
}

pid_t
proc_spawn_opt(const char *path, char *const argv[], int child_fd,
    int keep_fd_as, const struct proc_spawn_opts *opts)
{
	int errpipe[2], err;
	pid_t pid;
	ssize_t n;

	if (path == NULL || argv == NULL || argv[0] == NULL || child_fd < 0 ||
	    keep_fd_as <= STDERR_FILENO) {
		errno = EINVAL;
		return -1;
	}
	if (pipe2(errpipe, O_CLOEXEC) == -1)
		return -1;

	/* A raw clone for CLONE_NEWPID: the child only execs. */
	if (opts != NULL && opts->new_pidns)
		pid = (pid_t)syscall(
		    SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0);
	else
		pid = fork();
	switch (pid) {
	case -1:
		err = errno;
		close(errpipe[0]);
		close(errpipe[1]);
		errno = err;
		return -1;
	case 0:
		close(errpipe[0]);
		join_cgroups(opts, errpipe[1]);
		proc_spawn_child(path, argv, child_fd, keep_fd_as, errpipe[1]);
	default:
		break;
	}

	close(errpipe[1]);
	do
		n = read(errpipe[0], &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	close(errpipe[0]);
	if (n == 0)
		return pid; /* EOF: the pipe closed on a successful exec */

	/* The child failed before or at execv and exits 127: reap it. */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	errno = n == (ssize_t)sizeof(err) ? err : EIO;
	return -1;
}

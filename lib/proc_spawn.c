/*
 * proc_spawn: fork+exec of a helper with one inherited fd. The child reports
 * an execv failure through a close-on-exec pipe, so the parent learns
 * "ENOENT" instead of seeing a helper that silently exits 127.
 *
 * The "fork" is clone(CLONE_VM | CLONE_VFORK): the child runs on a stack
 * of its own and shares the parent's memory until its execve, while the
 * parent waits. No copy of the parent's page tables is made and torn down
 * again, and the parent takes no copy-on-write faults afterwards (~1 ms of the
 * shim's CPU per helper, and as much again in each helper's exec, on this
 * host). The child therefore only makes system calls on its own fd table,
 * signal dispositions and mask, and never returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include "lib/proc_spawn.h"

/*
 * What the child runs before its execve is not instrumented by
 * AddressSanitizer: it is on a stack the sanitizer does not know, and its
 * complaint about that would land on the caller's stderr (for `shim
 * start`, the address containerd reads).
 */
#define CHILD_CODE __attribute__((no_sanitize_address))

static void proc_spawn_child(const char *, char *const[], int, int, int, bool)
    __attribute__((noreturn));
static void close_fds_from(unsigned int, unsigned int);
static void child_fail(int, int) __attribute__((noreturn));

CHILD_CODE static void
child_fail(int errfd, int err)
{
	ssize_t n;

	do
		n = write(errfd, &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	_exit(127);
}

/* close_range() where the kernel has it, a loop where it does not. */
CHILD_CODE static void
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

CHILD_CODE static void
proc_spawn_child(const char *path, char *const argv[], int child_fd,
    int keep_fd_as, int errfd, bool detach)
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
	if (detach) {
		if (setsid() == -1 || dup2(devnull, STDOUT_FILENO) == -1 ||
		    dup2(devnull, STDERR_FILENO) == -1)
			child_fail(errfd, errno);
	} else if (fcntl(STDERR_FILENO, F_GETFD) != -1) {
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
CHILD_CODE static void
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

#define SPAWN_STACK 65536

/*
 * Under AddressSanitizer the child's frames leave their redzones in the
 * shadow of a stack that is never unwound; a later mapping at the same
 * address would inherit them.
 */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define STACK_CLEAN(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define STACK_CLEAN(p, n) ((void)(p), (void)(n))
#endif

struct spawn_args {
	const char *path;
	char *const *argv;
	int child_fd, keep_fd_as, errfd;
	const struct proc_spawn_opts *opts;
};

/* The child, on the parent's memory: its own fds, then execv. */
CHILD_CODE static int
spawn_child_main(void *arg)
{
	const struct spawn_args *a = arg;

	join_cgroups(a->opts, a->errfd);
	proc_spawn_child(a->path, a->argv, a->child_fd, a->keep_fd_as, a->errfd,
	    a->opts != NULL && a->opts->detach);
}

pid_t
proc_spawn_opt(const char *path, char *const argv[], int child_fd,
    int keep_fd_as, const struct proc_spawn_opts *opts)
{
	struct spawn_args a;
	char *stack;
	sigset_t all, old;
	int errpipe[2], err, flags;
	pid_t pid;
	ssize_t n;

	if (path == NULL || argv == NULL || argv[0] == NULL || child_fd < 0 ||
	    keep_fd_as <= STDERR_FILENO) {
		errno = EINVAL;
		return -1;
	}
	if (pipe2(errpipe, O_CLOEXEC) == -1)
		return -1;

	a.path = path;
	a.argv = argv;
	a.child_fd = child_fd;
	a.keep_fd_as = keep_fd_as;
	a.errfd = errpipe[1];
	a.opts = opts;
	flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
	if (opts != NULL && opts->new_pidns)
		flags |= CLONE_NEWPID;
	/*
	 * The child's stack until its execve (it needs ~1 KiB): a mapping of
	 * its own, not an array of ours (sanitizers track our frames).
	 */
	stack = mmap(NULL, SPAWN_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		err = errno;
		close(errpipe[0]);
		close(errpipe[1]);
		errno = err;
		return -1;
	}
	STACK_CLEAN(stack, SPAWN_STACK);
	/* No handler of ours may run in the child, on our memory. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(spawn_child_main, stack + SPAWN_STACK, flags, &a);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	munmap(stack, SPAWN_STACK);
	if (pid == -1) {
		close(errpipe[0]);
		close(errpipe[1]);
		errno = err;
		return -1;
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

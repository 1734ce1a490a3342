/*
 * Start a helper process (qemubox-privnet, qemubox-vmmon) with exactly one
 * inherited channel.
 */
#ifndef QEMUBOX_PROC_SPAWN_H
#define QEMUBOX_PROC_SPAWN_H

#include <sys/types.h>

#include <stdbool.h>

/* The fd number helpers find their imsg socket on, by convention. */
#define PROC_SPAWN_IMSG_FD 3

/*
 * fork + execv `path` with `argv` (environment inherited). In the child:
 *   - child_fd is dup'ed to keep_fd_as (>= 3), close-on-exec cleared;
 *   - every other fd above 2 is closed;
 *   - stdin is /dev/null, stdout goes to stderr (so a pipe the parent's
 *     stdout is, e.g. containerd reading `shim start`, is never held open),
 *     stderr is inherited for logs;
 *   - the signal mask is emptied and every handler reset to SIG_DFL.
 * Returns the child's pid once execv succeeded, or -1 with errno: the
 * child's execv errno (ENOENT, EACCES, ...) is reported back, and the failed
 * child is reaped. The caller still owns child_fd and should close it.
 */
pid_t proc_spawn(
    const char *path, char *const argv[], int child_fd, int keep_fd_as);

/* Where the child starts (qemubox-vmmon: a sandbox of its own). */
struct proc_spawn_opts {
	/* The child is PID 1 of a new PID namespace (root only): what it
	 * starts sees no other process and dies with it. */
	bool new_pidns;
	/* Open cgroup.procs files the child writes "0" to first, so it is
	 * in its cgroups before it runs anything. */
	const int *join_fds;
	int njoin;
	/* A daemon: a session of its own (setsid) and stdout/stderr on
	 * /dev/null too, so none of the caller's stdio stays open. */
	bool detach;
};

/* proc_spawn() with opts (NULL: as proc_spawn). */
pid_t proc_spawn_opt(const char *path, char *const argv[], int child_fd,
    int keep_fd_as, const struct proc_spawn_opts *opts);

#endif

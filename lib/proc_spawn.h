/*
 * Start a helper process (qemubox-privnet, qemubox-vmmon) with exactly one
 * inherited channel.
 */
#ifndef QEMUBOX_PROC_SPAWN_H
#define QEMUBOX_PROC_SPAWN_H

#include <sys/types.h>

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

#endif

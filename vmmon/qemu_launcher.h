/*
 * The QEMU launcher: a child vmmon forks once it is jailed and before it
 * loads its own strict seccomp filter. The launcher loads the QEMU filter,
 * waits for one argv + fd list, places the fds at 3, 4, ... and execs QEMU,
 * so QEMU is vmmon's direct child (wait4, pidfd, SIGKILL) while vmmon never
 * needs fork or execve itself.
 */
#ifndef QEMUBOX_VMMON_QEMU_LAUNCHER_H
#define QEMUBOX_VMMON_QEMU_LAUNCHER_H

#include <sys/types.h>

#include "lib/config.h"

#define LAUNCHER_MAX_FDS  32
#define LAUNCHER_MAX_ARGV 65536

/*
 * Forks the launcher. `keep` fds (QEMU's ends of the QMP and console
 * sockets) are inherited and become QEMU's fds 3, 4, ...; the fds sent
 * later follow them; err_fd (or -1) becomes QEMU's stderr. Returns the pid
 * (QEMU's pid once it execs) and the control socket in *sock, or -1.
 */
pid_t launcher_fork(const int *keep, int nkeep, int err_fd,
    enum qb_seccomp_mode mode, int *sock);

/*
 * Sends argv (NULL-terminated) and fds; the launcher execs right after.
 * The fds stay ours (the kernel duplicates them in flight).
 */
int launcher_exec(int sock, char *const argv[], const int *fds, int nfds);

#endif

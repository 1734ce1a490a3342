/*
 * The shim engine's allowlist, applied by shim_confine() after the
 * capability drop, its self-check and Landlock (so neither capset/setresuid
 * nor the landlock_* calls need to be here).
 *
 * A filter is inherited across execve, so this list also covers what the
 * daemon runs after the drop: mkfs.erofs (layer cache) and, only when
 * containerd gave no TTRPC_ADDRESS, `containerd publish` (a Go binary).
 *
 * Built from the calls the daemon's code, glibc, mkfs.erofs and the Go
 * runtime make, then checked with the filter in "log" mode under the
 * end-to-end suite (create/start/exec/tty/stdio/network/kill/delete): the
 * audit log showed no call outside the list. Calls on paths those tests do
 * not reach (errors, timeouts) were added only when harmless (no new
 * object, namespace or privilege). A call missing here kills the shim with
 * SIGSYS: `security.seccomp = "log"` finds it in the audit log.
 *
 * What seccomp cannot do: look at execve's path (a pointer). The shim may
 * exec any file as far as seccomp is concerned; Landlock (shim_landlock.c)
 * restricts execution to mkfs.erofs and the publish binary.
 */
#include <errno.h>
#include <linux/sched.h>
#include <sys/socket.h>

#include "seccomp/seccomp.h"
#include "seccomp/seccomp_bpf.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/*
 * On top of qb_sys_base and qb_sys_exec (seccomp/seccomp_base.c): memory,
 * signals, threads and time for glibc and the Go runtime of the publish
 * binary (futex, sigaltstack, tgkill for preemption), the loader's file
 * calls, epoll, messages on the ttrpc/imsg/guest sockets, ioctl for
 * terminals (isatty, window size on console fds) and FIONREAD, execve
 * (its path is Landlock's, see the top of this file).
 */
static const char *const shim_syscalls[] = {
    /* stop its helpers and mkfs.erofs (no CAP_KILL: uid 0 only) */
    "kill",
    /* More of the same for glibc and Go. */
    "rt_sigtimedwait",
    "get_robust_list",
    "getpgid",
    "getsid",
    "clock_getres",
    "time",
    "sysinfo",
    "getrlimit",
    "getrusage",
    "getresuid",
    "getresgid",
    "getgroups",
    "umask",
    /* Files: config, bundle config.json, rootfs layers (read, with their
     * xattrs for whiteouts), the layer cache and scratch disks (write,
     * preallocate, rename into place), FIFOs, logs. Where each may write
     * is Landlock's business. */
    "readv",
    "preadv",
    "pwritev",
    "open",
    "stat",
    "lstat",
    "readlink",
    "chdir",
    "fchdir",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "fallocate",
    "fadvise64",
    "fchmod",
    "fchmodat",
    "utimensat",
    "copy_file_range",
    "sendfile",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    /* The event loop (epoll, signalfd for SIGCHLD/SIGTERM, timers) and
     * pipes to children. */
    "select",
    "signalfd4",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "pipe",
    /* Sockets: the ttrpc listener containerd connects to, the events
     * socket, console sockets, the imsg links to privnet/vmmon (SCM_RIGHTS)
     * and the guest channel. socket()/socketpair() are filtered by family
     * below; here only what works on an existing socket. */
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "shutdown",
    "getpeername",
    /* Children: mkfs.erofs (posix_spawn), the publish binary, and the
     * helpers' life cycle (kill, reap). clone is filtered below. */
    "waitid",
    "setsid",
    "setpgid",
    "capget",
    NULL,
};

/* Namespaces a clone() must not create: a new user namespace would give
 * the shim a full capability set over it. */
#define SHIM_CLONE_NS                                                \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
	    CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME)

static int
add_arg_filters(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp unix_only = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	struct scmp_arg_cmp vsock_only = SCMP_A0(SCMP_CMP_EQ, AF_VSOCK);
	struct scmp_arg_cmp no_ns =
	    SCMP_A0(SCMP_CMP_MASKED_EQ, SHIM_CLONE_NS, 0);

	/* AF_UNIX for everything local, AF_VSOCK for the guest where the
	 * host has vhost-vsock. No IP, netlink, packet or raw sockets. */
	if (qb_seccomp_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &unix_only) ==
	        -1 ||
	    qb_seccomp_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &vsock_only) ==
	        -1 ||
	    qb_seccomp_rule(ctx, SCMP_ACT_ALLOW, "socketpair", 1, &unix_only) ==
	        -1)
		return -1;
	/* fork/posix_spawn/Go threads: any clone that creates no namespace. */
	if (qb_seccomp_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &no_ns) == -1)
		return -1;
	/*
	 * clone3 passes its flags in memory seccomp cannot read: ENOSYS makes
	 * glibc (posix_spawn, fork) and Go fall back to clone, filtered above.
	 */
	if (qb_seccomp_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL) ==
	    -1)
		return -1;
	return 0;
}

int
seccomp_policy_shim(enum qb_seccomp_mode mode)
{
	static const char *const *const lists[] = {
	    qb_sys_base, qb_sys_exec, shim_syscalls, NULL};

	return qb_seccomp_apply(mode, lists, add_arg_filters);
}

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

#include "lib/log.h"
#include "seccomp/seccomp.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static const char *const shim_syscalls[] = {
    /* Memory, signals, threads and time: glibc and the Go runtime of the
     * publish binary (futex, sigaltstack, tgkill for preemption). */
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "sigaltstack",
    "futex",
    "set_robust_list",
    "get_robust_list",
    "set_tid_address",
    "rseq",
    "arch_prctl",
    "sched_getaffinity",
    "sched_yield",
    "gettid",
    "getpid",
    "getppid",
    "getpgid",
    "getsid",
    "tgkill",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "clock_getres",
    "gettimeofday",
    "time",
    "getrandom",
    "uname",
    "sysinfo",
    "prlimit64",
    "getrlimit",
    "getrusage",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "getcwd",
    "umask",
    "restart_syscall",
    "exit",
    "exit_group",
    /* Files: config, bundle config.json, rootfs layers (read, with their
     * xattrs for whiteouts), the layer cache and scratch disks (write,
     * preallocate, rename into place), FIFOs, logs. Where each may write
     * is Landlock's business. */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "lseek",
    "open",
    "openat",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "flock",
    "fstat",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents64",
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
    "ftruncate",
    "fallocate",
    "fadvise64",
    "fsync",
    "fdatasync",
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
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "signalfd4",
    "eventfd2",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "pipe",
    "pipe2",
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
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    /* Terminals (isatty, window size on console fds) and FIONREAD. */
    "ioctl",
    /* Children: mkfs.erofs (posix_spawn), the publish binary, and the
     * helpers' life cycle (kill, reap). clone is filtered below; execve's
     * path is Landlock's (see the top of this file). */
    "execve",
    "wait4",
    "waitid",
    "kill",
    "setsid",
    "setpgid",
    "prctl",
    "capget",
    NULL,
};

/* Namespaces a clone() must not create: a new user namespace would give
 * the shim a full capability set over it. */
#define SHIM_CLONE_NS                                                \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
	    CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME)

static int
add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
    const struct scmp_arg_cmp *cmp)
{
	int nr, rc;

	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR) {
		errno = EINVAL;
		return -1;
	}
	rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (rc < 0) {
		log_warnx("%s: %s: error %d", __func__, name, rc);
		errno = -rc;
		return -1;
	}
	return 0;
}

static int
add_arg_filters(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp unix_only = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	struct scmp_arg_cmp vsock_only = SCMP_A0(SCMP_CMP_EQ, AF_VSOCK);
	struct scmp_arg_cmp no_ns =
	    SCMP_A0(SCMP_CMP_MASKED_EQ, SHIM_CLONE_NS, 0);

	/* AF_UNIX for everything local, AF_VSOCK for the guest where the
	 * host has vhost-vsock. No IP, netlink, packet or raw sockets. */
	if (add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &unix_only) == -1 ||
	    add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &vsock_only) == -1 ||
	    add_rule(ctx, SCMP_ACT_ALLOW, "socketpair", 1, &unix_only) == -1)
		return -1;
	/* fork/posix_spawn/Go threads: any clone that creates no namespace. */
	if (add_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &no_ns) == -1)
		return -1;
	/*
	 * clone3 passes its flags in memory seccomp cannot read: ENOSYS makes
	 * glibc (posix_spawn, fork) and Go fall back to clone, filtered above.
	 */
	if (add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL) == -1)
		return -1;
	return 0;
}

int
seccomp_apply_shim(enum qb_seccomp_mode mode)
{
	scmp_filter_ctx ctx;

	if ((ctx = qb_seccomp_new(mode)) == NULL)
		return -1;
	if (qb_seccomp_allow(ctx, shim_syscalls) == -1 ||
	    add_arg_filters(ctx) == -1) {
		seccomp_release(ctx);
		return -1;
	}
	return qb_seccomp_load(ctx);
}

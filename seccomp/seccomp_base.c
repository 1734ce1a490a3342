/*
 * The syscall groups several roles share, so each is written once. Adding
 * a call here widens every role that lists the group: a call only one role
 * needs belongs in that role's file. tests/golden/seccomp/ holds what each
 * role's filter allows in the end; test_seccomp_lists compares.
 */
#include "seccomp/seccomp.h"

/*
 * Every role (shim, privnet, vmmon, vmmon's QEMU launcher and QEMU): a
 * glibc process on a poll loop that exchanges messages on fds it already
 * holds (imsg with SCM_RIGHTS, ttrpc, QMP, the console) and reaps the
 * children it started.
 */
const char *const qb_sys_base[] = {
    /* memory: malloc, json-c, protobuf-c, guest RAM */
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    /* I/O on open fds, and messages with fds attached */
    "read",
    "write",
    "writev",
    "lseek",
    "close",
    "fcntl",
    "fstat",
    "newfstatat",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    /* the loop and its timers */
    "poll",
    "ppoll",
    "clock_gettime",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "restart_syscall",
    /* signals, locks, threads yielding, exit */
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "futex",
    "sched_yield",
    "getpid",
    "gettid",
    "exit",
    "exit_group",
    /* json-c and the hash seeds of the runtimes */
    "getrandom",
    /* reap our children (helpers, plugins, QEMU); kill(2) is per role:
     * vmmon and QEMU may signal only their own pids */
    "wait4",
    NULL,
};

/*
 * The roles that start programs and run their runtimes: the shim
 * (mkfs.erofs, the Go publish binary), privnet (the Go CNI plugins,
 * iptables) and QEMU through vmmon's launcher. The dynamic loader's file
 * calls, thread and runtime set-up, epoll loops (Go's netpoller, QEMU's
 * main loop), ioctl on their devices and terminals, and exec itself.
 */
const char *const qb_sys_exec[] = {
    /* exec, with fds placed and the rest closed first */
    "execve",
    "dup",
    "dup2",
    "dup3",
    "close_range",
    "prctl",
    /* the loader and what programs open, stat and lock */
    "openat",
    "access",
    "faccessat",
    "faccessat2",
    "readlinkat",
    "statx",
    "statfs",
    "fstatfs",
    "getdents64",
    "getcwd",
    "pread64",
    "pwrite64",
    "ftruncate",
    "fsync",
    "fdatasync",
    "flock",
    /* threads and runtimes (glibc start-up, Go, QEMU's threads) */
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "sched_getaffinity",
    "sigaltstack",
    "tgkill",
    "uname",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    /* event loops: epoll, eventfds, pipes */
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "pselect6",
    "eventfd2",
    "pipe2",
    /* socket options and names on sockets they were given or opened;
     * ioctl: TAP set-up, terminals, FIONREAD, QEMU's devices */
    "getsockname",
    "getsockopt",
    "setsockopt",
    "ioctl",
    NULL,
};

int
qb_seccomp_apply(enum qb_seccomp_mode mode, const char *const *const *lists,
    int (*rules)(scmp_filter_ctx))
{
	scmp_filter_ctx ctx;

	if ((ctx = qb_seccomp_new(mode)) == NULL)
		return -1;
	for (; *lists != NULL; lists++)
		if (qb_seccomp_allow(ctx, *lists) == -1)
			goto fail;
	if (rules != NULL && rules(ctx) == -1)
		goto fail;
	return qb_seccomp_load(ctx);
fail:
	seccomp_release(ctx);
	return -1;
}

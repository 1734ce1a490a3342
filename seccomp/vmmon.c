/*
 * vmmon's two seccomp allowlists.
 *
 * Why two: a seccomp filter is inherited across fork and execve, and QEMU
 * needs far more of the kernel (threads, eventfds, ioctls on its devices,
 * mmap of guest RAM) than the monitor does. Loading one union filter in
 * vmmon would leave vmmon itself with QEMU's surface. Instead vmmon, once
 * jailed and before reading any request, forks its QEMU launcher and loads
 * seccomp_apply_vmmon_qemu() there (the launcher later execs QEMU, which
 * inherits it and stacks its own -sandbox filter on top), then loads the
 * much smaller seccomp_apply_vmmon() on itself: no open, no exec, no fork,
 * no socket after that point.
 *
 * The QEMU list was measured with `strace -f` on QEMU 7.2 booting microvm
 * and q35 guests under TCG with -sandbox on, pause/continue, CPU and
 * memory hotplug, powerdown and quit; each group says why.
 */
#include "seccomp/seccomp.h"

#include <errno.h>
#include <sys/socket.h>

#include "lib/log.h"

/* The monitor: imsg + QMP + console relay on one poll loop. */
static const char *const vmmon_syscalls[] = {
    /* imsg (fds arrive by SCM_RIGHTS), QMP, console relay, logging */
    "read",
    "write",
    "readv",
    "writev",
    "recvmsg",
    "sendmsg",
    "sendto",
    "recvfrom",
    "close",
    "fcntl",
    "lseek",
    "fstat",
    "newfstatat",
    /* the loop */
    "poll",
    "ppoll",
    "clock_gettime",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "restart_syscall",
    /* QEMU and the KVM probe: stop them, reap them */
    "kill",
    "wait4",
    "waitid",
    "pidfd_open",
    /* memory (malloc, json-c) */
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "madvise",
    "mprotect",
    /* json-c seeds its hash with getrandom */
    "getrandom",
    /* signals and exit */
    "rt_sigreturn",
    "rt_sigprocmask",
    "rt_sigaction",
    "exit",
    "exit_group",
    "getpid",
    "gettid",
    "futex",
    "sched_yield",
    NULL,
};

/* The launcher, then QEMU itself. */
static const char *const qemu_syscalls[] = {
    /* the launcher: receive argv + fds, place them, exec */
    "recvmsg",
    "dup",
    "dup2",
    "dup3",
    "close_range",
    "execve",
    "getppid",
    /* dynamic loader and module loading (accel-tcg is a module) */
    "openat",
    "open",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "newfstatat",
    "fstat",
    "stat",
    "lstat",
    "statx",
    "statfs",
    "fstatfs",
    "getdents64",
    "fchdir",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "lseek",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    /* memory, guest RAM, threads */
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mlock",
    "munlock",
    "memfd_create",
    "ftruncate",
    "fallocate",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "clone",
    "clone3",
    "futex",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_yield",
    "sched_getparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "membarrier",
    /* main loop and I/O threads */
    "read",
    "write",
    "readv",
    "writev",
    "ppoll",
    "poll",
    "select",
    "pselect6",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "eventfd2",
    "signalfd4",
    "timerfd_create",
    "timerfd_settime",
    "pipe2",
    "close",
    "fcntl",
    "ioctl",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "flock",
    /* the pre-opened sockets: QMP, console, channel, tap */
    "recvmsg",
    "sendmsg",
    "recvfrom",
    "sendto",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    "shutdown",
    /* time and identity */
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "getpid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getrandom",
    "sysinfo",
    "uname",
    "getrusage",
    "times",
    "getcwd",
    "umask",
    /* signals and exit; prctl: PDEATHSIG, thread names, seccomp below */
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "tgkill",
    "tkill",
    "kill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "prctl",
    "seccomp",
    "exit",
    "exit_group",
    "restart_syscall",
    "wait4",
    /* -sandbox itself installs a filter */
    NULL,
};

int
seccomp_apply_vmmon(enum qb_seccomp_mode mode)
{
	scmp_filter_ctx ctx;

	if ((ctx = qb_seccomp_new(mode)) == NULL)
		return -1;
	if (qb_seccomp_allow(ctx, vmmon_syscalls) == -1) {
		seccomp_release(ctx);
		return -1;
	}
	return qb_seccomp_load(ctx);
}

int
seccomp_apply_vmmon_qemu(enum qb_seccomp_mode mode)
{
	scmp_filter_ctx ctx;
	int rc;

	if ((ctx = qb_seccomp_new(mode)) == NULL)
		return -1;
	if (qb_seccomp_allow(ctx, qemu_syscalls) == -1)
		goto fail;
	/*
	 * Sockets: only AF_UNIX (QEMU probes its own socketpairs); never a
	 * network socket: its NIC is a TAP fd it was handed.
	 */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	         SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) < 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
	         SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) < 0)
		goto fail_rc;
	/*
	 * io_uring is a large kernel surface QEMU only probes for: answer
	 * ENOSYS so it falls back to its thread pool instead of dying.
	 */
	if ((rc = seccomp_rule_add(
	         ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(io_uring_setup), 0)) < 0)
		goto fail_rc;
	return qb_seccomp_load(ctx);
fail_rc:
	log_warnx("%s: rule: error %d", __func__, rc);
	errno = -rc;
fail:
	seccomp_release(ctx);
	return -1;
}

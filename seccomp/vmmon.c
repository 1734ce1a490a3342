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
#include "seccomp/seccomp_bpf.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

/*
 * The monitor: imsg (fds arrive by SCM_RIGHTS), QMP and the console relay
 * on one poll loop, malloc and json-c (getrandom seeds its hash), stopping
 * and reaping QEMU and the KVM probe: all of that is qb_sys_base
 * (seccomp/seccomp_base.c). Beyond it:
 */
static const char *const vmmon_syscalls[] = {
    "readv",
    /* reap QEMU and the KVM probe by pidfd / waitid */
    "waitid",
    "pidfd_open",
    NULL,
};

/*
 * The launcher (receive argv + fds, place them with dup2/close_range,
 * exec), then QEMU itself: qb_sys_base and qb_sys_exec, and beyond them:
 */
static const char *const qemu_syscalls[] = {
    /* dynamic loader and module loading (accel-tcg is a module) */
    "open",
    "readlink",
    "stat",
    "lstat",
    "fchdir",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    /* memory, guest RAM, threads */
    "mlock",
    "munlock",
    "memfd_create",
    "fallocate",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "clone",
    "clone3",
    "sched_setaffinity",
    "sched_getparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "membarrier",
    /* main loop and I/O threads */
    "readv",
    "select",
    "signalfd4",
    "timerfd_create",
    "timerfd_settime",
    "sync_file_range",
    /* the pre-opened sockets: QMP, console, channel, tap */
    "getpeername",
    "shutdown",
    /* time and identity */
    "clock_getres",
    "sysinfo",
    "getrusage",
    "times",
    "umask",
    /* signals; prctl (in qb_sys_exec): PDEATHSIG, thread names */
    "tkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    /* -sandbox itself installs a filter */
    "seccomp",
    NULL,
};

/* The pids kill(2) may name: vmmon's children; QEMU's own pid. */
static pid_t kill_ok[2];
static int nkill_ok;

/*
 * kill(2) only of the listed pids. vmmon is PID 1 of the sandbox's PID
 * namespace, so its children are the only processes it could reach
 * anyway; the argument check also keeps it from signalling its own
 * namespace as a whole (pid -1 or 0) or a pid it guessed.
 */
static int
kill_rules(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp pid;
	int i;

	for (i = 0; i < nkill_ok; i++) {
		pid = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)kill_ok[i]);
		if (qb_seccomp_rule(ctx, SCMP_ACT_ALLOW, "kill", 1, &pid) == -1)
			return -1;
	}
	return 0;
}

int
seccomp_policy_vmmon(enum qb_seccomp_mode mode, pid_t qemu, pid_t probe)
{
	static const char *const *const lists[] = {
	    qb_sys_base, vmmon_syscalls, NULL};

	nkill_ok = 0;
	if (qemu > 0)
		kill_ok[nkill_ok++] = qemu;
	if (probe > 0)
		kill_ok[nkill_ok++] = probe;
	return qb_seccomp_apply(mode, lists, kill_rules);
}

static int
qemu_rules(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp unix_only = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);

	/*
	 * Sockets: only AF_UNIX (QEMU probes its own socketpairs); never a
	 * network socket: its NIC is a TAP fd it was handed.
	 */
	if (qb_seccomp_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &unix_only) ==
	        -1 ||
	    qb_seccomp_rule(ctx, SCMP_ACT_ALLOW, "socketpair", 1, &unix_only) ==
	        -1)
		return -1;
	/* kill(2): its own pid only (raise() itself is tgkill). */
	if (kill_rules(ctx) == -1)
		return -1;
	/*
	 * io_uring is a large kernel surface QEMU only probes for: answer
	 * ENOSYS so it falls back to its thread pool instead of dying.
	 */
	return qb_seccomp_rule(
	    ctx, SCMP_ACT_ERRNO(ENOSYS), "io_uring_setup", 0, NULL);
}

int
seccomp_policy_vmmon_qemu(enum qb_seccomp_mode mode, pid_t self)
{
	static const char *const *const lists[] = {
	    qb_sys_base, qb_sys_exec, qemu_syscalls, NULL};

	nkill_ok = 0;
	if (self > 0)
		kill_ok[nkill_ok++] = self;
	return qb_seccomp_apply(mode, lists, qemu_rules);
}

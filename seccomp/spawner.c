/*
 * The allowlists of qemubox-spawner and of the layer builder it starts
 * (spawner/spawner.c, spawner/layerbuild.c).
 *
 * Filters stack and are inherited, so the spawner's list is the union of
 * what it does itself, what its forked handler and builder child do before
 * exec (set ids and capabilities), what qemubox-layerbuild does before it
 * loads its own filter (Landlock, seccomp) and what mkfs.erofs does. The
 * builder then loads seccomp_apply_layerbuild(): only mkfs.erofs's calls,
 * measured with `strace -f -c` on mkfs.erofs 1.5 building trees with
 * xattrs, file capabilities, devices, fifos and sockets, with and without
 * lz4, from "." into /proc/self/fd/3; sysinfo appears only with large
 * trees (100k files), so the component test builds one.
 */
#include "seccomp/seccomp.h"

#include <errno.h>
#include <linux/sched.h>

/* mkfs.erofs 1.5 (and the builder's last steps: probe, execve). */
static const char *const layerbuild_syscalls[] = {
    /* glibc start-up and the loader */
    "execve",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "brk",
    "mmap",
    "mprotect",
    "munmap",
    "mremap",
    "madvise",
    "access",
    "getrandom",
    "getpid",
    "getppid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "futex",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "clock_gettime",
    "gettimeofday",
    /* memory size, for its buffers (large trees) */
    "sysinfo",
    "exit",
    "exit_group",
    /* walking the layer: directories, inodes, link targets, xattrs
     * (trusted.overlay.*, security.capability, user.*) */
    "openat",
    "close",
    "getdents64",
    "newfstatat",
    "fstat",
    "statfs",
    "fstatfs",
    "readlink",
    "readlinkat",
    "getcwd",
    "llistxattr",
    "lgetxattr",
    "read",
    "pread64",
    "lseek",
    /* the image: positioned writes into the one output file; fallocate
     * for blocks of zeros (seen on Debian's rootfs) */
    "pwrite64",
    "fallocate",
    "write",
    "writev",
    "ftruncate",
    "fsync",
    "fdatasync",
    "fcntl",
    /* isatty on stderr */
    "ioctl",
    NULL,
};

int
seccomp_apply_layerbuild(enum qb_seccomp_mode mode)
{
	static const char *const *const lists[] = {layerbuild_syscalls, NULL};

	return qb_seccomp_apply(mode, lists, NULL);
}

/*
 * The spawner on top of qb_sys_base and qb_sys_exec: resolve the layer
 * path (realpath), fork a handler and a builder, set the builder's ids
 * and capabilities, and what the builder needs before its own filter
 * (Landlock, chdir into the layer, loading that filter).
 */
static const char *const spawner_syscalls[] = {
    /* stop a layer builder past its deadline (no CAP_KILL: uid 0 and
     * its own builders only) */
    "kill",
    "lstat",
    "stat",
    "readlink",
    "fchdir",
    "llistxattr",
    "lgetxattr",
    "mremap",
    "sysinfo",
    "fallocate",
    "setresuid",
    "setresgid",
    "setgroups",
    "capget",
    "capset",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "seccomp",
    NULL,
};

/* fork() only: never a clone that makes a namespace. */
#define SPAWNER_CLONE_NS                                             \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
	    CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME)

static int
spawner_rules(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp no_ns =
	    SCMP_A0(SCMP_CMP_MASKED_EQ, SPAWNER_CLONE_NS, 0);

	if (qb_seccomp_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &no_ns) == -1)
		return -1;
	/* Its flags are in memory the filter cannot read: glibc falls back
	 * to clone() on ENOSYS. */
	return qb_seccomp_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
}

int
seccomp_apply_spawner(enum qb_seccomp_mode mode)
{
	static const char *const *const lists[] = {
	    qb_sys_base, qb_sys_exec, spawner_syscalls, NULL};

	return qb_seccomp_apply(mode, lists, spawner_rules);
}

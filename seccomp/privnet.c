/*
 * qemubox-privnet's allowlist. A seccomp filter is inherited across execve,
 * so this list also confines the CNI plugins privnet runs (Go binaries:
 * bridge, host-local, firewall, portmap, loopback, ...) and what they run in
 * turn (iptables-nft). It was built from `strace -f` of the component test
 * (tests/component/50-privnet.sh) with Debian's plugins; a plugin that needs
 * more dies with SIGSYS and the CNI error names the signal. Set
 * security.seccomp = "log" to find the missing call in the audit log.
 */
#include "seccomp/seccomp.h"

static const char *const privnet_syscalls[] = {
    /* Memory and the runtimes (glibc; Go: threads, signals, futexes). */
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "futex",
    "set_robust_list",
    "set_tid_address",
    "rseq",
    "arch_prctl",
    "sched_getaffinity",
    "sched_yield",
    "gettid",
    "getpid",
    "getppid",
    "tgkill",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "gettimeofday",
    "getrandom",
    "uname",
    "prlimit64",
    "getrlimit",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getcwd",
    "restart_syscall",
    "exit",
    "exit_group",
    /* Files: config, LMDB state (pread/pwrite/fdatasync), plugin state
     * (/var/lib/cni, flock'ed), netns files, /proc/sys/net. */
    "read",
    "write",
    "writev",
    "pread64",
    "pwrite64",
    "lseek",
    "openat",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "flock",
    "fstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "access",
    "faccessat",
    "faccessat2",
    "readlinkat",
    "getdents64",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "renameat",
    "renameat2",
    "ftruncate",
    "fsync",
    "fdatasync",
    "msync",
    /* Shell-script plugins (dash vforks, coreutils cat advises). */
    "fadvise64",
    "vfork",
    /* Event loops: ours (poll) and Go's netpoller. */
    "poll",
    "ppoll",
    "pselect6",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "eventfd2",
    "pipe2",
    /* Netlink (links, tc, nftables), the TAP ioctls, packet sockets for
     * ARP, the imsg socket (SCM_RIGHTS). */
    "socket",
    "bind",
    "connect",
    "getsockname",
    "setsockopt",
    "getsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "ioctl",
    /* Running plugins (and iptables under firewall/portmap); kill is our
     * CNI timeout; libcap-ng reads caps in the self-check. */
    "clone",
    "clone3",
    "execve",
    "wait4",
    "waitid",
    "kill",
    "prctl",
    "capget",
    "capset",
    /* The sandbox netns: create, bind-mount, enter, remove. */
    "unshare",
    "setns",
    "mount",
    "umount2",
    NULL,
};

int
seccomp_apply_privnet(enum qb_seccomp_mode mode)
{
	scmp_filter_ctx ctx;

	if ((ctx = qb_seccomp_new(mode)) == NULL)
		return -1;
	if (qb_seccomp_allow(ctx, privnet_syscalls) == -1) {
		seccomp_release(ctx);
		return -1;
	}
	return qb_seccomp_load(ctx);
}

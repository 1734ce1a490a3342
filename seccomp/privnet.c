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
#include "seccomp/seccomp_bpf.h"

/*
 * On top of qb_sys_base and qb_sys_exec (seccomp/seccomp_base.c), which
 * cover the runtimes (glibc; Go: threads, signals, futexes), the event
 * loops (ours and Go's netpoller), the imsg socket (SCM_RIGHTS), the TAP
 * ioctls, the LMDB state (pread/pwrite/fdatasync) and plugin state
 * (/var/lib/cni, flock'ed).
 */
static const char *const privnet_syscalls[] = {
    "getrlimit",
    /* Files: LMDB, plugin state, netns files, /proc/sys/net. */
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "renameat",
    "renameat2",
    "msync",
    /* Shell-script plugins (dash vforks, coreutils cat advises). */
    "fadvise64",
    "vfork",
    /* Netlink (links, tc, nftables), packet sockets for ARP. */
    "socket",
    "bind",
    "connect",
    /* Running plugins (and iptables under firewall/portmap); kill is our
     * CNI timeout; libcap-ng reads caps in the self-check. */
    "kill",
    "clone",
    "clone3",
    "waitid",
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
seccomp_policy_privnet(enum qb_seccomp_mode mode)
{
	static const char *const *const lists[] = {
	    qb_sys_base, qb_sys_exec, privnet_syscalls, NULL};

	return qb_seccomp_apply(mode, lists, NULL);
}

/*
 * qemubox-fsd's allowlist. A seccomp filter is inherited across execve, so
 * it also confines the virtiofsd processes fsd starts: on top of fsd's own
 * calls it must hold every call virtiofsd makes while setting up its
 * sandbox and while serving, under virtiofsd's own (narrower) filter,
 * which it installs itself once set up. Built from `strace -f` of
 * virtiofsd (Debian's QEMU 7.2) serving a guest that created, wrote, read,
 * renamed, linked, chmod'ed, chown'ed, truncated, synced and removed files,
 * plus the file calls the FUSE protocol maps to (utimensat, fallocate,
 * copy_file_range, lseek). xattrs are off (-o no_xattr): none listed.
 */
#include "seccomp/seccomp.h"

static const char *const fsd_syscalls[] = {
    /* fsd: its virtiofsd children (a failed set-up, the shim gone). */
    "kill",
    /* fsd: the share (fsd/fsd_spawn.c) and the vhost-user socket. */
    "socket",
    "socketpair",
    "bind",
    "listen",
    "connect",
    "accept",
    "accept4",
    "clone",
    "clone3",
    "unshare",
    "mount",
    "umount2",
    "mkdir",
    "mkdirat",
    "open",
    "creat",
    /* fsd and the share's keeper: a volume joining a running share
     * (fsd/fsd_share.c). */
    "open_tree",
    "mount_setattr",
    "move_mount",
    /* virtiofsd's sandbox: new namespaces, pivot_root into the share,
     * dropping its capabilities, its own seccomp filter. */
    "pivot_root",
    "chdir",
    "fchdir",
    "capget",
    "capset",
    "seccomp",
    "umask",
    "getgroups",
    "setresuid",
    "setresgid",
    "set_mempolicy",
    "get_mempolicy",
    "userfaultfd",
    "getrlimit",
    /* virtiofsd serving FUSE requests. */
    "readlink",
    "preadv",
    "pwritev",
    "readv",
    "renameat",
    "renameat2",
    "unlinkat",
    "linkat",
    "symlinkat",
    "mknodat",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "utimensat",
    "fallocate",
    "copy_file_range",
    "syncfs",
    "sched_getattr",
    NULL,
};

int
seccomp_apply_fsd(enum qb_seccomp_mode mode)
{
	static const char *const *const lists[] = {
	    qb_sys_base, qb_sys_exec, fsd_syscalls, NULL};

	return qb_seccomp_apply(mode, lists, NULL);
}

/*
 * qemubox-tmpl's allowlist (tmpl/). Loaded after its drop, when every
 * vmmon is spawned: from then on it only runs its event loop over fds it
 * holds (vmmon's imsg sockets, the guest channel, its listening socket),
 * makes memfds and seals them, and reaps its vmmons. No open, no exec, no
 * fork, no socket(2) (accept only). Measured with `strace -f -c` over a
 * template boot, save and GETs; the loader and start-up calls are done
 * before the filter.
 */
#include "seccomp/seccomp.h"

static const char *const tmpl_syscalls[] = {
    /* the event loop (lib/evloop: epoll, signalfd, timers) */
    "epoll_wait",
    "epoll_pwait",
    "epoll_ctl",
    "timerfd_settime",
    "timerfd_create",
    "signalfd4",
    /* the socket: peers (SO_PEERCRED, timeouts) */
    "accept4",
    "getsockopt",
    "setsockopt",
    /* template fds: memfds for RAM and the state, sealed (fcntl), the
     * state copied per GET (pread64), duplicated for imsg */
    "memfd_create",
    "pread64",
    "dup",
    /* the guest channel (lib/chan reads frames with readv) and its
     * socketpair per attempt */
    "readv",
    "socketpair",
    /* vmmons exit when their socket closes */
    "wait4",
    "waitid",
    NULL,
};

int
seccomp_apply_tmpl(enum qb_seccomp_mode mode)
{
	static const char *const *const lists[] = {
	    qb_sys_base, tmpl_syscalls, NULL};

	return qb_seccomp_apply(mode, lists, NULL);
}

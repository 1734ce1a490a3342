/*
 * vminitd as PID 1 of the guest: the set-up before the agent serves the host,
 * child reaping and power-off.
 *
 * Kernel command line read by pid1_setup() (docs/GUEST.md):
 *   qemubox.transport=virtio-serial|vsock   host channel (default
 * virtio-serial) qemubox.port=NAME          virtio-serial port name (default
 * qemubox.0) qemubox.vsock_port=N       vsock listen port (default 1024)
 *   qemubox.chan_timeout_ms=N  bound on waiting for the channel (default 10000)
 *   qemubox.hostname=NAME      initial hostname (default qemubox)
 *   qemubox.debug=1            debug logging
 */
#ifndef QEMUBOX_GUEST_PID1_H
#define QEMUBOX_GUEST_PID1_H

#include <stdint.h>
#include <sys/types.h>

enum pid1_transport {
	PID1_TRANSPORT_VIRTIO_SERIAL = 0,
	PID1_TRANSPORT_VSOCK = 1,
};

struct pid1_info {
	enum pid1_transport transport;
	/*
	 * virtio-serial: the open port (O_RDWR|O_CLOEXEC, blocking; the agent
	 * may set O_NONBLOCK), host already connected: a later read of 0 or
	 * POLLHUP means the host end closed. vsock: a listening SOCK_STREAM
	 * socket (O_CLOEXEC) the agent accept()s the host's connection on.
	 */
	int chan_fd;
	/*
	 * Readable when PID 1 has events (an epoll set, O_CLOEXEC): SIGCHLD,
	 * the shutdown signals (SIGTERM, SIGINT = ctrl-alt-del, SIGPWR, SIGHUP)
	 * and the ACPI power button (QEMU system_powerdown). Poll it for
	 * POLLIN and call pid1_signals() when readable; never read it.
	 */
	int sig_fd;
	char chan_path[64]; /* "/dev/vport1p1" or "vsock:1024", for logs */
	char kernel_release[65];
	int debug;
	uint64_t ready_ms; /* CLOCK_BOOTTIME when the channel was found */
};

/*
 * Everything up to "host channel found": signals blocked into sig_fd, the
 * root moved off the initramfs onto a tmpfs (so crun can pivot_root), proc,
 * sys, devtmpfs (+ pts, shm), /run, /tmp and cgroup2 (controllers enabled in
 * the root's cgroup.subtree_control) mounted, console on fds 0-2, lo up,
 * hostname set, modules loaded in order then module loading disabled,
 * channel opened. Logs
 * "vminitd: ready in N ms" on the console. before_channel, when not NULL,
 * runs after the modules and before the channel is opened (the test image's
 * crun self-test, tests/component/vminitd_selftest.c; production passes
 * NULL). Returns 0, or -1 with errno (the caller powers off: nothing else can
 * be done in a guest without a channel).
 */
int pid1_setup(struct pid1_info *out, void (*before_channel)(void));

/* SIGKILL everything else, sync, power the VM off. Never returns. */
void pid1_poweroff(void) __attribute__((noreturn));

/*
 * Reap every exited child (waitpid(-1, WNOHANG) loop) and call on_exit for
 * each. Returns the number reaped, or -1 with errno.
 */
int pid1_reap(void (*on_exit)(pid_t pid, int wstatus, void *arg), void *arg);

/*
 * Drain sig_fd's events; on SIGCHLD reap (as pid1_reap). Returns 1 when a
 * shutdown signal or the power button arrived (the caller should stop its work
 * and pid1_poweroff()), 0 otherwise, -1 with errno on a read error.
 */
int pid1_signals(const struct pid1_info *info,
    void (*on_exit)(pid_t pid, int wstatus, void *arg), void *arg);

/* The qemubox.* kernel command line (see the top of this file). */
struct pid1_cmdline {
	enum pid1_transport transport;
	char port[64];
	unsigned vsock_port;
	unsigned chan_timeout_ms;
	char hostname[65];
	int debug;
	/*
	 * qemubox.modules=: the optional module groups to load (qemubox.order's
	 * second word), comma separated. Absent (modules_given 0): all.
	 */
	char modules[64];
	int modules_given;
	/*
	 * page_reporting.page_reporting_order= (the kernel's own parameter;
	 * 0: not given). Linux 6.1 resets it when virtio_balloon registers,
	 * so vminitd sets it again once the modules are loaded.
	 */
	unsigned page_reporting_order;
};

/* 1 when module group `group` is to be loaded under cmdline `c`. */
int pid1_modules_want(const struct pid1_cmdline *c, const char *group);

/* Parse (and modify) a /proc/cmdline copy; unknown or bad values keep defaults.
 */
void pid1_cmdline_parse(char *line, struct pid1_cmdline *c);

/*
 * Copy the tree under directory src into directory dst (modes, symlinks,
 * device nodes), removing each source entry once copied; entries on another
 * file system than src, and the directory whose inode is keep (0: none),
 * are skipped. How the root leaves the initramfs.
 */
int pid1_copy_tree(int src, int dst, ino_t keep);

/*
 * Call in every child after fork() and before exec: PID 1 keeps its
 * signals blocked (for signalfd) and the mask is inherited, so a child
 * must unblock them or crun and the container would never see SIGTERM.
 */
void pid1_child_reset(void);

#endif

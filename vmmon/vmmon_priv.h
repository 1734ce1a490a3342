/*
 * vmmon's jail: the one place where qemubox-vmmon gives up privileges.
 */
#ifndef QEMUBOX_VMMON_PRIV_H
#define QEMUBOX_VMMON_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct vmmon_jail {
	const char *user; /* security.vmmon_user, when uid == 0 */
	uid_t uid; /* the sandbox's own uid (gid: the same number), 0 = user */
	const char *qemu_path;       /* paths.qemu_path */
	const char *qemu_share_path; /* paths.qemu_share_path */
};

/* What the jail leaves behind for later steps. */
struct vmmon_jailed {
	unsigned long tsc_khz; /* host TSC, measured before the jail */
	bool have_kvm_node;    /* /dev/kvm was bound into the jail */
	char qemu_path[PATH_MAX];
};

/*
 * Runs as root, once, before any request is read: private mount namespace
 * with a tmpfs root holding read-only binds of only what QEMU needs,
 * pivot_root, empty bounding set, setgroups/setresgid/setresuid to the
 * vmmon user (+ kvm), a proof that root cannot be regained, NoNewPrivs.
 * fatal()s on any failure: a vmmon that is not jailed must not run.
 * Seccomp comes after (vmmon.c), once the QEMU launcher is forked.
 */
void vmmon_priv_drop(const struct vmmon_jail *j, struct vmmon_jailed *out);

/*
 * Forked child: does /dev/kvm run a guest instruction? Writes one byte
 * ('1' usable, '0' not) to wfd and exits. The parent bounds it with a
 * timeout, because on some hosts KVM_RUN never returns (HOST-FACTS).
 */
void vmmon_kvm_probe_child(int wfd) __attribute__((noreturn));

#endif

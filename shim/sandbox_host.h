/*
 * What one sandbox holds on the host besides its network: a uid of its own
 * for qemubox-vmmon and QEMU (lib/sandbox_uid.c) and a host cgroup with the
 * VM's limits (lib/sandbox_cgroup.c). The shim daemon sets both up while it
 * is still root, before it spawns vmmon into them (a new PID namespace,
 * joined to the cgroup before exec), and gives both back after vmmon was
 * reaped. One sandbox per shim daemon, hence one state per process.
 */
#ifndef QEMUBOX_SANDBOX_HOST_H
#define QEMUBOX_SANDBOX_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/error.h"

/*
 * Root, before the privilege drop. sandbox_id names the cgroup
 * (<cgroup_parent>/<sandbox_id>) and the uid record; the spec's
 * linux.cgroupsPath wins when present. Nothing is left on failure.
 */
int sandbox_host_prepare(const struct qb_config *cfg, const char *spec_path,
    const char *sandbox_id, struct qb_error *err);
/* The sandbox's uid (gid: the same), 0 when every sandbox runs as
 * security.vmmon_user. */
uint32_t sandbox_host_uid(void);
/* The open cgroup.procs fds a child writes "0" to before exec. */
int sandbox_host_cgroup_fds(const int **fds);
/* The sandbox's cgroup directories (for Landlock: removable at the end). */
size_t sandbox_host_cgroup_dirs(const char *dirs[], size_t max);
/* vmmon was spawned: close the cgroup.procs fds. */
void sandbox_host_spawned(void);
/*
 * vmmon was reaped (so QEMU, in its PID namespace, is gone too): remove the
 * cgroup and give the uid back. What cannot be removed yet stays for
 * qemubox-cleanup (logged).
 */
void sandbox_host_release(const struct qb_config *cfg);
/*
 * `delete` after the daemon died: give back what the sandbox's record
 * names, when the rule (lib/sandbox_uid.c) says its shim and processes are
 * gone. Returns 1 when the sandbox's shim daemon still runs (it tears
 * down the rest itself), else 0.
 */
int sandbox_host_reclaim(const struct qb_config *cfg, const char *sandbox_id);

#endif

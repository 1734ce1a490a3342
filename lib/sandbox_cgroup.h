/*
 * The host cgroup of one sandbox: where its qemubox-vmmon and QEMU run and
 * what they may use. Used by the shim (created before vmmon is spawned,
 * removed after it was reaped) and by qemubox-cleanup / `shim delete`
 * (removed after a crash).
 *
 * Two layouts exist. Pure cgroup v2: one hierarchy, controllers enabled in
 * each ancestor's cgroup.subtree_control, limits in memory.max, cpu.max,
 * pids.max. Hybrid (Debian 12 on a host booted with systemd's hybrid mode,
 * and this build host): the memory, cpu and pids controllers are cgroup v1
 * hierarchies, each with the sandbox's directory (memory.limit_in_bytes,
 * cpu.cfs_quota_us, pids.max), while the v2 mount holds no controller and
 * only records membership. A process joins every hierarchy the plan names.
 *
 * Everything that decides (which mounts, which path, which limits, which
 * files get which values) is pure and unit-tested; only _read, _apply and
 * _remove touch the system.
 */
#ifndef QEMUBOX_SANDBOX_CGROUP_H
#define QEMUBOX_SANDBOX_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define CG_MAX_DIRS   4 /* v2 + memory + cpu + pids */
#define CG_MAX_WRITES 8

/*
 * What a sandbox costs beyond its guest, measured under TCG (QEMU 7.2,
 * microvm, 1 vCPU, 512 MiB guest; docs/SECURITY.md has the figures): the
 * peak of memory.max_usage_in_bytes minus guest RAM, and the CPU the main
 * loop and I/O threads use next to the vCPU threads. Rounded up.
 * Memory: 256 MiB covered an idle guest, but guest RAM (anonymous, or a
 * shared memfd when virtio-fs serves volumes or the VM is a pod's) is
 * charged in full once the guest touches it, TCG's code cache grows under
 * load, and pages of a scratch disk on a tmpfs state dir are charged to
 * QEMU's cgroup too: 31-storage's busy guest (dd through its page cache)
 * was OOM-killed at +256 (dmesg: ~240 MB anon RSS, no shmem RSS: the tmpfs
 * pages count in the cgroup, not in QEMU's RSS).
 */
#define CG_MEM_OVERHEAD_MB  512
#define CG_CPU_OVERHEAD_PCT 50
#define CG_CPU_PERIOD_US    100000
#define CG_PIDS_MAX         512

struct cg_layout {
	char v2[PATH_MAX]; /* the cgroup2 mount, "" = none */
	/* controllers the v2 root offers (cgroup.controllers) */
	bool v2_memory, v2_cpu, v2_pids;
	/* cgroup v1 mounts of those controllers, "" = none */
	char v1_memory[PATH_MAX], v1_cpu[PATH_MAX], v1_pids[PATH_MAX];
};

struct cg_limits {
	uint64_t memory_bytes;
	uint64_t cpu_quota_us; /* per CG_CPU_PERIOD_US */
	uint64_t pids_max;
};

struct cg_plan {
	int ndirs;
	char dirs[CG_MAX_DIRS][PATH_MAX]; /* the sandbox's dir per hierarchy */
	size_t mount_len[CG_MAX_DIRS];    /* its mount point's length */
	/* v2 only: the controllers to enable along the path ("" = none) */
	char v2_enable[32];
	int v2_dir; /* index in dirs of the v2 one, -1 = none */
	int nwrites;
	struct cg_write {
		int dir; /* index in dirs */
		char file[32];
		char value[48];
	} writes[CG_MAX_WRITES];
};

/* From /proc/self/mountinfo text and the v2 root's cgroup.controllers. */
int cg_layout_parse(const char *mountinfo, const char *v2_controllers,
    struct cg_layout *out, struct qb_error *err);
/* The same from this system. */
int cg_layout_read(struct cg_layout *out, struct qb_error *err);

/* The limits of a VM of that size (its largest, with hotplug). */
void cg_limits_for_vm(
    unsigned max_cpus, unsigned max_memory_mb, struct cg_limits *out);

/*
 * The sandbox's cgroup path: the OCI spec's linux.cgroupsPath when given
 * (absolute "/a/b", or systemd's "slice:prefix:name", which is expanded the
 * way systemd names it), else <parent>/<id>. Refuses "..", empty components
 * and characters outside [A-Za-z0-9_.:@-].
 */
int cg_path_resolve(const char *cgroups_path, const char *parent,
    const char *id, char *out, size_t len, struct qb_error *err);

/* The directories and files for path under layout. */
int cg_plan_make(const struct cg_layout *l, const char *path,
    const struct cg_limits *lim, struct cg_plan *p, struct qb_error *err);

/*
 * Create the directories (mkdir -p; v2: enable the controllers in every
 * ancestor), write the limits, and open each dir's cgroup.procs for
 * writing into procs_fds[0..ndirs-1] (close-on-exec): a child writes "0"
 * to each to join before it execs. On failure nothing created is left.
 */
int cg_plan_apply(
    const struct cg_plan *p, int *procs_fds, struct qb_error *err);

/*
 * Remove a sandbox's directory (after its processes are gone; a cgroup
 * whose last process is exiting is busy for a moment, so EBUSY is retried
 * for up to wait_ms). Refuses a path that is not below a cgroup mount.
 * 0 also when it is already gone.
 */
int cg_dir_remove(const char *dir, unsigned wait_ms);

#endif

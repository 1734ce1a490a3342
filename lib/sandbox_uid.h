/*
 * One uid per sandbox (security.vmmon_uid_range): its qemubox-vmmon and
 * QEMU run as that uid (gid: the same number), so two sandboxes never share
 * a uid and one QEMU cannot signal, ptrace or read /proc of another.
 *
 * Each uid in use has a record <state_dir>/uids/<uid> (JSON: the sandbox
 * id, its owner: the shim daemon's pid + start time + boot id + pid
 * namespace, and the sandbox's cgroup directories). Allocation runs under
 * an flock of <state_dir>/uids/lock, so concurrent shims never pick the same
 * uid. A uid is free when it has no record, or its record's owner is judged
 * gone by owner_decide() (lib/owner.c, the rule privnet's records use) AND
 * no process runs as that uid: a shim that crashed leaves QEMU running for a
 * moment (or longer, if something went wrong), and its uid is not handed to
 * another sandbox while any process holds it.
 */
#ifndef QEMUBOX_SANDBOX_UID_H
#define QEMUBOX_SANDBOX_UID_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"
#include "lib/owner.h"
#include "lib/sandbox_cgroup.h"

#define SANDBOX_UID_ID_MAX 128

struct sandbox_uid_rec {
	uint32_t uid;
	char sandbox[SANDBOX_UID_ID_MAX];
	struct owner_rec owner;
	int ncgroups;
	char cgroups[CG_MAX_DIRS][PATH_MAX];
};

enum sandbox_uid_claim {
	SANDBOX_UID_LIVE,  /* its sandbox may still use it */
	SANDBOX_UID_STALE, /* left behind: may be reclaimed */
};

/*
 * The rule (pure): the owner's verdict and how many processes run as the
 * uid now (-1: could not look, counts as in use).
 */
enum sandbox_uid_claim sandbox_uid_decide(const struct owner_facts *of,
    int nprocs, uint32_t uid, char *why, size_t whylen);

/*
 * Pick the lowest free uid of [first, last] for sandbox, record it with the
 * owner pid (the shim daemon: the caller) and the cgroup directories the
 * sandbox is about to get (cg may be NULL), and return it in *uid. Must
 * run with the privileges to read every /proc/<pid>/status.
 */
int sandbox_uid_acquire(const char *state_dir, uint32_t first, uint32_t last,
    const char *sandbox, int64_t owner_pid, const struct cg_plan *cg,
    uint32_t *uid, struct qb_error *err);

/*
 * At the end of the sandbox (its vmmon reaped): drop the record when it is
 * still ours (owner_pid) and no process runs as the uid; otherwise leave it
 * for qemubox-cleanup. 0, or -1 with errno.
 */
int sandbox_uid_release(const char *state_dir, uint32_t uid, int64_t owner_pid);

/* Read one record. -1/ENOENT when there is none. */
int sandbox_uid_read(
    const char *state_dir, uint32_t uid, struct sandbox_uid_rec *rec);

/* Gather the facts for rec now and decide. */
enum sandbox_uid_claim sandbox_uid_claim(
    const struct sandbox_uid_rec *rec, char *why, size_t whylen);

/*
 * Remove what a gone sandbox left (its cgroup directories, then the
 * record), under the allocation lock. Call only after a STALE verdict or
 * an administrator's order; fails with EBUSY if a process runs as the uid.
 */
int sandbox_uid_reclaim(const char *state_dir, uint32_t uid);

/* Calls fn for every record (fn may reclaim it). */
int sandbox_uid_foreach(const char *state_dir,
    int (*fn)(const struct sandbox_uid_rec *, void *), void *arg);

/* How many processes run with uid (real, effective, saved or fs); -1. */
int sandbox_uid_nprocs(uint32_t uid);

#endif

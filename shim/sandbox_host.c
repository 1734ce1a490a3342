#include "shim/sandbox_host.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/sandbox_cgroup.h"
#include "lib/sandbox_uid.h"
#include "shim/oci_spec.h"

/*
 * Once vmmon is reaped its QEMU is gone too (PID namespace), but a process
 * still exiting keeps its cgroup busy and its uid counted for a moment, more
 * on a loaded host: release retries this long before it leaves the uid to
 * qemubox-cleanup.
 */
#define RELEASE_WAIT_MS 15000
#define RELEASE_STEP_MS 20

#define PREVIOUS_STEP_MS 20

static struct {
	uint32_t uid;
	struct cg_plan cg;
	int fds[CG_MAX_DIRS];
	int nfds;
} host;

static unsigned
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned)((now.tv_sec - t0->tv_sec) * 1000 +
	                  (now.tv_nsec - t0->tv_nsec) / 1000000);
}

struct previous_arg {
	const char *sandbox_id;
	int64_t pid;
};

/* The live owner (not us) of a record of the sandbox, if any. */
static int
previous_one(const struct sandbox_uid_rec *rec, void *arg)
{
	struct previous_arg *pa = arg;
	struct owner_facts of;
	char why[240];

	if (strcmp(rec->sandbox, pa->sandbox_id) != 0 ||
	    rec->owner.pid == (int64_t)getpid())
		return 0;
	owner_facts_read(&rec->owner, &of);
	if (owner_decide(&of, "its shim", why, sizeof(why)) == OWNER_LIVE)
		pa->pid = rec->owner.pid;
	return 0;
}

/*
 * The same id again (ctr run --rm twice, a pod sandbox re-created) while
 * the shim of the previous run still tears it down: that shim gives its
 * uid back last, after its VM, network and cgroups are gone
 * (shim_serve), so wait for its record to lose its live owner. Bounded by
 * what that shim may take itself: each shutdown step, the CNI DEL, the
 * release.
 */
static int
previous_wait(
    const struct qb_config *cfg, const char *sandbox_id, struct qb_error *err)
{
	struct timespec step = {0, PREVIOUS_STEP_MS * 1000 * 1000}, t0;
	uint64_t limit = 3 * cfg->runtime.shutdown_timeout_ms +
	                 cfg->network.cni_timeout_ms + RELEASE_WAIT_MS;
	struct previous_arg pa = {sandbox_id, 0};
	unsigned waited;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pa.pid = 0;
		if (sandbox_uid_foreach(
		        cfg->paths.state_dir, previous_one, &pa) == -1)
			log_warn("%s: uid records", __func__);
		waited = ms_since(&t0);
		if (pa.pid == 0)
			break;
		if (waited >= limit)
			return qb_seterr(err, QB_E_UNAVAILABLE,
			    "sandbox %s: the shim of its previous run (pid "
			    "%lld) is still tearing it down after %u ms",
			    sandbox_id, (long long)pa.pid, waited);
		nanosleep(&step, NULL);
	}
	if (waited >= PREVIOUS_STEP_MS)
		log_info("%s: sandbox %s: waited %u ms for the shim of its "
		         "previous run",
		    __func__, sandbox_id, waited);
	return 0;
}

int
sandbox_host_prepare(const struct qb_config *cfg, const char *spec_path,
    const char *sandbox_id, struct qb_error *err)
{
	char rel[PATH_MAX];
	struct oci_spec_info si;
	struct oci_vm_size size;
	struct cg_layout layout;
	struct cg_limits lim;
	int i;

	memset(&host, 0, sizeof(host));
	for (i = 0; i < CG_MAX_DIRS; i++)
		host.fds[i] = -1;
	/* The VM may grow to the pod's size: the limits follow it. */
	if (oci_spec_info_file(spec_path, sandbox_id, &si, err) == -1 ||
	    oci_spec_vm_size(cfg, &si, &size, err) == -1 ||
	    cg_layout_read(&layout, err) == -1 ||
	    cg_path_resolve(si.cgroups_path, cfg->security.cgroup_parent,
	        sandbox_id, rel, sizeof(rel), err) == -1)
		return -1;
	cg_limits_for_vm(size.max_cpus, size.max_memory_mb, &lim);
	if (previous_wait(cfg, sandbox_id, err) == -1)
		return -1;
	if (cg_plan_make(&layout, rel, &lim, &host.cg, err) == -1)
		return -1;
	/* The uid record names the cgroup first, so a crash in between
	 * leaves nothing qemubox-cleanup does not know of. */
	if (cfg->security.vmmon_uid_first != 0 &&
	    sandbox_uid_acquire(cfg->paths.state_dir,
	        cfg->security.vmmon_uid_first, cfg->security.vmmon_uid_last,
	        sandbox_id, getpid(), &host.cg, &host.uid, err) == -1)
		return -1;
	if (cg_plan_apply(&host.cg, host.fds, err) == -1) {
		if (host.uid != 0 && sandbox_uid_release(cfg->paths.state_dir,
		                         host.uid, getpid()) == -1)
			log_warn("%s: release uid %u", __func__, host.uid);
		host.uid = 0;
		host.cg.ndirs = 0;
		return -1;
	}
	host.nfds = host.cg.ndirs;
	log_info("%s: sandbox %s: uid %u, cgroup %s (memory %llu MiB, cpu "
	         "%llu%%)",
	    __func__, sandbox_id, host.uid, rel,
	    (unsigned long long)(lim.memory_bytes >> 20),
	    (unsigned long long)(lim.cpu_quota_us * 100 / CG_CPU_PERIOD_US));
	return 0;
}

uint32_t
sandbox_host_uid(void)
{
	return host.uid;
}

int
sandbox_host_cgroup_fds(const int **fds)
{
	*fds = host.fds;
	return host.nfds;
}

size_t
sandbox_host_cgroup_dirs(const char *dirs[], size_t max)
{
	size_t i;

	for (i = 0; i < (size_t)host.cg.ndirs && i < max; i++)
		dirs[i] = host.cg.dirs[i];
	return i;
}

void
sandbox_host_spawned(void)
{
	int i;

	for (i = 0; i < host.nfds; i++) {
		close(host.fds[i]);
		host.fds[i] = -1;
	}
	host.nfds = 0;
}

/*
 * Remove what is left of the sandbox's cgroups; 1 when something is still
 * busy (worth another try), 0 when all are gone, -1 on another error.
 */
static int
cgroups_remove(bool *gone)
{
	int i, rc = 0;

	for (i = 0; i < host.cg.ndirs; i++) {
		if (gone[i])
			continue;
		if (cg_dir_remove(host.cg.dirs[i], 0) == 0)
			gone[i] = true;
		else if (errno == EBUSY)
			rc = rc == -1 ? -1 : 1;
		else {
			log_warn("%s: remove %s", __func__, host.cg.dirs[i]);
			rc = -1;
		}
	}
	return rc;
}

void
sandbox_host_release(const struct qb_config *cfg)
{
	struct timespec step = {0, RELEASE_STEP_MS * 1000 * 1000}, t0;
	bool gone[CG_MAX_DIRS] = {false};
	unsigned waited = 0;
	int cg = 1, u = host.uid != 0 ? 1 : 0, i;

	sandbox_host_spawned();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The uid only once no cgroup of it is left: the record names them. */
	for (;;) {
		if (cg == 1)
			cg = cgroups_remove(gone);
		if (cg == -1 && u == 1)
			u = -1;
		if (cg == 0 && u == 1) {
			if (sandbox_uid_release(
			        cfg->paths.state_dir, host.uid, getpid()) == 0)
				u = 0;
			else if (errno != EBUSY) {
				log_warn(
				    "%s: release uid %u", __func__, host.uid);
				u = -1;
			}
		}
		waited = ms_since(&t0);
		if ((cg != 1 && u != 1) || waited >= RELEASE_WAIT_MS)
			break;
		nanosleep(&step, NULL);
	}
	if (cg == 1)
		for (i = 0; i < host.cg.ndirs; i++)
			if (!gone[i])
				log_warnx("%s: %s still busy after %u ms",
				    __func__, host.cg.dirs[i], waited);
	if (u != 0)
		log_warnx("%s: uid %u and its cgroups kept for "
		          "qemubox-cleanup",
		    __func__, host.uid);
	else if (waited >= RELEASE_STEP_MS)
		log_info("%s: uid %u and cgroups released after %u ms",
		    __func__, host.uid, waited);
	host.cg.ndirs = 0;
	host.uid = 0;
}

struct reclaim_arg {
	const struct qb_config *cfg;
	const char *sandbox_id;
	int shim_alive;
};

static int
reclaim_one(const struct sandbox_uid_rec *rec, void *arg)
{
	struct reclaim_arg *ra = arg;
	const struct qb_config *cfg = ra->cfg;
	const char *sandbox_id = ra->sandbox_id;
	struct owner_facts of;
	char why[240];

	if (strcmp(rec->sandbox, sandbox_id) != 0)
		return 0;
	owner_facts_read(&rec->owner, &of);
	if (owner_decide(&of, "its shim", why, sizeof(why)) == OWNER_LIVE)
		ra->shim_alive = 1;
	if (sandbox_uid_claim(rec, why, sizeof(why)) != SANDBOX_UID_STALE) {
		log_info("%s: uid %u of %s kept: %s", __func__, rec->uid,
		    sandbox_id, why);
		return 0;
	}
	if (sandbox_uid_reclaim(cfg->paths.state_dir, rec->uid) == -1)
		log_warn("%s: uid %u of %s", __func__, rec->uid, sandbox_id);
	else
		log_info("%s: uid %u and cgroup of %s given back (%s)",
		    __func__, rec->uid, sandbox_id, why);
	return 0;
}

int
sandbox_host_reclaim(const struct qb_config *cfg, const char *sandbox_id)
{
	struct reclaim_arg ra = {cfg, sandbox_id, 0};

	sandbox_uid_foreach(cfg->paths.state_dir, reclaim_one, &ra);
	return ra.shim_alive;
}

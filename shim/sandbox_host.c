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

static struct {
	uint32_t uid;
	struct cg_plan cg;
	int fds[CG_MAX_DIRS];
	int nfds;
} host;

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

static unsigned
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned)((now.tv_sec - t0->tv_sec) * 1000 +
	                  (now.tv_nsec - t0->tv_nsec) / 1000000);
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

static int
reclaim_one(const struct sandbox_uid_rec *rec, void *arg)
{
	const struct qb_config *cfg = ((const void *const *)arg)[0];
	const char *sandbox_id = ((const void *const *)arg)[1];
	char why[240];

	if (strcmp(rec->sandbox, sandbox_id) != 0)
		return 0;
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

void
sandbox_host_reclaim(const struct qb_config *cfg, const char *sandbox_id)
{
	const void *arg[2] = {cfg, sandbox_id};

	sandbox_uid_foreach(cfg->paths.state_dir, reclaim_one, arg);
}

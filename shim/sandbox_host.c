#include "shim/sandbox_host.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lib/log.h"
#include "lib/sandbox_cgroup.h"
#include "lib/sandbox_uid.h"

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

/* linux.cgroupsPath of the OCI spec, "" when absent. */
static int
spec_cgroups_path(
    const char *spec_path, char *out, size_t len, struct qb_error *err)
{
	struct json_object *root, *linux, *v;
	const char *s = "";
	int rc = 0;

	if ((root = json_object_from_file(spec_path)) == NULL)
		return qb_seterr(err, QB_E_INVALID, "read OCI spec %s: %s",
		    spec_path,
		    json_util_get_last_err() ? json_util_get_last_err()
		                             : "invalid JSON");
	if (json_object_object_get_ex(root, "linux", &linux) &&
	    json_object_object_get_ex(linux, "cgroupsPath", &v)) {
		if (!json_object_is_type(v, json_type_string))
			rc = qb_seterr(err, QB_E_INVALID,
			    "%s: linux.cgroupsPath is not a string", spec_path);
		else
			s = json_object_get_string(v);
	}
	if (rc == 0 && strlen(s) >= len)
		rc = qb_seterr(err, QB_E_INVALID,
		    "%s: linux.cgroupsPath is too long", spec_path);
	if (rc == 0)
		memcpy(out, s, strlen(s) + 1);
	json_object_put(root);
	return rc;
}

int
sandbox_host_prepare(const struct qb_config *cfg, const char *spec_path,
    const char *sandbox_id, struct qb_error *err)
{
	char cgpath[PATH_MAX], rel[PATH_MAX];
	struct cg_layout layout;
	struct cg_limits lim;
	int i;

	memset(&host, 0, sizeof(host));
	for (i = 0; i < CG_MAX_DIRS; i++)
		host.fds[i] = -1;
	if (spec_cgroups_path(spec_path, cgpath, sizeof(cgpath), err) == -1 ||
	    cg_layout_read(&layout, err) == -1 ||
	    cg_path_resolve(cgpath, cfg->security.cgroup_parent, sandbox_id,
	        rel, sizeof(rel), err) == -1)
		return -1;
	cg_limits_for_vm(
	    cfg->runtime.max_cpus, cfg->runtime.max_memory_mb, &lim);
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

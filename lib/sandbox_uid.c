#include "lib/sandbox_uid.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lib/log.h"

#define UIDS_DIR "uids"

enum sandbox_uid_claim
sandbox_uid_decide(const struct owner_facts *of, int nprocs, uint32_t uid,
    char *why, size_t whylen)
{
	char basis[160], dummy[1];

	if (why == NULL || whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	if (owner_decide(of, "its shim", basis, sizeof(basis)) == OWNER_LIVE) {
		snprintf(why, whylen, "%s", basis);
		return SANDBOX_UID_LIVE;
	}
	/* Owner gone or unknown: the uid itself is the evidence. */
	if (nprocs != 0) {
		if (nprocs < 0)
			snprintf(why, whylen,
			    "%s, and the processes of uid %u could not be "
			    "counted",
			    basis, uid);
		else
			snprintf(why, whylen,
			    "%s, but %d process%s still run%s as uid %u", basis,
			    nprocs, nprocs == 1 ? "" : "es",
			    nprocs == 1 ? "s" : "", uid);
		return SANDBOX_UID_LIVE;
	}
	snprintf(why, whylen, "%s, no process runs as uid %u", basis, uid);
	return SANDBOX_UID_STALE;
}

/*
 * Reads the real/effective/saved/fs uids of one /proc/<pid>/status, opened
 * relative to /proc (procfd). One open, one read, one close: the Uid line is
 * within the first few hundred bytes.
 */
static int
proc_uids(int procfd, const char *pid, unsigned long u[4])
{
	char path[300], buf[1024], *line, *nl;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/status", pid);
	if ((fd = openat(procfd, path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (line = buf; line != NULL && *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		/* A zombie (State precedes Uid) runs nothing: not a user. */
		if (strncmp(line, "State:", 6) == 0 &&
		    strchr(line, 'Z') != NULL)
			return -1;
		if (strncmp(line, "Uid:", 4) == 0)
			return sscanf(line + 4, "%lu %lu %lu %lu", &u[0], &u[1],
			           &u[2], &u[3]) == 4
			           ? 0
			           : -1;
	}
	return -1;
}

/*
 * How many processes run with uid (any of real, effective, saved, fs) in
 * *count. -1 if /proc cannot be listed. It reads every process's status
 * (about 10 us each here): only the rare path runs it, a record whose
 * owner is gone (sandbox_uid_claim), and release/reclaim.
 */
static int
scan_procs(uint32_t uid, int *count)
{
	struct dirent *de;
	unsigned long u[4];
	DIR *d;
	int i;

	*count = 0;
	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (proc_uids(dirfd(d), de->d_name, u) == -1)
			continue; /* exited meanwhile */
		for (i = 0; i < 4; i++) {
			if (u[i] == uid) {
				(*count)++;
				break;
			}
		}
	}
	closedir(d);
	return 0;
}

int
sandbox_uid_nprocs(uint32_t uid)
{
	int n;

	if (scan_procs(uid, &n) == -1)
		return -1;
	return n;
}

static int
rec_path(const char *state_dir, uint32_t uid, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/" UIDS_DIR "/%u", state_dir, uid) >=
	    len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
get_str(struct json_object *o, const char *key, char *dst, size_t size)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string) ||
	    (s = json_object_get_string(v)) == NULL || strlen(s) >= size)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static uint64_t
get_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_uint64(v);
}

int
sandbox_uid_read(
    const char *state_dir, uint32_t uid, struct sandbox_uid_rec *rec)
{
	struct json_object *o, *a;
	char path[PATH_MAX];
	size_t i, n;

	memset(rec, 0, sizeof(*rec));
	if (rec_path(state_dir, uid, path, sizeof(path)) == -1)
		return -1;
	if (access(path, F_OK) == -1)
		return -1;
	if ((o = json_object_from_file(path)) == NULL ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		errno = EBADMSG;
		return -1;
	}
	rec->uid = uid;
	if (get_str(o, "sandbox", rec->sandbox, sizeof(rec->sandbox)) == -1 ||
	    get_str(o, "owner_boot", rec->owner.boot,
	        sizeof(rec->owner.boot)) == -1)
		goto bad;
	rec->owner.pid = (int64_t)get_u64(o, "owner_pid");
	rec->owner.start = get_u64(o, "owner_start");
	rec->owner.pidns = get_u64(o, "owner_pidns");
	if (json_object_object_get_ex(o, "cgroups", &a)) {
		if (!json_object_is_type(a, json_type_array) ||
		    (n = json_object_array_length(a)) > CG_MAX_DIRS)
			goto bad;
		for (i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(a, i);
			const char *s = json_object_get_string(e);

			if (!json_object_is_type(e, json_type_string) ||
			    strlen(s) >= PATH_MAX || s[0] != '/')
				goto bad;
			memcpy(rec->cgroups[i], s, strlen(s) + 1);
		}
		rec->ncgroups = (int)n;
	}
	json_object_put(o);
	return 0;
bad:
	json_object_put(o);
	errno = EBADMSG;
	return -1;
}

/* tmp + rename: a crash leaves the old record or the new, never half. */
static int
rec_write(const char *state_dir, const struct sandbox_uid_rec *rec)
{
	struct json_object *o, *a;
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	const char *js;
	int fd, i, rc = -1, e;
	size_t len;

	if (rec_path(state_dir, rec->uid, path, sizeof(path)) == -1)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((o = json_object_new_object()) == NULL)
		return -1;
	json_object_object_add(o, "uid", json_object_new_int64(rec->uid));
	json_object_object_add(
	    o, "sandbox", json_object_new_string(rec->sandbox));
	json_object_object_add(
	    o, "owner_pid", json_object_new_int64(rec->owner.pid));
	json_object_object_add(
	    o, "owner_start", json_object_new_uint64(rec->owner.start));
	json_object_object_add(
	    o, "owner_boot", json_object_new_string(rec->owner.boot));
	json_object_object_add(
	    o, "owner_pidns", json_object_new_uint64(rec->owner.pidns));
	a = json_object_new_array();
	for (i = 0; i < rec->ncgroups; i++)
		json_object_array_add(
		    a, json_object_new_string(rec->cgroups[i]));
	json_object_object_add(o, "cgroups", a);
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	len = strlen(js);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
	    -1)
		goto out;
	if (write(fd, js, len) != (ssize_t)len || fsync(fd) == -1) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		goto out;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		e = errno;
		unlink(tmp);
		errno = e;
		goto out;
	}
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

/* The allocation lock; -1 on failure. */
static int
lock_dir(const char *state_dir)
{
	char dir[PATH_MAX], path[PATH_MAX + 8];
	int fd;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/" UIDS_DIR, state_dir) >=
	    sizeof(dir))
		return -1;
	if (mkdir(state_dir, 0711) == -1 && errno != EEXIST)
		return -1;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	while (flock(fd, LOCK_EX) == -1) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

enum sandbox_uid_claim
sandbox_uid_claim(const struct sandbox_uid_rec *rec, char *why, size_t whylen)
{
	struct owner_facts of;

	owner_facts_read(&rec->owner, &of);
	/* A live owner decides alone: count the uid's processes only when
	 * the owner is gone (the count is what the verdict rests on then). */
	return sandbox_uid_decide(&of,
	    owner_decide(&of, "its shim", NULL, 0) == OWNER_LIVE
	        ? 0
	        : sandbox_uid_nprocs(rec->uid),
	    rec->uid, why, whylen);
}

int
sandbox_uid_acquire(const char *state_dir, uint32_t first, uint32_t last,
    const char *sandbox, int64_t owner_pid, const struct cg_plan *cg,
    uint32_t *uid, struct qb_error *err)
{
	struct sandbox_uid_rec rec, old;
	char why[200];
	bool found;
	uint32_t u;
	int lk, i;

	if (first == 0 || last < first ||
	    strlen(sandbox) >= sizeof(rec.sandbox))
		return qb_seterr(err, QB_E_INVALID, "sandbox uid: bad range");
	if ((lk = lock_dir(state_dir)) == -1)
		return qb_seterr(err, QB_E_INTERNAL,
		    "sandbox uid: lock %s/" UIDS_DIR ": %s", state_dir,
		    strerror(errno));
	/*
	 * The records are the truth (every one is written before its vmmon
	 * starts and removed only once no process runs as its uid): a uid
	 * without one is free, and only a record whose owner is gone costs a
	 * look at the processes (sandbox_uid_claim), not every start.
	 */
	for (u = first, found = false; !found; u++) {
		if (sandbox_uid_read(state_dir, u, &old) == -1) {
			if (errno == ENOENT) {
				found = true;
				break;
			}
			log_warn("%s: record of uid %u unreadable; skipping it",
			    __func__, u);
			goto next;
		}
		if (sandbox_uid_claim(&old, why, sizeof(why)) ==
		    SANDBOX_UID_STALE) {
			log_info("%s: uid %u of sandbox %s reclaimed: %s",
			    __func__, u, old.sandbox, why);
			for (i = 0; i < old.ncgroups; i++)
				if (cg_dir_remove(old.cgroups[i], 0) == -1)
					log_warn("%s: remove %s", __func__,
					    old.cgroups[i]);
			found = true;
			break;
		}
	next:
		if (u == last)
			break;
	}
	if (!found) {
		qb_seterr(err, QB_E_EXHAUSTED,
		    "no free uid in security.vmmon_uid_range %u-%u (every "
		    "uid has a live sandbox; qemubox-cleanup --status lists "
		    "them)",
		    first, last);
		goto fail;
	}
	memset(&rec, 0, sizeof(rec));
	rec.uid = u;
	snprintf(rec.sandbox, sizeof(rec.sandbox), "%s", sandbox);
	owner_rec_stamp(&rec.owner, owner_pid);
	for (i = 0; cg != NULL && i < cg->ndirs; i++)
		snprintf(
		    rec.cgroups[rec.ncgroups++], PATH_MAX, "%s", cg->dirs[i]);
	if (rec_write(state_dir, &rec) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "sandbox uid: record uid %u: %s",
		    u, strerror(errno));
		goto fail;
	}
	close(lk); /* unlocks */
	*uid = u;
	return 0;
fail:
	close(lk);
	return -1;
}

int
sandbox_uid_release(const char *state_dir, uint32_t uid, int64_t owner_pid)
{
	struct sandbox_uid_rec rec;
	char path[PATH_MAX];
	int lk, rc = -1, n;

	if ((lk = lock_dir(state_dir)) == -1)
		return -1;
	if (sandbox_uid_read(state_dir, uid, &rec) == -1)
		goto out;
	if (rec.owner.pid != owner_pid ||
	    rec.owner.start != owner_proc_start(owner_pid)) {
		errno = EPERM; /* not ours (any more) */
		goto out;
	}
	if ((n = sandbox_uid_nprocs(uid)) != 0) {
		errno = n < 0 ? errno : EBUSY;
		goto out;
	}
	if (rec_path(state_dir, uid, path, sizeof(path)) == 0 &&
	    unlink(path) == 0)
		rc = 0;
out:
	close(lk);
	return rc;
}

int
sandbox_uid_reclaim(const char *state_dir, uint32_t uid)
{
	struct sandbox_uid_rec rec;
	char path[PATH_MAX];
	int lk, rc = -1, i, n;

	if ((lk = lock_dir(state_dir)) == -1)
		return -1;
	if (sandbox_uid_read(state_dir, uid, &rec) == -1)
		goto out;
	if ((n = sandbox_uid_nprocs(uid)) != 0) {
		errno = n < 0 ? errno : EBUSY;
		goto out;
	}
	for (i = 0; i < rec.ncgroups; i++)
		if (cg_dir_remove(rec.cgroups[i], 1000) == -1)
			goto out;
	if (rec_path(state_dir, uid, path, sizeof(path)) == 0 &&
	    unlink(path) == 0)
		rc = 0;
out:
	close(lk);
	return rc;
}

int
sandbox_uid_foreach(const char *state_dir,
    int (*fn)(const struct sandbox_uid_rec *, void *), void *arg)
{
	struct sandbox_uid_rec rec;
	struct dirent *de;
	char dir[PATH_MAX], *end;
	unsigned long u;
	DIR *d;
	int rc = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/" UIDS_DIR, state_dir) >=
	    sizeof(dir))
		return -1;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		errno = 0;
		u = strtoul(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || u > UINT32_MAX)
			continue;
		if (sandbox_uid_read(state_dir, (uint32_t)u, &rec) == -1) {
			log_warn("%s: %s/%s", __func__, dir, de->d_name);
			continue;
		}
		if (fn(&rec, arg) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

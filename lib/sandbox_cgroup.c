#include "lib/sandbox_cgroup.h"

#include <sys/stat.h>
#include <sys/vfs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_SUPER_MAGIC  0x27e0eb
#define CGROUP2_SUPER_MAGIC 0x63677270

static void
set_str(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Is word one of the comma-separated items of list? */
static bool
has_item(const char *list, const char *word, char sep)
{
	size_t wl = strlen(word);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		const char *e = strchr(p, sep);
		size_t l = e != NULL ? (size_t)(e - p) : strlen(p);

		if (l == wl && strncmp(p, word, wl) == 0)
			return true;
		p = e != NULL ? e + 1 : NULL;
	}
	return false;
}

int
cg_layout_parse(const char *mountinfo, const char *v2_controllers,
    struct cg_layout *out, struct qb_error *err)
{
	const char *line = mountinfo, *nl;
	char buf[4096], *f[16], *sep, *save, *t;
	int n;

	memset(out, 0, sizeof(*out));
	for (; line != NULL && *line != '\0';
	     line = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		set_str(buf, sizeof(buf), line,
		    nl != NULL ? (size_t)(nl - line) : strlen(line));
		/* "... root mountpoint opts [optional...] - fstype src super"
		 */
		if ((sep = strstr(buf, " - ")) == NULL)
			continue;
		*sep = '\0';
		n = 0;
		for (t = strtok_r(buf, " ", &save); t != NULL && n < 5;
		     t = strtok_r(NULL, " ", &save))
			f[n++] = t;
		if (n < 5)
			continue;
		for (t = strtok_r(sep + 3, " ", &save); t != NULL && n < 8;
		     t = strtok_r(NULL, " ", &save))
			f[n++] = t;
		if (n < 8 || strcmp(f[3], "/") != 0 ||
		    strlen(f[4]) >= PATH_MAX || strchr(f[4], '\\') != NULL)
			continue; /* a bind of a sub-tree, or an escaped name */
		if (strcmp(f[5], "cgroup2") == 0) {
			if (out->v2[0] == '\0')
				set_str(out->v2, sizeof(out->v2), f[4],
				    strlen(f[4]));
		} else if (strcmp(f[5], "cgroup") == 0) {
			if (has_item(f[7], "memory", ',') &&
			    out->v1_memory[0] == '\0')
				set_str(out->v1_memory, PATH_MAX, f[4],
				    strlen(f[4]));
			if (has_item(f[7], "cpu", ',') &&
			    out->v1_cpu[0] == '\0')
				set_str(
				    out->v1_cpu, PATH_MAX, f[4], strlen(f[4]));
			if (has_item(f[7], "pids", ',') &&
			    out->v1_pids[0] == '\0')
				set_str(
				    out->v1_pids, PATH_MAX, f[4], strlen(f[4]));
		}
	}
	if (out->v2[0] != '\0' && v2_controllers != NULL) {
		char c[1024];

		set_str(c, sizeof(c), v2_controllers,
		    strcspn(v2_controllers, "\n"));
		out->v2_memory = has_item(c, "memory", ' ');
		out->v2_cpu = has_item(c, "cpu", ' ');
		out->v2_pids = has_item(c, "pids", ' ');
	}
	if (!(out->v2_memory || out->v1_memory[0]) ||
	    !(out->v2_cpu || out->v1_cpu[0]))
		return qb_seterr(err, QB_E_PRECONDITION,
		    "host cgroups: no memory and cpu controller mounted (v2 "
		    "controllers: \"%s\"); a sandbox cannot be limited",
		    v2_controllers != NULL ? v2_controllers : "");
	return 0;
}

static char *
slurp(const char *path, size_t max)
{
	char *buf;
	size_t n = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if ((buf = malloc(max + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (n < max && (r = read(fd, buf + n, max - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return buf;
}

int
cg_layout_read(struct cg_layout *out, struct qb_error *err)
{
	char *mi, *ctl = NULL, path[PATH_MAX + 32];
	struct cg_layout probe;
	int rc;

	if ((mi = slurp("/proc/self/mountinfo", 1 << 20)) == NULL)
		return qb_seterr(err, QB_E_INTERNAL,
		    "read /proc/self/mountinfo: %s", strerror(errno));
	/* First pass only to learn where v2 is mounted. */
	(void)cg_layout_parse(mi, NULL, &probe, NULL);
	if (probe.v2[0] != '\0') {
		snprintf(path, sizeof(path), "%s/cgroup.controllers", probe.v2);
		ctl = slurp(path, 4096);
	}
	rc = cg_layout_parse(mi, ctl != NULL ? ctl : "", out, err);
	free(ctl);
	free(mi);
	return rc;
}

void
cg_limits_for_vm(
    unsigned max_cpus, unsigned max_memory_mb, struct cg_limits *out)
{
	memset(out, 0, sizeof(*out));
	out->memory_bytes =
	    ((uint64_t)max_memory_mb + CG_MEM_OVERHEAD_MB) * 1024 * 1024;
	out->cpu_quota_us = ((uint64_t)max_cpus * 100 + CG_CPU_OVERHEAD_PCT) *
	                    (CG_CPU_PERIOD_US / 100);
	out->pids_max = CG_PIDS_MAX;
}

static bool
cg_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
	       c == '@' || c == '-';
}

/* An absolute path of valid, non-dot components. */
static bool
cg_path_ok(const char *p)
{
	const char *c;
	size_t l;

	if (p[0] != '/' || p[1] == '\0')
		return false;
	for (c = p + 1; *c != '\0';) {
		l = strcspn(c, "/");
		if (l == 0 || (l == 1 && c[0] == '.') ||
		    (l == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		for (size_t i = 0; i < l; i++)
			if (!cg_char_ok(c[i]))
				return false;
		c += l;
		if (*c == '/')
			c++;
		else
			break;
	}
	return p[strlen(p) - 1] != '/';
}

/* "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice", "-.slice" -> "". */
static int
expand_slice(const char *slice, char *out, size_t len)
{
	size_t sl = strlen(slice), off = 0, i;
	int n;

	out[0] = '\0';
	if (sl < 7 || strcmp(slice + sl - 6, ".slice") != 0)
		return -1;
	if (strcmp(slice, "-.slice") == 0)
		return 0;
	sl -= 6; /* the name without ".slice" */
	if (slice[0] == '-' || slice[sl - 1] == '-')
		return -1;
	for (i = 0; i <= sl; i++) {
		if (i < sl && slice[i] != '-')
			continue;
		if (i < sl && slice[i + 1] == '-')
			return -1;
		n = snprintf(
		    out + off, len - off, "/%.*s.slice", (int)i, slice);
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

int
cg_path_resolve(const char *cgroups_path, const char *parent, const char *id,
    char *out, size_t len, struct qb_error *err)
{
	const char *c1, *c2;
	char slice[PATH_MAX], buf[PATH_MAX];
	int n;

	if (cgroups_path == NULL || cgroups_path[0] == '\0')
		n = snprintf(buf, sizeof(buf), "%s/%s", parent, id);
	else if (cgroups_path[0] != '/' &&
	         (c1 = strchr(cgroups_path, ':')) != NULL) {
		/* systemd's "slice:prefix:name" */
		if ((c2 = strchr(c1 + 1, ':')) == NULL ||
		    strchr(c2 + 1, ':') != NULL ||
		    (size_t)(c1 - cgroups_path) >= sizeof(slice))
			goto bad;
		set_str(slice, sizeof(slice), cgroups_path,
		    (size_t)(c1 - cgroups_path));
		if (slice[0] == '\0')
			snprintf(slice, sizeof(slice), "system.slice");
		if (expand_slice(slice, buf, sizeof(buf)) == -1)
			goto bad;
		if (c2 == c1 + 1)
			n = snprintf(buf + strlen(buf),
			    sizeof(buf) - strlen(buf), "/%s", c2 + 1);
		else
			n = snprintf(buf + strlen(buf),
			    sizeof(buf) - strlen(buf), "/%.*s-%s.scope",
			    (int)(c2 - c1 - 1), c1 + 1, c2 + 1);
	} else if (cgroups_path[0] != '/')
		n = snprintf(buf, sizeof(buf), "/%s", cgroups_path);
	else
		n = snprintf(buf, sizeof(buf), "%s", cgroups_path);
	if (n < 0 || (size_t)n >= sizeof(buf) || !cg_path_ok(buf) ||
	    strlen(buf) >= len)
		goto bad;
	memcpy(out, buf, strlen(buf) + 1);
	return 0;
bad:
	return qb_seterr(err, QB_E_INVALID,
	    "cgroup path \"%.200s\" (linux.cgroupsPath \"%.200s\"): want an "
	    "absolute path or \"slice:prefix:name\" of [A-Za-z0-9_.:@-] "
	    "components",
	    cgroups_path != NULL && cgroups_path[0] ? cgroups_path : parent,
	    cgroups_path != NULL ? cgroups_path : "");
}

static int
plan_dir(struct cg_plan *p, const char *mount, const char *path)
{
	char d[PATH_MAX];
	int i;

	if ((size_t)snprintf(d, sizeof(d), "%s%s", mount, path) >= sizeof(d))
		return -1;
	for (i = 0; i < p->ndirs; i++)
		if (strcmp(p->dirs[i], d) == 0)
			return i;
	if (p->ndirs == CG_MAX_DIRS)
		return -1;
	memcpy(p->dirs[p->ndirs], d, strlen(d) + 1);
	p->mount_len[p->ndirs] = strlen(mount);
	return p->ndirs++;
}

static int
plan_write(struct cg_plan *p, int dir, const char *file, const char *fmt,
    unsigned long long a, unsigned long long b)
{
	struct cg_write *w;

	if (dir < 0 || p->nwrites == CG_MAX_WRITES)
		return -1;
	w = &p->writes[p->nwrites++];
	w->dir = dir;
	snprintf(w->file, sizeof(w->file), "%s", file);
	snprintf(w->value, sizeof(w->value), fmt, a, b);
	return 0;
}

int
cg_plan_make(const struct cg_layout *l, const char *path,
    const struct cg_limits *lim, struct cg_plan *p, struct qb_error *err)
{
	int v2 = -1, d;

	memset(p, 0, sizeof(*p));
	p->v2_dir = -1;
	if (!cg_path_ok(path))
		return qb_seterr(
		    err, QB_E_INVALID, "cgroup path \"%.200s\" invalid", path);
	/* v2 first: it is where systemd and kubelet look for membership. */
	if (l->v2[0] != '\0' && (v2 = plan_dir(p, l->v2, path)) == -1)
		goto toolong;
	p->v2_dir = v2;
	if (l->v2_memory) {
		strcat(p->v2_enable, "+memory ");
		if (plan_write(p, v2, "memory.max", "%llu%.0llu",
		        (unsigned long long)lim->memory_bytes, 0) == -1)
			goto toolong;
	} else {
		if ((d = plan_dir(p, l->v1_memory, path)) == -1 ||
		    plan_write(p, d, "memory.limit_in_bytes", "%llu%.0llu",
		        (unsigned long long)lim->memory_bytes, 0) == -1)
			goto toolong;
	}
	if (l->v2_cpu) {
		strcat(p->v2_enable, "+cpu ");
		if (plan_write(p, v2, "cpu.max", "%llu %llu",
		        (unsigned long long)lim->cpu_quota_us,
		        CG_CPU_PERIOD_US) == -1)
			goto toolong;
	} else {
		/* The period first: the quota is checked against it. */
		if ((d = plan_dir(p, l->v1_cpu, path)) == -1 ||
		    plan_write(p, d, "cpu.cfs_period_us", "%llu%.0llu",
		        CG_CPU_PERIOD_US, 0) == -1 ||
		    plan_write(p, d, "cpu.cfs_quota_us", "%llu%.0llu",
		        (unsigned long long)lim->cpu_quota_us, 0) == -1)
			goto toolong;
	}
	if (l->v2_pids) {
		strcat(p->v2_enable, "+pids ");
		if (plan_write(p, v2, "pids.max", "%llu%.0llu",
		        (unsigned long long)lim->pids_max, 0) == -1)
			goto toolong;
	} else if (l->v1_pids[0] != '\0') {
		if ((d = plan_dir(p, l->v1_pids, path)) == -1 ||
		    plan_write(p, d, "pids.max", "%llu%.0llu",
		        (unsigned long long)lim->pids_max, 0) == -1)
			goto toolong;
	}
	if (p->v2_enable[0] != '\0')
		p->v2_enable[strlen(p->v2_enable) - 1] = '\0';
	return 0;
toolong:
	return qb_seterr(err, QB_E_INVALID,
	    "cgroup path \"%.200s\": too long or too many hierarchies", path);
}

static int
write_file(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd, e;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	n = write(fd, value, strlen(value));
	e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

/* Is every "+ctl" of want listed in dir's cgroup.subtree_control? */
static bool
enabled(const char *dir, const char *want)
{
	char path[PATH_MAX + 32], have[512], w[32], *t, *save;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, have, sizeof(have) - 1);
	close(fd);
	if (n < 0)
		return false;
	have[n] = '\0';
	have[strcspn(have, "\n")] = '\0';
	snprintf(w, sizeof(w), "%s", want);
	for (t = strtok_r(w, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save))
		if (!has_item(have, t + 1, ' '))
			return false;
	return true;
}

struct created {
	int n;
	char dirs[CG_MAX_DIRS * 16][PATH_MAX];
};

/*
 * mkdir -p of dir, whose first `mlen` bytes are the mount point; on v2,
 * enable controllers in each existing ancestor before making its child.
 */
static int
make_dirs(const char *dir, size_t mlen, const char *enable, struct created *c,
    struct qb_error *err)
{
	char buf[PATH_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", dir);
	for (p = buf + mlen + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char save = *p;
			char *slash;

			*p = '\0';
			slash = strrchr(buf, '/');
			*slash = '\0';
			/* buf is now the parent of the component. */
			if (enable != NULL && enable[0] != '\0' &&
			    !enabled(buf, enable) &&
			    write_file(buf, "cgroup.subtree_control", enable) ==
			        -1) {
				qb_seterr(err, QB_E_PRECONDITION,
				    "enable \"%s\" in "
				    "%s/cgroup.subtree_control: %s",
				    enable, buf, strerror(errno));
				return -1;
			}
			*slash = '/';
			if (mkdir(buf, 0755) == 0) {
				if (c->n <
				    (int)(sizeof(c->dirs) / sizeof(c->dirs[0])))
					snprintf(c->dirs[c->n++], PATH_MAX,
					    "%s", buf);
			} else if (errno != EEXIST) {
				qb_seterr(err, QB_E_PRECONDITION,
				    "mkdir %s: %s", buf, strerror(errno));
				return -1;
			}
			*p = save;
		}
		if (*p == '\0')
			break;
	}
	return 0;
}

int
cg_plan_apply(const struct cg_plan *p, int *procs_fds, struct qb_error *err)
{
	static struct created c;
	char path[PATH_MAX + 32];
	const struct cg_write *w;
	int i;

	c.n = 0;
	for (i = 0; i < p->ndirs; i++)
		procs_fds[i] = -1;
	for (i = 0; i < p->ndirs; i++) {
		if (make_dirs(p->dirs[i], p->mount_len[i],
		        i == p->v2_dir ? p->v2_enable : NULL, &c, err) == -1)
			goto fail;
	}
	for (i = 0; i < p->nwrites; i++) {
		w = &p->writes[i];
		if (write_file(p->dirs[w->dir], w->file, w->value) == -1) {
			qb_seterr(err, QB_E_PRECONDITION,
			    "write %s to %s/%s: %s", w->value, p->dirs[w->dir],
			    w->file, strerror(errno));
			goto fail;
		}
	}
	for (i = 0; i < p->ndirs; i++) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", p->dirs[i]);
		if ((procs_fds[i] = open(path, O_WRONLY | O_CLOEXEC)) == -1) {
			qb_seterr(err, QB_E_PRECONDITION, "open %s: %s", path,
			    strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	for (i = 0; i < p->ndirs; i++)
		if (procs_fds[i] != -1) {
			close(procs_fds[i]);
			procs_fds[i] = -1;
		}
	while (c.n > 0)
		rmdir(c.dirs[--c.n]);
	return -1;
}

int
cg_dir_remove(const char *dir, unsigned wait_ms)
{
	struct timespec ms10 = {0, 10 * 1000 * 1000};
	char parent[PATH_MAX], *slash;
	struct statfs sf;
	unsigned waited = 0;

	if (snprintf(parent, sizeof(parent), "%s", dir) >=
	        (int)sizeof(parent) ||
	    (slash = strrchr(parent, '/')) == NULL || slash == parent) {
		errno = EINVAL;
		return -1;
	}
	*slash = '\0';
	if (statfs(parent, &sf) == -1)
		return errno == ENOENT ? 0 : -1;
	if (sf.f_type != CGROUP_SUPER_MAGIC &&
	    sf.f_type != CGROUP2_SUPER_MAGIC) {
		errno = EXDEV;
		return -1;
	}
	for (;;) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || waited >= wait_ms)
			return -1;
		nanosleep(&ms10, NULL);
		waited += 10;
	}
}

/*
 * An exec'd process started by the agent itself (guest/agent_int.h), without
 * a `crun exec` (one crun start-up under TCG, 65-350 ms, was most of an
 * exec). The agent applies what crun applies to an exec, from the same two
 * sources: the exec's OCI Process (user, groups, umask, capabilities,
 * NoNewPrivileges, rlimits, oomScoreAdj, cwd, env, args) and the container's
 * bundle (its namespaces, joined through the init's pidfd; its seccomp
 * filter, the one crun compiled at create and keeps in its state dir, loaded
 * with the flags crun uses; its cgroup, the init's). A spec with anything
 * else (a terminal, a paused container, a user or time namespace, a user
 * name, a seccomp listener or flags, a personality, scheduler or I/O
 * priority, an unknown capability or rlimit or key) goes to crun:
 * exec_direct answers 1.
 *
 * Order in the process, as crun's: cgroup, namespaces (then a fork, for the
 * pid namespace), new session, stdio, other fds close-on-exec, rlimits,
 * oom_score_adj, umask, cwd, seccomp when NoNewPrivileges is off (it needs
 * CAP_SYS_ADMIN then), bounding set, groups/gid/uid keeping capabilities,
 * capset, ambient set, NoNewPrivileges, seccomp when it is on, execve along
 * the exec's own PATH. Errors before execve come back over a close-on-exec
 * pipe: the exec fails with the reason, like crun's.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "guest/agent_int.h"
#include "guest/crun.h"
#include "guest/gfile.h"
#include "guest/pid1.h"
#include "lib/log.h"

#define X_MAX_GROUPS 64
#define X_MAX_RLIM   16
#define X_BPF_MAX    (1024 * 1024)
#define X_NCAPSETS   5
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

enum { CS_BOUNDING, CS_EFFECTIVE, CS_INHERITABLE, CS_PERMITTED, CS_AMBIENT };

static const char *const capset_names[X_NCAPSETS] = {
    "bounding", "effective", "inheritable", "permitted", "ambient"};

/* Linux capability numbers (linux/capability.h), by OCI name. */
static const char *const cap_names[] = {"CAP_CHOWN", "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
#define X_NCAPS ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

static const struct {
	const char *name;
	int res;
} rlim_names[] = {{"RLIMIT_AS", RLIMIT_AS}, {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU}, {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE}, {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE}, {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC}, {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK}};

struct xspec {
	struct json_object *proc, *cfg; /* owners of the strings below */
	const char **argv;
	const char **envp;
	const char *cwd;
	bool has_home;
	uid_t uid;
	gid_t gid;
	gid_t groups[X_MAX_GROUPS];
	size_t ngroups;
	bool has_umask;
	mode_t umask;
	uint64_t caps[X_NCAPSETS];
	bool nnp;
	struct {
		int res;
		struct rlimit rl;
	} rlim[X_MAX_RLIM];
	size_t nrlim;
	bool has_oom;
	int oom;
	int nsflags;
	bool seccomp;
	unsigned seccomp_flags;
	uint8_t *bpf;
	size_t bpflen;
	int cgfd;  /* the container's cgroup.procs */
	int pidfd; /* its init */
};

/* Keys of obj all in the allowed list; else the spec is not ours. */
static bool
keys_only(struct json_object *obj, const char *const *allowed)
{
	size_t i;

	json_object_object_foreach(obj, k, v)
	{
		(void)v;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			log_debug("exec_direct: crun: process key %s", k);
			return false;
		}
	}
	return true;
}

static bool
get_uint(struct json_object *o, const char *key, uint64_t max, uint64_t *out)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v))
		return false;
	if (!json_object_is_type(v, json_type_int))
		return false;
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x > max)
		return false;
	*out = (uint64_t)x;
	return true;
}

/* A string array as a NULL-terminated vector (strings owned by json). */
static const char **
str_vec(struct json_object *arr, size_t *np)
{
	const char **v;
	size_t i, n;

	if (!json_object_is_type(arr, json_type_array))
		return NULL;
	n = json_object_array_length(arr);
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(e, json_type_string)) {
			free(v);
			return NULL;
		}
		v[i] = json_object_get_string(e);
	}
	if (np != NULL)
		*np = n;
	return v;
}

/* 0 ok, 1 not ours. */
static int
parse_user(struct json_object *u, struct xspec *x)
{
	static const char *const allowed[] = {
	    "uid", "gid", "umask", "additionalGids", NULL};
	struct json_object *g;
	uint64_t v;
	size_t i, n;

	if (!keys_only(u, allowed))
		return 1;
	if (!get_uint(u, "uid", UINT32_MAX - 1, &v))
		return 1;
	x->uid = (uid_t)v;
	if (!get_uint(u, "gid", UINT32_MAX - 1, &v))
		return 1;
	x->gid = (gid_t)v;
	if (json_object_object_get_ex(u, "umask", &g)) {
		if (!get_uint(u, "umask", 0777, &v))
			return 1;
		x->has_umask = true;
		x->umask = (mode_t)v;
	}
	if (json_object_object_get_ex(u, "additionalGids", &g)) {
		if (!json_object_is_type(g, json_type_array) ||
		    (n = json_object_array_length(g)) > X_MAX_GROUPS)
			return 1;
		for (i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(g, i);

			if (!json_object_is_type(e, json_type_int) ||
			    json_object_get_int64(e) < 0 ||
			    json_object_get_int64(e) >= UINT32_MAX)
				return 1;
			x->groups[i] = (gid_t)json_object_get_int64(e);
		}
		x->ngroups = n;
	}
	return 0;
}

static int
parse_caps(struct json_object *c, struct xspec *x)
{
	struct json_object *arr;
	size_t i, n;
	int s, k;

	if (!keys_only(c, capset_names))
		return 1;
	for (s = 0; s < X_NCAPSETS; s++) {
		if (!json_object_object_get_ex(c, capset_names[s], &arr))
			continue;
		if (!json_object_is_type(arr, json_type_array))
			return 1;
		n = json_object_array_length(arr);
		for (i = 0; i < n; i++) {
			const char *name = json_object_get_string(
			    json_object_array_get_idx(arr, i));

			for (k = 0; k < X_NCAPS; k++)
				if (name != NULL &&
				    strcmp(name, cap_names[k]) == 0)
					break;
			if (k == X_NCAPS) {
				log_debug("exec_direct: crun: capability %s",
				    name ? name : "?");
				return 1;
			}
			x->caps[s] |= 1ull << k;
		}
	}
	return 0;
}

static int
parse_rlimits(struct json_object *arr, struct xspec *x)
{
	size_t i, j, n;
	uint64_t hard, soft;

	if (!json_object_is_type(arr, json_type_array) ||
	    (n = json_object_array_length(arr)) > X_MAX_RLIM)
		return 1;
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *t;

		if (!json_object_object_get_ex(e, "type", &t) ||
		    !get_uint(e, "hard", UINT64_MAX >> 1, &hard) ||
		    !get_uint(e, "soft", UINT64_MAX >> 1, &soft))
			return 1;
		for (j = 0; j < sizeof(rlim_names) / sizeof(rlim_names[0]); j++)
			if (strcmp(json_object_get_string(t),
			        rlim_names[j].name) == 0)
				break;
		if (j == sizeof(rlim_names) / sizeof(rlim_names[0]))
			return 1;
		x->rlim[i].res = rlim_names[j].res;
		x->rlim[i].rl.rlim_cur = soft;
		x->rlim[i].rl.rlim_max = hard;
	}
	x->nrlim = n;
	return 0;
}

/* The exec's Process: 0 ours, 1 crun's, -1 invalid. */
static int
parse_process(const uint8_t *json, size_t len, struct xspec *x)
{
	static const char *const allowed[] = {"terminal", "consoleSize", "user",
	    "args", "env", "cwd", "capabilities", "rlimits", "noNewPrivileges",
	    "oomScoreAdj",
	    /* crun_write_process drops both: no LSM in the guest. */
	    "apparmorProfile", "selinuxLabel", NULL};
	struct json_tokener *tok;
	struct json_object *v;
	size_t i, n = 0;

	if (len > INT_MAX || (tok = json_tokener_new()) == NULL)
		return -1;
	x->proc = json_tokener_parse_ex(tok, (const char *)json, (int)len);
	json_tokener_free(tok);
	if (x->proc == NULL || !json_object_is_type(x->proc, json_type_object))
		return -1;
	if (!keys_only(x->proc, allowed))
		return 1;
	if (json_object_object_get_ex(x->proc, "terminal", &v) &&
	    json_object_get_boolean(v))
		return 1;
	if (!json_object_object_get_ex(x->proc, "user", &v) ||
	    parse_user(v, x) != 0)
		return 1;
	if (!json_object_object_get_ex(x->proc, "args", &v) ||
	    (x->argv = str_vec(v, &n)) == NULL || n == 0)
		return -1;
	if (!json_object_object_get_ex(x->proc, "cwd", &v) ||
	    (x->cwd = json_object_get_string(v)) == NULL || x->cwd[0] != '/')
		return -1;
	if (json_object_object_get_ex(x->proc, "env", &v)) {
		if ((x->envp = str_vec(v, &n)) == NULL)
			return -1;
		for (i = 0; i < n; i++)
			if (strncmp(x->envp[i], "HOME=", 5) == 0)
				x->has_home = true;
	} else if ((x->envp = calloc(1, sizeof(*x->envp))) == NULL)
		return -1;
	/* No capabilities object: runtimes disagree on what that means. */
	if (!json_object_object_get_ex(x->proc, "capabilities", &v) ||
	    parse_caps(v, x) != 0)
		return 1;
	if (json_object_object_get_ex(x->proc, "rlimits", &v) &&
	    parse_rlimits(v, x) != 0)
		return 1;
	if (json_object_object_get_ex(x->proc, "noNewPrivileges", &v))
		x->nnp = json_object_get_boolean(v);
	if (json_object_object_get_ex(x->proc, "oomScoreAdj", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    json_object_get_int(v) < -1000 ||
		    json_object_get_int(v) > 1000)
			return 1;
		x->has_oom = true;
		x->oom = json_object_get_int(v);
	}
	return 0;
}

/* The container's side, from its bundle: 0 ours, 1 crun's, -1 error. */
static int
parse_bundle(struct ctr *c, struct xspec *x)
{
	static const struct {
		const char *type;
		int flag;
	} ns[] = {{"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},
	    {"uts", CLONE_NEWUTS}, {"mount", CLONE_NEWNS},
	    {"cgroup", CLONE_NEWCGROUP}, {"network", 0}};
	struct json_object *linux_, *v, *sc;
	char path[PATH_MAX];
	size_t i, j, n;
	ssize_t got;

	snprintf(path, sizeof(path), "%s/config.json", c->dir);
	if ((x->cfg = json_object_from_file(path)) == NULL)
		return -1;
	if (!json_object_object_get_ex(x->cfg, "linux", &linux_))
		return 1;
	/* Set up by crun at create for every process: not ours to redo. */
	if (json_object_object_get_ex(linux_, "personality", &v) ||
	    json_object_object_get_ex(linux_, "intelRdt", &v) ||
	    json_object_object_get_ex(linux_, "timeOffsets", &v))
		return 1;
	if (json_object_object_get_ex(linux_, "namespaces", &v)) {
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i),
			                   *t;
			const char *type;

			if (!json_object_object_get_ex(e, "type", &t) ||
			    (type = json_object_get_string(t)) == NULL)
				return 1;
			for (j = 0; j < sizeof(ns) / sizeof(ns[0]); j++)
				if (strcmp(type, ns[j].type) == 0)
					break;
			if (j == sizeof(ns) / sizeof(ns[0])) {
				log_debug(
				    "exec_direct: crun: %s namespace", type);
				return 1;
			}
			x->nsflags |= ns[j].flag;
		}
	}
	if (json_object_object_get_ex(linux_, "seccomp", &sc) &&
	    !json_object_is_type(sc, json_type_null)) {
		if (json_object_object_get_ex(sc, "listenerPath", &v) ||
		    json_object_object_get_ex(sc, "flags", &v))
			return 1;
		/* crun's default when the spec names no flags. */
		x->seccomp = true;
		x->seccomp_flags = SECCOMP_FILTER_FLAG_SPEC_ALLOW;
		snprintf(
		    path, sizeof(path), "%s/%s/seccomp.bpf", CRUN_ROOT, c->id);
		if ((x->bpf = malloc(X_BPF_MAX)) == NULL)
			return -1;
		got = gfile_read(path, (char *)x->bpf, X_BPF_MAX);
		if (got <= 0 || got == X_BPF_MAX ||
		    got % sizeof(struct sock_filter) != 0 ||
		    got / sizeof(struct sock_filter) > USHRT_MAX) {
			log_debug("exec_direct: crun: no usable %s", path);
			return 1;
		}
		x->bpflen = (size_t)got;
	}
	return 0;
}

static void
xspec_free(struct xspec *x)
{
	free(x->argv);
	free(x->envp);
	free(x->bpf);
	json_object_put(x->proc);
	json_object_put(x->cfg);
	if (x->cgfd >= 0)
		close(x->cgfd);
	if (x->pidfd >= 0)
		close(x->pidfd);
}

/* ---- in the new process -------------------------------------------- */

/* Report why the exec failed to the agent and end. */
static void
die(int efd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (saved != 0)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), ": %s",
		    strerror(saved));
	(void)!write(efd, msg, strlen(msg));
	_exit(127);
}

static int
load_seccomp(const struct xspec *x)
{
	struct sock_fprog prog;

	prog.len = (unsigned short)(x->bpflen / sizeof(struct sock_filter));
	prog.filter = (struct sock_filter *)(void *)x->bpf;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, x->seccomp_flags,
	        &prog) == 0)
		return 0;
	/* As crun: a flag the kernel does not know is left out. */
	if (errno == EINVAL)
		return (int)syscall(
		    SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
	return -1;
}

/* HOME as crun sets it when the exec's env has none: the user's passwd
 * entry in the container, else "/". */
static void
set_home(struct xspec *x, char *buf, size_t len)
{
	char line[1024], *f[7], *s;
	FILE *pw;
	int i;

	snprintf(buf, len, "HOME=/");
	if ((pw = fopen("/etc/passwd", "re")) != NULL) {
		while (fgets(line, sizeof(line), pw) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			for (i = 0, s = line; i < 7; i++)
				f[i] = strsep(&s, ":");
			if (f[6] == NULL || f[2] == NULL ||
			    strtoul(f[2], NULL, 10) != x->uid)
				continue;
			snprintf(buf, len, "HOME=%s", f[5]);
			break;
		}
		fclose(pw);
	}
}

static void
exec_path(const struct xspec *x, const char *const *envp, int efd)
{
	const char *path = NULL, *arg0 = x->argv[0];
	char full[PATH_MAX];
	int i, err = ENOENT;

	if (strchr(arg0, '/') != NULL) {
		execve(arg0, (char *const *)(uintptr_t)x->argv,
		    (char *const *)(uintptr_t)envp);
		die(efd, "exec %s", arg0);
	}
	for (i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	if (path == NULL)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/"
		       "sbin:/bin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");

		if (n > 0 && n + strlen(arg0) + 2 < sizeof(full)) {
			snprintf(
			    full, sizeof(full), "%.*s/%s", (int)n, path, arg0);
			execve(full, (char *const *)(uintptr_t)x->argv,
			    (char *const *)(uintptr_t)envp);
			if (errno != ENOENT && errno != ENOTDIR)
				err = errno;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	errno = err;
	die(efd, "exec %s: executable file not found in $PATH", arg0);
}

static void
set_caps(const struct xspec *x, int efd)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	int k, last = X_NCAPS - 1;
	char buf[16];

	if (gfile_read("/proc/sys/kernel/cap_last_cap", buf, sizeof(buf)) > 0)
		last = atoi(buf);
	for (k = 0; k <= last && k < 64; k++)
		if (!(x->caps[CS_BOUNDING] & (1ull << k)) &&
		    prctl(PR_CAPBSET_DROP, k, 0, 0, 0) == -1 && errno != EINVAL)
			die(efd, "drop capability %d from the bounding set", k);
	if (setgroups(x->ngroups, x->groups) == -1)
		die(efd, "setgroups");
	if (setresgid(x->gid, x->gid, x->gid) == -1)
		die(efd, "setresgid %u", (unsigned)x->gid);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1)
		die(efd, "keepcaps");
	if (setresuid(x->uid, x->uid, x->uid) == -1)
		die(efd, "setresuid %u", (unsigned)x->uid);
	(void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	memset(d, 0, sizeof(d));
	d[0].effective = (uint32_t)x->caps[CS_EFFECTIVE];
	d[1].effective = (uint32_t)(x->caps[CS_EFFECTIVE] >> 32);
	d[0].permitted = (uint32_t)x->caps[CS_PERMITTED];
	d[1].permitted = (uint32_t)(x->caps[CS_PERMITTED] >> 32);
	d[0].inheritable = (uint32_t)x->caps[CS_INHERITABLE];
	d[1].inheritable = (uint32_t)(x->caps[CS_INHERITABLE] >> 32);
	if (syscall(SYS_capset, &h, d) == -1)
		die(efd, "capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL)
		die(efd, "clear the ambient set");
	for (k = 0; k <= last && k < 64; k++)
		if ((x->caps[CS_AMBIENT] & (1ull << k)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, k, 0, 0) == -1)
			die(efd, "raise ambient capability %d", k);
}

/* The process, in the container's namespaces (after the second fork). */
static void
child_setup(struct xspec *x, const int fds[3], int efd)
{
	char home[PATH_MAX + 8], num[16];
	const char **envp = x->envp;
	size_t i, n;
	int k;

	errno = 0;
	if (setsid() == -1)
		die(efd, "setsid");
	for (k = 0; k < 3; k++) {
		int fd = fds[k];

		if (fd == k)
			fcntl(fd, F_SETFD, 0);
		else if (dup2(fd, k) == -1)
			die(efd, "stdio");
	}
	/* Nothing of the agent's reaches the container. */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		die(efd, "close_range");
	for (i = 0; i < x->nrlim; i++)
		if (setrlimit(x->rlim[i].res, &x->rlim[i].rl) == -1)
			die(efd, "setrlimit %d", x->rlim[i].res);
	if (x->has_oom) {
		snprintf(num, sizeof(num), "%d", x->oom);
		if (gfile_write("/proc/self/oom_score_adj", num, strlen(num),
		        O_TRUNC, 0) == -1)
			die(efd, "oom_score_adj");
	}
	umask(x->has_umask ? x->umask : 022);
	if (chdir(x->cwd) == -1)
		die(efd, "chdir %s", x->cwd);
	if (!x->has_home) {
		for (n = 0; x->envp[n] != NULL; n++)
			;
		if ((envp = calloc(n + 2, sizeof(*envp))) == NULL)
			die(efd, "env");
		memcpy(envp, x->envp, n * sizeof(*envp));
		set_home(x, home, sizeof(home));
		envp[n] = home;
	}
	if (x->seccomp && !x->nnp && load_seccomp(x) == -1)
		die(efd, "seccomp");
	set_caps(x, efd);
	if (x->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		die(efd, "no_new_privs");
	if (x->seccomp && x->nnp && load_seccomp(x) == -1)
		die(efd, "seccomp");
	exec_path(x, envp, efd);
}

/* The first child: cgroup and namespaces, then the process is its child. */
static void
child_join(struct xspec *x, const int fds[3], int efd, int pfd)
{
	pid_t pid;

	pid1_child_reset();
	errno = 0;
	if (write(x->cgfd, "0", 1) != 1)
		die(efd, "join the container's cgroup");
	if (x->nsflags != 0 && setns(x->pidfd, x->nsflags) == -1)
		die(efd, "join the container's namespaces");
	if ((pid = fork()) == -1)
		die(efd, "fork");
	if (pid == 0) {
		close(pfd);
		child_setup(x, fds, efd);
	}
	(void)!write(pfd, &pid, sizeof(pid));
	_exit(0);
}

int
exec_direct(
    struct ctr *c, struct proc *p, const int fds[3], struct qb_error *err)
{
	struct xspec x;
	char cg[PATH_MAX], msg[512];
	int epipe[2] = {-1, -1}, ppipe[2] = {-1, -1}, rc = -1, st, k;
	int nullfd = -1, cfds[3];
	pid_t a = -1, pid = -1;
	ssize_t n;

	memset(&x, 0, sizeof(x));
	x.cgfd = x.pidfd = -1;
	/* A frozen cgroup would stop the process before its exec, and us
	 * waiting for that: a paused container keeps crun's behaviour. */
	if (p->terminal || c->paused)
		return 1;
	if ((rc = parse_process(p->process_json, p->process_len, &x)) != 0 ||
	    (rc = parse_bundle(c, &x)) != 0) {
		xspec_free(&x);
		if (rc == 1)
			return 1;
		return qb_seterr(err, QB_E_INVALID, "exec: bad process spec");
	}
	rc = -1;
	if (ctr_cgroup(c, cg, sizeof(cg)) == -1 ||
	    strlen(cg) + sizeof("/cgroup.procs") > sizeof(cg)) {
		qb_seterr(err, QB_E_PRECONDITION, "container %s is not running",
		    c->id);
		goto out;
	}
	strcat(cg, "/cgroup.procs");
	if ((x.cgfd = open(cg, O_WRONLY | O_CLOEXEC)) == -1 ||
	    (x.pidfd = (int)syscall(SYS_pidfd_open, c->procs->pid, 0)) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "exec: %s: %s", cg, strerror(errno));
		goto out;
	}
	if ((nullfd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    pipe2(epipe, O_CLOEXEC) == -1 || pipe2(ppipe, O_CLOEXEC) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "pipe: %s", strerror(errno));
		goto out;
	}
	for (k = 0; k < 3; k++)
		cfds[k] = fds[k] >= 0 ? fds[k] : nullfd;
	if ((a = fork()) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "fork: %s", strerror(errno));
		goto out;
	}
	if (a == 0) {
		close(epipe[0]);
		close(ppipe[0]);
		child_join(&x, cfds, epipe[1], ppipe[1]);
	}
	close(epipe[1]);
	close(ppipe[1]);
	epipe[1] = ppipe[1] = -1;
	while ((n = read(ppipe[0], &pid, sizeof(pid))) == -1 && errno == EINTR)
		;
	if (n != sizeof(pid))
		pid = -1;
	while (waitpid(a, &st, 0) == -1 && errno == EINTR)
		;
	/* EOF: execve closed it; bytes: why it did not get there. */
	while (
	    (n = read(epipe[0], msg, sizeof(msg) - 1)) == -1 && errno == EINTR)
		;
	if (n > 0 || pid <= 0) {
		msg[n > 0 ? n : 0] = '\0';
		if (pid > 0)
			while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
				;
		qb_seterr(err, QB_E_UNKNOWN, "%s",
		    n > 0 ? msg : "exec: the process was not started");
		goto out;
	}
	p->pid = pid;
	log_debug("%s: %s/%s pid %d", __func__, c->id, p->exec_id, pid);
	rc = 0;
out:
	if (nullfd >= 0)
		close(nullfd);
	if (epipe[0] >= 0)
		close(epipe[0]);
	if (epipe[1] >= 0)
		close(epipe[1]);
	if (ppipe[0] >= 0)
		close(ppipe[0]);
	if (ppipe[1] >= 0)
		close(ppipe[1]);
	xspec_free(&x);
	return rc;
}

/*
 * The shim's confinement really confines: under seccomp_apply_shim() a
 * forbidden syscall kills the process (SIGSYS), allowed forms still work,
 * "log" mode does not kill; the Landlock rules built from a bundle path
 * let the shim write only where docs/SECURITY.md says. Every case runs in a
 * forked child (both are irreversible); children leave with _exit so the
 * sanitizers' exit-time work (LeakSanitizer's ptrace) never runs filtered.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/unit_skip.h"

#include "lib/landlock.h"
#include "seccomp/seccomp.h"
#include "shim/shim_landlock.h"

/* Child outcome: exit code, or 128 + signal. */
static int
in_child(int (*fn)(void *), void *arg)
{
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(fn(arg));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static int
apply(enum qb_seccomp_mode mode)
{
	return seccomp_apply_shim(mode) == 0 ? 0 : 99;
}

static int
c_allowed(void *arg)
{
	int sv[2], fd;

	(void)arg;
	if (apply(QB_SECCOMP_ENFORCE))
		return 99;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 1;
	close(fd);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 2;
	close(sv[0]);
	close(sv[1]);
	if ((fd = open("/dev/null", O_RDONLY)) == -1)
		return 3;
	close(fd);
	/* fork: clone without namespace flags (clone3 answers ENOSYS). */
	pid_t p = fork();
	if (p == 0)
		_exit(7);
	int st;
	if (p == -1 || waitpid(p, &st, 0) != p || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 7)
		return 4;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 5;
	return 0;
}

static int
c_inet(void *arg)
{
	(void)arg;
	if (apply(QB_SECCOMP_ENFORCE))
		return 99;
	socket(AF_INET, SOCK_STREAM, 0);
	return 0;
}

static int
c_netlink(void *arg)
{
	(void)arg;
	if (apply(QB_SECCOMP_ENFORCE))
		return 99;
	socket(AF_NETLINK, SOCK_RAW, 0);
	return 0;
}

static int
c_ptrace(void *arg)
{
	(void)arg;
	if (apply(QB_SECCOMP_ENFORCE))
		return 99;
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 0;
}

static int
c_syscall(void *arg)
{
	long nr = (long)(intptr_t)arg;

	if (apply(QB_SECCOMP_ENFORCE))
		return 99;
	syscall(nr, 0, 0, 0, 0, 0);
	return 0;
}

static int
c_clone_userns(void *arg)
{
	(void)arg;
	if (apply(QB_SECCOMP_ENFORCE))
		return 99;
	/* A raw clone asking for a user namespace: SIGSYS, not a child. */
	syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	return 0;
}

static int
c_log_mode(void *arg)
{
	int fd;

	(void)arg;
	if (apply(QB_SECCOMP_LOG))
		return 99;
	/* Logged by the kernel, not killed: the call goes through. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd != -1)
		close(fd);
	return 0;
}

static char mkfs_dir[64];

/* The filter is inherited: mkfs.erofs must run under it, as in the shim. */
static int
c_mkfs(void *arg)
{
	char out[128], in[128];
	int fd;

	(void)arg;
	snprintf(out, sizeof(out), "%s/out.erofs", mkfs_dir);
	snprintf(in, sizeof(in), "%s/in", mkfs_dir);
	if (apply(QB_SECCOMP_ENFORCE))
		return 99;
	if ((fd = open("/dev/null", O_WRONLY)) != -1) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execl("/usr/bin/mkfs.erofs", "mkfs.erofs", "-x", "-1", out, in,
	    (char *)NULL);
	return 98;
}

static void
test_seccomp_mkfs_erofs_runs(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char cmd[256];
	int r;

	(void)state;
	if (access("/usr/bin/mkfs.erofs", X_OK) != 0)
		skip_because("/usr/bin/mkfs.erofs not installed (erofs-utils)");
	snprintf(mkfs_dir, sizeof(mkfs_dir), "%s/qb-mkfs.XXXXXX", tmp);
	assert_non_null(mkdtemp(mkfs_dir));
	snprintf(cmd, sizeof(cmd),
	    "mkdir -p '%s/in/d' && echo hi > '%s/in/d/f' && ln -s f "
	    "'%s/in/d/l'",
	    mkfs_dir, mkfs_dir, mkfs_dir);
	assert_int_equal(system(cmd), 0);
	r = in_child(c_mkfs, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mkfs_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(r, 0);
}

static void
test_seccomp_allows_what_the_shim_does(void **state)
{
	(void)state;
	assert_int_equal(in_child(c_allowed, NULL), 0);
}

static void
test_seccomp_kills_forbidden(void **state)
{
	static const long forbidden[] = {SYS_mount, SYS_bpf, SYS_init_module,
	    SYS_keyctl, SYS_unshare, SYS_setns, SYS_setuid, SYS_execveat,
	    SYS_process_vm_readv, SYS_perf_event_open, SYS_userfaultfd,
	    SYS_kexec_load, SYS_pivot_root, SYS_chroot, SYS_mknodat};
	size_t i;

	(void)state;
	assert_int_equal(in_child(c_inet, NULL), 128 + SIGSYS);
	assert_int_equal(in_child(c_netlink, NULL), 128 + SIGSYS);
	assert_int_equal(in_child(c_ptrace, NULL), 128 + SIGSYS);
	assert_int_equal(in_child(c_clone_userns, NULL), 128 + SIGSYS);
	for (i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		int r = in_child(c_syscall, (void *)(intptr_t)forbidden[i]);
		if (r != 128 + SIGSYS)
			fail_msg("syscall %ld: child ended %d, not SIGSYS",
			    forbidden[i], r);
	}
}

static void
test_seccomp_log_mode_does_not_kill(void **state)
{
	(void)state;
	assert_int_equal(in_child(c_log_mode, NULL), 0);
}

static void
test_rules_from_bundle(void **state)
{
	struct qb_config cfg;
	struct shim_ll_rules r;
	const char *want_rw[] = {"/var/lib/qemubox", "/var/log/qemubox",
	    "/run/containerd/io.containerd.runtime.v2.task/k8s.io",
	    "/run/containerd"};
	size_t i, j;

	(void)state;
	qb_config_defaults(&cfg);
	strcpy(cfg.paths.state_dir, "/var/lib/qemubox");
	strcpy(cfg.paths.log_dir, "/var/log/qemubox");
	assert_int_equal(
	    shim_landlock_rules(&cfg,
	        "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/",
	        "/usr/bin/containerd", &r),
	    0);
	for (i = 0; i < sizeof(want_rw) / sizeof(want_rw[0]); i++) {
		for (j = 0; j < r.n; j++)
			if (strcmp(r.rule[j].path, want_rw[i]) == 0)
				break;
		if (j == r.n)
			fail_msg("no rule for %s", want_rw[i]);
		assert_int_equal(r.rule[j].access, LL_READ | LL_WRITE);
	}
	for (j = 0; j < r.n; j++) {
		/* Nothing but "/" is granted as a whole tree for reading, and
		 * only files are executable. */
		if (strcmp(r.rule[j].path, "/") == 0)
			assert_int_equal(r.rule[j].access, LL_READ);
		if (r.rule[j].access & LL_EXEC)
			assert_true(strcmp(r.rule[j].path,
			                "/usr/bin/containerd") == 0 ||
			            strcmp(r.rule[j].path,
			                "/usr/bin/mkfs.erofs") == 0 ||
			            strstr(r.rule[j].path, "ld-linux") != NULL);
	}

	/* A bundle outside containerd's layout: only its parent. */
	assert_int_equal(shim_landlock_rules(&cfg, "/srv/b/x", NULL, &r), 0);
	for (j = 0; j < r.n; j++) {
		assert_true(strcmp(r.rule[j].path, "/srv") != 0);
		if (r.rule[j].access & LL_WRITE)
			assert_true(strcmp(r.rule[j].path, "/srv/b") == 0 ||
			            strncmp(r.rule[j].path, "/var/", 5) == 0 ||
			            strncmp(r.rule[j].path, "/run/containerd/",
			                16) == 0 ||
			            strcmp(r.rule[j].path, "/dev/null") == 0);
	}
	/* A bundle directly under / grants no tree. */
	assert_int_equal(shim_landlock_rules(&cfg, "/x", NULL, &r), 0);
	for (j = 0; j < r.n; j++)
		assert_false(strcmp(r.rule[j].path, "/") == 0 &&
		             (r.rule[j].access & LL_WRITE));
}

/* ---- Landlock enforcement -------------------------------------------- */

static char root[64];

struct ll_case {
	char bundle[256], other[256], state[256];
};

static int
try_create(const char *dir)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/probe", dir);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	close(fd);
	unlink(p);
	return 0;
}

static int
c_landlock(void *arg)
{
	struct ll_case *c = arg;
	struct qb_config cfg;
	char sibling[300];
	int rc;

	qb_config_defaults(&cfg);
	snprintf(
	    cfg.paths.state_dir, sizeof(cfg.paths.state_dir), "%s", c->state);
	snprintf(cfg.paths.log_dir, sizeof(cfg.paths.log_dir), "%s/log", root);
	rc = shim_landlock_apply(&cfg, c->bundle, NULL);
	if (rc == 1)
		return 77; /* no Landlock here */
	if (rc != 0)
		return 99;
	if (try_create(c->bundle) != 0)
		return 1; /* own bundle */
	snprintf(sibling, sizeof(sibling), "%s/../sib", c->bundle);
	if (try_create(sibling) != 0)
		return 2; /* another bundle of the namespace */
	if (try_create(c->state) != 0)
		return 3;
	if (try_create(c->other) == 0 || errno != EACCES)
		return 4; /* outside: denied */
	if (open("/dev/null", O_WRONLY) == -1)
		return 5;
	/* Exec of anything but mkfs.erofs is denied. */
	execl("/bin/true", "true", (char *)NULL);
	if (errno != EACCES)
		return 6;
	return 0;
}

static void
test_landlock_enforced(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct ll_case c;
	char cmd[1200];
	int r;

	(void)state;
	snprintf(root, sizeof(root), "%s/qb-confine.XXXXXX", tmp);
	assert_non_null(mkdtemp(root));
	snprintf(c.bundle, sizeof(c.bundle),
	    "%s/ctd/io.containerd.runtime.v2.task/ns/id", root);
	snprintf(c.other, sizeof(c.other), "%s/other", root);
	snprintf(c.state, sizeof(c.state), "%s/state", root);
	snprintf(cmd, sizeof(cmd),
	    "mkdir -p '%s' '%s/../sib' '%s' '%s' '%s/log'", c.bundle, c.bundle,
	    c.other, c.state, root);
	assert_int_equal(system(cmd), 0);
	r = in_child(c_landlock, &c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	if (r == 77)
		skip_because("host capability landlock: the kernel has no "
		             "Landlock");
	assert_int_equal(r, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seccomp_allows_what_the_shim_does),
	    cmocka_unit_test(test_seccomp_kills_forbidden),
	    cmocka_unit_test(test_seccomp_mkfs_erofs_runs),
	    cmocka_unit_test(test_seccomp_log_mode_does_not_kill),
	    cmocka_unit_test(test_rules_from_bundle),
	    cmocka_unit_test(test_landlock_enforced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

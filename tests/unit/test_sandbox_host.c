/*
 * shim/sandbox_host.c against the real host: a sandbox's uid and cgroups
 * are given back only once nothing of the sandbox runs, and then surely,
 * however long its last process takes to exit (a loaded host finishes an
 * exit late; 35-hostile-guest once saw a uid record left behind).
 */
/* Test paths are short (mkdtemp under TMPDIR); truncation cannot happen. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/unit_skip.h"

#include "lib/sandbox_uid.h"
#include "shim/sandbox_host.h"

/* What the test made, for teardown to remove even after a failure. */
static char tmp[PATH_MAX], dirs[4][PATH_MAX];
static size_t nd;

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16], *slash;
	size_t i;

	(void)state;
	for (i = 0; i < nd; i++) {
		(void)rmdir(dirs[i]);
		if ((slash = strrchr(dirs[i], '/')) != NULL) {
			*slash = '\0';
			(void)rmdir(dirs[i]);
		}
	}
	nd = 0;
	if (tmp[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

/*
 * A scratch state dir (tmp), settings with a uid range and cgroup parent of
 * this test run's own, and an empty bundle config.json there (spec).
 */
static void
scratch_host(struct qb_config *cfg, char *spec, size_t speclen)
{
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/qb-host.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	qb_config_defaults(cfg);
	snprintf(cfg->paths.state_dir, sizeof(cfg->paths.state_dir), "%s", tmp);
	cfg->security.vmmon_uid_first =
	    3000000000u + (uint32_t)getpid() % 4096 * 8;
	cfg->security.vmmon_uid_last = cfg->security.vmmon_uid_first + 7;
	snprintf(cfg->security.cgroup_parent,
	    sizeof(cfg->security.cgroup_parent), "/qb-unit-%d", (int)getpid());
	snprintf(spec, speclen, "%s/config.json", tmp);
	assert_non_null(f = fopen(spec, "w"));
	fputs("{}\n", f);
	fclose(f);
}

static unsigned
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned)((now.tv_sec - t0->tv_sec) * 1000 +
	                  (now.tv_nsec - t0->tv_nsec) / 1000000);
}

/*
 * A process of the sandbox (in its cgroups, running as its uid) lives on
 * for 5 s after release starts (longer than the one 2 s cgroup wait
 * release used to have before it gave up and kept the uid): release waits
 * for it, then removes the cgroups and the uid record.
 */
static void
test_release_waits_for_the_last_process(void **state)
{
	static struct qb_config cfg;
	struct timespec t0, slow = {5, 0};
	struct qb_error err = {0};
	char spec[PATH_MAX], rec[PATH_MAX];
	const char *d[4];
	const int *fds;
	struct stat st;
	size_t i;
	uint32_t uid;
	int p[2], n, status;
	unsigned waited;
	pid_t pid;
	char c;

	(void)state;
	if (geteuid() != 0)
		skip_because("not root: makes host cgroups, runs as a "
		             "sandbox uid");
	scratch_host(&cfg, spec, sizeof(spec));

	if (sandbox_host_prepare(&cfg, spec, "sbx", &err) == -1)
		fail_msg("prepare: %s", err.msg);
	uid = sandbox_host_uid();
	assert_true(uid >= cfg.security.vmmon_uid_first &&
	            uid <= cfg.security.vmmon_uid_last);
	nd = sandbox_host_cgroup_dirs(d, 4);
	assert_true(nd >= 1);
	for (i = 0; i < nd; i++)
		snprintf(dirs[i], sizeof(dirs[i]), "%s", d[i]);
	snprintf(rec, sizeof(rec), "%s/uids/%u", tmp, uid);
	assert_int_equal(stat(rec, &st), 0);

	assert_int_equal(pipe(p), 0);
	n = sandbox_host_cgroup_fds(&fds);
	assert_int_equal(n, (int)nd);
	if ((pid = fork()) == 0) {
		for (i = 0; i < (size_t)n; i++)
			if (write(fds[i], "0", 1) != 1)
				_exit(2);
		if (setresgid(uid, uid, uid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			_exit(3);
		(void)!write(p[1], "j", 1);
		nanosleep(&slow, NULL);
		_exit(0);
	}
	assert_true(pid > 0);
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1); /* it joined */
	close(p[0]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	sandbox_host_release(&cfg);
	waited = ms_since(&t0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	print_message("# release waited %u ms\n", waited);
	assert_true(waited >= 4500);
	assert_int_equal(stat(rec, &st), -1);
	assert_int_equal(errno, ENOENT);
	for (i = 0; i < nd; i++)
		assert_int_equal(stat(dirs[i], &st), -1);
}

/*
 * The same sandbox id again while the shim of its previous run still tears
 * it down (its uid record has a live owner): prepare waits until that shim
 * gives its uid back, not for the shim to exit, and then claims a uid.
 */
static void
test_prepare_waits_for_the_previous_shim(void **state)
{
	static struct qb_config cfg;
	struct timespec t0, hold = {0, 600 * 1000 * 1000}, linger = {1, 0};
	struct qb_error err = {0};
	char spec[PATH_MAX];
	const char *d[4];
	size_t i;
	uint32_t old;
	int p[2], status;
	unsigned waited;
	pid_t pid;
	char c;

	(void)state;
	if (geteuid() != 0)
		skip_because("not root: makes host cgroups");
	scratch_host(&cfg, spec, sizeof(spec));

	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		/* The previous run's shim: its record, its teardown, then
		 * the uid back, and it lives on a moment after that. */
		if (sandbox_uid_acquire(tmp, cfg.security.vmmon_uid_first,
		        cfg.security.vmmon_uid_last, "sbx", getpid(), NULL,
		        &old, &err) == -1)
			_exit(2);
		(void)!write(p[1], "a", 1);
		nanosleep(&hold, NULL);
		if (sandbox_uid_release(tmp, old, getpid()) == -1)
			_exit(3);
		nanosleep(&linger, NULL);
		_exit(0);
	}
	assert_true(pid > 0);
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1); /* its record is there */
	close(p[0]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (sandbox_host_prepare(&cfg, spec, "sbx", &err) == -1)
		fail_msg("prepare: %s", err.msg);
	waited = ms_since(&t0);
	nd = sandbox_host_cgroup_dirs(d, 4);
	for (i = 0; i < nd; i++)
		snprintf(dirs[i], sizeof(dirs[i]), "%s", d[i]);
	print_message("# prepare waited %u ms\n", waited);
	assert_true(waited >= 400);
	assert_true(kill(pid, 0) == 0); /* the record, not the exit */
	assert_true(sandbox_host_uid() != 0);
	sandbox_host_release(&cfg);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
	        test_release_waits_for_the_last_process, teardown),
	    cmocka_unit_test_teardown(
	        test_prepare_waits_for_the_previous_shim, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Sandbox uids: the rule (owner judged by lib/owner.c, then the uid's own
 * processes), and allocation in a scratch state dir: distinct uids for
 * concurrent sandboxes, a crashed owner's uid not reused while a process
 * still runs as it, reclaimed once none does, release only by the owner.
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/unit_skip.h"

#include "lib/sandbox_uid.h"

/* Well above anything a test host hands out. */
#define FIRST 1900000000u

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/qb-uid-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_decide(void **state)
{
	struct owner_facts of = {.pid = 42, .start = 7, .start_now = 7};
	char why[200];

	(void)state;
	assert_int_equal(
	    sandbox_uid_decide(&of, 0, 5, why, sizeof(why)), SANDBOX_UID_LIVE);
	assert_non_null(strstr(why, "running"));
	of.start_now = 0; /* the shim crashed ... */
	assert_int_equal(
	    sandbox_uid_decide(&of, 2, 5, why, sizeof(why)), SANDBOX_UID_LIVE);
	assert_non_null(strstr(why, "2 processes still run as uid 5"));
	assert_int_equal(
	    sandbox_uid_decide(&of, -1, 5, NULL, 0), SANDBOX_UID_LIVE);
	/* ... and its QEMU is gone too. */
	assert_int_equal(
	    sandbox_uid_decide(&of, 0, 5, why, sizeof(why)), SANDBOX_UID_STALE);
	assert_non_null(strstr(why, "is gone"));
	of.start_now = 9; /* pid reused */
	assert_int_equal(
	    sandbox_uid_decide(&of, 0, 5, NULL, 0), SANDBOX_UID_STALE);
	of.pidns_differs = 1; /* cannot judge by pid: by processes */
	assert_int_equal(
	    sandbox_uid_decide(&of, 1, 5, NULL, 0), SANDBOX_UID_LIVE);
	assert_int_equal(
	    sandbox_uid_decide(&of, 0, 5, NULL, 0), SANDBOX_UID_STALE);
}

/* A child that exited: a pid whose owner is certainly gone. */
static pid_t
dead_pid(void)
{
	pid_t p = fork();

	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	return p;
}

static void
test_allocate(void **state)
{
	struct qb_error err = {0};
	struct sandbox_uid_rec rec;
	uint32_t a, b, c;
	pid_t gone = dead_pid(), holder;
	int p[2];
	char ch;

	(void)state;
	assert_int_equal(sandbox_uid_acquire(dir, FIRST, FIRST + 2, "sa",
	                     getpid(), NULL, &a, &err),
	    0);
	assert_int_equal(sandbox_uid_acquire(dir, FIRST, FIRST + 2, "sb",
	                     getpid(), NULL, &b, &err),
	    0);
	assert_int_equal(a, FIRST);
	assert_int_equal(b, FIRST + 1);
	assert_int_equal(sandbox_uid_read(dir, a, &rec), 0);
	assert_string_equal(rec.sandbox, "sa");
	assert_int_equal(rec.owner.pid, getpid());
	assert_int_equal(sandbox_uid_claim(&rec, NULL, 0), SANDBOX_UID_LIVE);

	/* Release only by the owner. */
	assert_int_equal(sandbox_uid_release(dir, a, gone), -1);
	assert_int_equal(sandbox_uid_release(dir, a, getpid()), 0);
	assert_int_equal(sandbox_uid_read(dir, a, &rec), -1);

	/*
	 * "sb" loses its shim while a process still runs as its uid (a QEMU
	 * that has not died yet): b is not handed out, and not reclaimable.
	 */
	assert_int_equal(sandbox_uid_read(dir, b, &rec), 0);
	rec.owner.pid = gone;
	{
		/* rewrite the owner: acquire a scratch record, edit it */
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), "%s/uids/%u", dir, b);
		assert_non_null(f = fopen(path, "w"));
		fprintf(f,
		    "{\"sandbox\":\"sb\",\"owner_pid\":%d,\"owner_start\":1,"
		    "\"cgroups\":[]}",
		    (int)gone);
		fclose(f);
	}
	if (geteuid() != 0) {
		skip_because("not root: holding a foreign uid needs root");
		return;
	}
	assert_int_equal(pipe(p), 0);
	if ((holder = fork()) == 0) {
		if (setresgid(b, b, b) == -1 || setresuid(b, b, b) == -1)
			_exit(1);
		close(p[0]);
		(void)write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &ch, 1), 1);
	close(p[0]);
	assert_int_equal(sandbox_uid_nprocs(b), 1);
	assert_int_equal(sandbox_uid_read(dir, b, &rec), 0);
	assert_int_equal(sandbox_uid_claim(&rec, NULL, 0), SANDBOX_UID_LIVE);
	assert_int_equal(sandbox_uid_reclaim(dir, b), -1);
	assert_int_equal(sandbox_uid_acquire(dir, FIRST, FIRST + 2, "sc",
	                     getpid(), NULL, &c, &err),
	    0);
	assert_int_equal(c, FIRST); /* a was released */
	assert_int_equal(sandbox_uid_acquire(dir, FIRST, FIRST + 2, "sd",
	                     getpid(), NULL, &c, &err),
	    0);
	assert_int_equal(c, FIRST + 2); /* b skipped: still held */
	assert_int_equal(sandbox_uid_acquire(dir, FIRST, FIRST + 2, "se",
	                     getpid(), NULL, &c, &err),
	    -1);
	assert_non_null(strstr(err.msg, "no free uid"));

	/* The holder exits: b is stale, the next sandbox gets it. */
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	assert_int_equal(sandbox_uid_nprocs(b), 0);
	assert_int_equal(sandbox_uid_claim(&rec, NULL, 0), SANDBOX_UID_STALE);
	assert_int_equal(sandbox_uid_acquire(dir, FIRST, FIRST + 2, "se",
	                     getpid(), NULL, &c, &err),
	    0);
	assert_int_equal(c, b);
	assert_int_equal(sandbox_uid_read(dir, b, &rec), 0);
	assert_string_equal(rec.sandbox, "se");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide),
	    cmocka_unit_test_setup_teardown(test_allocate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

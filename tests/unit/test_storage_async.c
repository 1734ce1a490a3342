/*
 * storage_plan_prepare_async: the loop keeps running while a layer builds;
 * hits, failures and cancel.
 */
/* Test paths are short (mkdtemp under TMPDIR); truncation cannot happen. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "lib/evloop.h"
#include "shim/layer_cache.h"
#include "shim/storage.h"
#include "shim/storage_async.h"

struct fx {
	char root[PATH_MAX];
	char lower[3 * PATH_MAX];
	char runs[PATH_MAX];
	struct layer_cache lc;
	struct evloop *loop;
	/* results */
	int called;
	struct qb_error err;
	int ticks;
};

static void
script(const char *path, const char *body)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	char p[2 * PATH_MAX], body[2 * PATH_MAX];
	struct qb_error err = {0};

	snprintf(fx->root, sizeof(fx->root), "%s/test_storage_async.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->root));
	snprintf(p, sizeof(p), "%s/l0", fx->root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/l1", fx->root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(fx->lower, sizeof(fx->lower), "lowerdir=%s/l1:%s/l0", fx->root,
	    fx->root);
	snprintf(fx->runs, sizeof(fx->runs), "%s/runs", fx->root);
	/* Slow enough that the loop must turn while it runs. */
	snprintf(body, sizeof(body),
	    "#!/bin/sh\nwhile [ $# -gt 2 ]; do shift; done\n"
	    "echo \"$2\" >>'%s'\nsleep 0.3\nhead -c 100 /dev/zero >\"$1\"\n",
	    fx->runs);
	snprintf(p, sizeof(p), "%s/slow-mkfs", fx->root);
	script(p, body);
	snprintf(p, sizeof(p), "%s/state", fx->root);
	assert_int_equal(layer_cache_init(&fx->lc, p, "none", 0, &err), 0);
	snprintf(fx->lc.mkfs, sizeof(fx->lc.mkfs), "%s/slow-mkfs", fx->root);
	fx->loop = evloop_new();
	assert_non_null(fx->loop);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[PATH_MAX + 16];

	evloop_free(fx->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->root);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void
on_done(struct storage_plan *plan, const struct qb_error *err, void *arg)
{
	struct fx *fx = arg;

	(void)plan;
	fx->called++;
	if (err != NULL)
		fx->err = *err;
	evloop_break(fx->loop);
}

static void
on_tick(struct ev_timer *t, void *arg)
{
	struct fx *fx = arg;

	(void)t;
	fx->ticks++;
}

static void
build_plan(struct fx *fx, struct storage_plan *plan)
{
	const char *opts[] = {fx->lower};
	struct storage_mount m = {"overlay", "overlay", NULL, opts, 1};
	struct qb_error err = {0};

	assert_int_equal(storage_plan_build(&m, 1, NULL, NULL, plan, &err), 0);
}

static void
test_async_build_then_hits(void **state)
{
	struct fx *fx = *state;
	struct storage_plan plan;
	struct qb_error err = {0};
	struct ev_timer *t;

	build_plan(fx, &plan);
	t = evloop_timer_add(
	    fx->loop, 20 * 1000000ULL, 20 * 1000000ULL, on_tick, fx);
	assert_non_null(storage_plan_prepare_async(
	    &plan, &fx->lc, fx->loop, on_done, fx, &err));
	assert_int_equal(fx->called, 0); /* never from inside the call */
	assert_int_equal(evloop_run(fx->loop), 0);
	evloop_timer_del(t);
	assert_int_equal(fx->called, 1);
	assert_int_equal(fx->err.code, QB_E_OK);
	/* Two 0.3 s builds in the child; the loop ticked meanwhile. */
	assert_true(fx->ticks >= 10);
	for (size_t i = 0; i < 2; i++) {
		assert_true(plan.disks[i].fd >= 0);
		assert_true(plan.disks[i].built);
	}
	storage_plan_free(&plan);

	/* Second container: hits, answered from the loop without a child. */
	fx->called = 0;
	build_plan(fx, &plan);
	assert_non_null(storage_plan_prepare_async(
	    &plan, &fx->lc, fx->loop, on_done, fx, &err));
	assert_int_equal(fx->called, 0);
	assert_int_equal(evloop_run(fx->loop), 0);
	assert_int_equal(fx->called, 1);
	assert_true(plan.disks[0].fd >= 0 && !plan.disks[0].built);
	assert_true(plan.disks[1].fd >= 0 && !plan.disks[1].built);
	storage_plan_free(&plan);
}

static void
test_async_failure(void **state)
{
	struct fx *fx = *state;
	struct storage_plan plan;
	struct qb_error err = {0};
	char p[2 * PATH_MAX];

	snprintf(p, sizeof(p), "%s/bad-mkfs", fx->root);
	script(p, "#!/bin/sh\necho 'no space left' >&2\nexit 1\n");
	strcpy(fx->lc.mkfs, p);
	build_plan(fx, &plan);
	assert_non_null(storage_plan_prepare_async(
	    &plan, &fx->lc, fx->loop, on_done, fx, &err));
	assert_int_equal(evloop_run(fx->loop), 0);
	assert_int_equal(fx->called, 1);
	assert_int_equal(fx->err.code, QB_E_INTERNAL);
	assert_non_null(strstr(fx->err.msg, "no space left"));
	assert_int_equal(plan.disks[0].fd, -1);
	storage_plan_free(&plan);
}

static void
test_async_cancel(void **state)
{
	struct fx *fx = *state;
	struct storage_plan plan;
	struct qb_error err = {0};
	struct storage_prepare *p;
	char cmd[2 * PATH_MAX];

	build_plan(fx, &plan);
	p = storage_plan_prepare_async(
	    &plan, &fx->lc, fx->loop, on_done, fx, &err);
	assert_non_null(p);
	/* Let the builder reach mkfs. */
	for (int i = 0; i < 100 && access(fx->runs, F_OK) != 0; i++)
		usleep(10000);
	storage_prepare_cancel(p);
	(void)evloop_run_once(fx->loop, 50);
	assert_int_equal(fx->called, 0);
	storage_plan_free(&plan);
	/* mkfs (the builder's process group) is gone too: no image appears. */
	usleep(400000);
	snprintf(
	    cmd, sizeof(cmd), "ls '%s'/*.erofs >/dev/null 2>&1", fx->lc.dir);
	assert_int_not_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_async_build_then_hits, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_async_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_async_cancel, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

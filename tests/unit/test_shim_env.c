/*
 * shim_env_ld_path: what of containerd's LD_LIBRARY_PATH the shim keeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim/shim_env.h"

struct dirs {
	char root[64], empty[96], full[96];
};

static int
setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));
	char file[128];
	FILE *f;

	assert_non_null(d);
	snprintf(d->root, sizeof(d->root), "%s/qb-env.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(d->root));
	snprintf(d->empty, sizeof(d->empty), "%s/empty", d->root);
	snprintf(d->full, sizeof(d->full), "%s/full", d->root);
	assert_int_equal(mkdir(d->empty, 0755), 0);
	assert_int_equal(mkdir(d->full, 0755), 0);
	snprintf(file, sizeof(file), "%s/libx.so.1", d->full);
	assert_non_null(f = fopen(file, "w"));
	fclose(f);
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct dirs *d = *state;
	char file[128];

	snprintf(file, sizeof(file), "%s/libx.so.1", d->full);
	unlink(file);
	rmdir(d->full);
	rmdir(d->empty);
	rmdir(d->root);
	free(d);
	return 0;
}

static void
check(const char *in, const char *want)
{
	char out[512];

	shim_env_ld_path(in, out, sizeof(out));
	assert_string_equal(out, want);
}

/* containerd's value: an empty directory and an empty entry (the cwd). */
static void
test_containerd_default(void **state)
{
	struct dirs *d = *state;
	char in[256];

	snprintf(in, sizeof(in), "%s:", d->empty);
	check(in, "");
	check(":", "");
	check("", "");
}

/* A directory holding libraries stays, in order; the rest goes. */
static void
test_keeps_real_dirs(void **state)
{
	struct dirs *d = *state;
	char in[512], want[256];

	snprintf(in, sizeof(in), "%s::lib:./x:%s:/nonexistent/qb:%s", d->empty,
	    d->full, d->full);
	snprintf(want, sizeof(want), "%s:%s", d->full, d->full);
	check(in, want);
}

/* A file is not a directory; a result that does not fit is never cut. */
static void
test_not_dirs_and_short_buffer(void **state)
{
	struct dirs *d = *state;
	char file[128], out[8];

	snprintf(file, sizeof(file), "%s/libx.so.1", d->full);
	check(file, "");
	shim_env_ld_path(d->full, out, sizeof(out));
	assert_string_equal(out, "");
}

/* The environment itself: unset when nothing is left. */
static void
test_sanitize_env(void **state)
{
	struct dirs *d = *state;
	char in[256];

	snprintf(in, sizeof(in), "%s:", d->empty);
	assert_int_equal(setenv("LD_LIBRARY_PATH", in, 1), 0);
	shim_env_sanitize();
	assert_null(getenv("LD_LIBRARY_PATH"));
	snprintf(in, sizeof(in), "%s::", d->full);
	assert_int_equal(setenv("LD_LIBRARY_PATH", in, 1), 0);
	shim_env_sanitize();
	assert_string_equal(getenv("LD_LIBRARY_PATH"), d->full);
	unsetenv("LD_LIBRARY_PATH");
	shim_env_sanitize();
	assert_null(getenv("LD_LIBRARY_PATH"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_containerd_default),
	    cmocka_unit_test(test_keeps_real_dirs),
	    cmocka_unit_test(test_not_dirs_and_short_buffer),
	    cmocka_unit_test(test_sanitize_env),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

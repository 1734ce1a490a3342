/*
 * console.log per sandbox (shim/console_log.c): a fresh file per VM, the
 * copy-and-empty rotation vmmon's O_APPEND fd writes on through, one older
 * generation, removal unless keep_logs.
 */
/* Test paths are short (mkdtemp under TMPDIR); truncation cannot happen. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <sys/stat.h>

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
#include <unistd.h>

#include <cmocka.h>

#include "shim/console_log.h"

static char dir[PATH_MAX];

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	(void)state;
	snprintf(dir, sizeof(dir), "%s/qb-console.XXXXXX", tmp);
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The content of dir/name, "" if absent (NUL-terminated in a static). */
static const char *
slurp(const char *name)
{
	static char buf[256];
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY)) == -1)
		return "<absent>";
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static void
put(const char *name, const char *s)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

static void
test_open_starts_fresh(void **state)
{
	struct qb_error err = {0};
	struct stat st;
	char path[PATH_MAX];
	int fd;

	(void)state;
	put(CONSOLE_LOG, "old VM");
	put(CONSOLE_LOG_PREV, "older VM");
	assert_true((fd = console_log_open(dir, &err)) >= 0);
	assert_string_equal(slurp(CONSOLE_LOG), "");
	assert_string_equal(slurp(CONSOLE_LOG_PREV), "<absent>");
	assert_int_equal(
	    fcntl(fd, F_GETFL) & (O_ACCMODE | O_APPEND), O_WRONLY | O_APPEND);
	snprintf(path, sizeof(path), "%s/%s", dir, CONSOLE_LOG);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	close(fd);
}

/* What vmmon sees: its fd writes on at the start of the emptied file. */
static void
test_rotate_keeps_one_generation(void **state)
{
	struct qb_error err = {0};
	struct stat st;
	int fd;

	(void)state;
	assert_true((fd = console_log_open(dir, &err)) >= 0);
	assert_int_equal(write(fd, "boot 1\n", 7), 7);
	assert_int_equal(console_log_rotate(dir), 0);
	assert_string_equal(slurp(CONSOLE_LOG_PREV), "boot 1\n");
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(write(fd, "boot 2\n", 7), 7);
	assert_string_equal(slurp(CONSOLE_LOG), "boot 2\n");
	/* The older generation is replaced, not appended to. */
	assert_int_equal(console_log_rotate(dir), 0);
	assert_string_equal(slurp(CONSOLE_LOG_PREV), "boot 2\n");
	assert_string_equal(slurp(CONSOLE_LOG), "");
	close(fd);
}

static void
test_rotate_refuses_odd_files(void **state)
{
	char a[PATH_MAX], b[PATH_MAX];

	(void)state;
	errno = 0;
	assert_int_equal(console_log_rotate(dir), -1);
	assert_int_equal(errno, ENOENT);
	/* A symlink is not followed (the log dir is root's alone anyway). */
	put("elsewhere", "not a log");
	snprintf(a, sizeof(a), "%s/elsewhere", dir);
	snprintf(b, sizeof(b), "%s/%s", dir, CONSOLE_LOG);
	assert_int_equal(symlink(a, b), 0);
	assert_int_equal(console_log_rotate(dir), -1);
	assert_int_equal(errno, ELOOP);
	assert_string_equal(slurp("elsewhere"), "not a log");
}

static void
test_remove_unless_kept(void **state)
{
	struct stat st;

	(void)state;
	put(CONSOLE_LOG, "a");
	put(CONSOLE_LOG_PREV, "b");
	console_log_remove(dir, true);
	assert_string_equal(slurp(CONSOLE_LOG), "a");
	assert_string_equal(slurp(CONSOLE_LOG_PREV), "b");
	console_log_remove(dir, false);
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* Nothing there: nothing to do, nothing logged as an error. */
	console_log_remove(dir, false);
	assert_int_equal(mkdir(dir, 0700), 0); /* for teardown */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_open_starts_fresh, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rotate_keeps_one_generation, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rotate_refuses_odd_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_remove_unless_kept, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

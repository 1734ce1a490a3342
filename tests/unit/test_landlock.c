/*
 * Landlock really fences: after landlock_restrict() a child can read where it
 * was allowed, write only under its writable directory, and exec only what
 * was granted. Each case  runs in a forked child because restriction is
 * irreversible.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/unit_skip.h"

#include "lib/landlock.h"

static char dir_rw[64], dir_ro[64];

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	(void)state;
	snprintf(dir_rw, sizeof(dir_rw), "%s/qb-ll-rw.XXXXXX", tmp);
	snprintf(dir_ro, sizeof(dir_ro), "%s/qb-ll-ro.XXXXXX", tmp);
	if (mkdtemp(dir_rw) == NULL || mkdtemp(dir_ro) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir_rw, dir_ro);
	return system(cmd) == 0 ? 0 : -1;
}

/* Run fn in a restricted child; return its exit code. */
static int
in_child(int (*fn)(void))
{
	struct landlock_rule rules[] = {
	    {"/", LL_READ},
	    {dir_rw, LL_READ | LL_WRITE},
	    {"/usr/bin/true", LL_EXEC},
	    /* execve also opens the ELF interpreter for execution. */
	    {"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", LL_EXEC},
	    {"/nonexistent-path-is-skipped", LL_WRITE},
	};
	pid_t pid;
	int st;

	pid = fork();
	if (pid == 0) {
		if (landlock_restrict(
		        rules, sizeof(rules) / sizeof(rules[0])) != 0)
			_exit(99);
		_exit(fn());
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int
write_in(const char *dir)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), "%s/f", dir);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	if (fd < 0)
		return errno == EACCES ? 2 : 3;
	close(fd);
	return 0;
}

static int
child_write_rw(void)
{
	return write_in(dir_rw);
}

static int
child_write_ro(void)
{
	return write_in(dir_ro);
}

static int
child_read_etc(void)
{
	int fd = open("/etc/passwd", O_RDONLY);

	return fd >= 0 ? 0 : 4;
}

static int
child_exec(const char *path)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		execl(path, path, (char *)NULL);
		_exit(errno == EACCES ? 2 : 3);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 5;
	return WEXITSTATUS(st);
}

static int
child_exec_true(void)
{
	return child_exec("/usr/bin/true");
}

static int
child_exec_false(void)
{
	/* /usr/bin/false was not granted: execve must fail with EACCES. */
	return child_exec("/usr/bin/false") == 2 ? 0 : 6;
}

static void
test_write_allowed_in_rw_dir(void **state)
{
	(void)state;
	if (landlock_abi() == 0)
		skip_because("host capability landlock: the kernel has no "
		             "Landlock");
	assert_int_equal(in_child(child_write_rw), 0);
}

static void
test_write_denied_elsewhere(void **state)
{
	(void)state;
	if (landlock_abi() == 0)
		skip_because("host capability landlock: the kernel has no "
		             "Landlock");
	assert_int_equal(in_child(child_write_ro), 2);
}

static void
test_read_allowed(void **state)
{
	(void)state;
	if (landlock_abi() == 0)
		skip_because("host capability landlock: the kernel has no "
		             "Landlock");
	assert_int_equal(in_child(child_read_etc), 0);
}

static void
test_exec_only_granted(void **state)
{
	(void)state;
	if (landlock_abi() == 0)
		skip_because("host capability landlock: the kernel has no "
		             "Landlock");
	assert_int_equal(in_child(child_exec_true), 0);
	assert_int_equal(in_child(child_exec_false), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write_allowed_in_rw_dir),
	    cmocka_unit_test(test_write_denied_elsewhere),
	    cmocka_unit_test(test_read_allowed),
	    cmocka_unit_test(test_exec_only_granted),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

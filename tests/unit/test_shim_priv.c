#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/unit_skip.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <stdio.h>
#include <unistd.h>

#include "shim/shim_priv.h"

/* Drop in a child (it is irreversible) and check from inside. */
static void
test_priv_drop(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		skip_because("not root: the drop needs root");
		return;
	}
	/* As root with capabilities, the self-check must refuse. */
	assert_int_equal(shim_priv_verify(), -1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shim_priv_drop(NULL);
		if (shim_priv_verify() != 0)
			_exit(2);
		if (getuid() != 0 || geteuid() != 0)
			_exit(3); /* uid 0 is kept on purpose */
		if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
			_exit(4);
		/* CAP_CHOWN is gone: chown of our own pid file fails */
		if (chown("/proc/self/comm", 1, 1) == 0)
			_exit(5);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_priv_drop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The filters compiled at build time (seccomp/seccomp_bpf.h) are what their
 * policies say: each role's policy (seccomp/<role>.c) is run here through
 * libseccomp (caught at seccomp_load, linked with -Wl,--wrap=seccomp_load,
 * so nothing is loaded by the policy) and its BPF program must equal the
 * built one instruction for instruction, in both modes. Then the built
 * program, loaded by the role's entry point in a child, allows a call of
 * the role's list and kills the child on one outside it.
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "seccomp/seccomp.h"
#include "seccomp/seccomp_bpf.h"

int __wrap_seccomp_load(const scmp_filter_ctx ctx);

static struct sock_filter *captured;
static size_t ncaptured;

int
__wrap_seccomp_load(const scmp_filter_ctx ctx)
{
	int fd = memfd_create("bpf", 0);
	off_t len;

	assert_true(fd >= 0);
	assert_int_equal(seccomp_export_bpf(ctx, fd), 0);
	len = lseek(fd, 0, SEEK_END);
	assert_true(len > 0);
	assert_int_equal(len % (off_t)sizeof(struct sock_filter), 0);
	free(captured);
	captured = malloc((size_t)len);
	assert_non_null(captured);
	assert_int_equal(pread(fd, captured, (size_t)len, 0), len);
	ncaptured = (size_t)len / sizeof(struct sock_filter);
	close(fd);
	return 0;
}

static void
same_program(int (*policy)(enum qb_seccomp_mode), const struct qb_bpf built[2])
{
	int m;

	for (m = QB_SECCOMP_ENFORCE; m <= QB_SECCOMP_LOG; m++) {
		ncaptured = 0;
		assert_int_equal(policy((enum qb_seccomp_mode)m), 0);
		assert_int_equal(built[m].len, ncaptured);
		assert_memory_equal(built[m].insns, captured,
		    ncaptured * sizeof(struct sock_filter));
	}
	/* The modes differ only in what the default action is. */
	assert_int_equal(built[0].len, built[1].len);
	assert_memory_not_equal(built[0].insns, built[1].insns,
	    built[0].len * sizeof(struct sock_filter));
}

static void
test_shim_program(void **state)
{
	(void)state;
	same_program(seccomp_policy_shim, qb_bpf_shim);
}

static void
test_privnet_program(void **state)
{
	(void)state;
	same_program(seccomp_policy_privnet, qb_bpf_privnet);
}

/* Status of a child that loads the role's built filter, then calls nr. */
static int
child_calls(int (*apply)(enum qb_seccomp_mode), long nr)
{
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (apply(QB_SECCOMP_ENFORCE) == -1)
			_exit(99);
		(void)syscall(nr, 0, 0, 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void
test_built_filters_enforce(void **state)
{
	int st;

	(void)state;
	/* getppid is in qb_sys_exec (both roles); acct is in no list. */
	st = child_calls(seccomp_apply_privnet, SYS_getppid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = child_calls(seccomp_apply_privnet, SYS_acct);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	st = child_calls(seccomp_apply_shim, SYS_getppid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = child_calls(seccomp_apply_shim, SYS_acct);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shim_program),
	    cmocka_unit_test(test_privnet_program),
	    cmocka_unit_test(test_built_filters_enforce),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The filters compiled at build time (seccomp/seccomp_bpf.h) are what their
 * policies say: each role's policy (seccomp/<role>.c) is run here through
 * libseccomp (caught at seccomp_load, linked with -Wl,--wrap=seccomp_load,
 * so nothing is loaded by the policy) and its BPF program must equal the
 * built one instruction for instruction, in both modes (vmmon's with its
 * placeholder pids set to the pids the policy was given). Then the built
 * program, loaded by the role's entry point in a child, allows a call of
 * the role's list and kills the child on one outside it (vmmon: kill(2)
 * of the pid it names, SIGSYS for another).
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

/* The built program of variant npids, its placeholders set to pids. */
static void
same_patched(const struct qb_bpf *built, const uint32_t *pids, int npids)
{
	struct sock_filter *set;

	assert_int_equal(built->len, ncaptured);
	set = calloc(built->len, sizeof(*set));
	assert_non_null(set);
	assert_int_equal(qb_bpf_set_pids(built, pids, npids, set), 0);
	assert_memory_equal(set, captured, ncaptured * sizeof(*set));
	free(set);
}

static void
test_vmmon_programs(void **state)
{
	const uint32_t pids[2] = {1234, 5678};
	int m;

	(void)state;
	for (m = QB_SECCOMP_ENFORCE; m <= QB_SECCOMP_LOG; m++) {
		assert_int_equal(seccomp_policy_vmmon(m, 0, 0), 0);
		same_patched(&qb_bpf_vmmon[0][m], pids, 0);
		assert_int_equal(seccomp_policy_vmmon(m, 1234, 0), 0);
		same_patched(&qb_bpf_vmmon[1][m], pids, 1);
		assert_int_equal(seccomp_policy_vmmon(m, 1234, 5678), 0);
		same_patched(&qb_bpf_vmmon[2][m], pids, 2);
		assert_int_equal(seccomp_policy_vmmon_qemu(m, 0), 0);
		same_patched(&qb_bpf_vmmon_qemu[0][m], pids, 0);
		assert_int_equal(seccomp_policy_vmmon_qemu(m, 1234), 0);
		same_patched(&qb_bpf_vmmon_qemu[1][m], pids, 1);
	}
	/* A placeholder count that does not match the program is refused. */
	{
		struct sock_filter *set =
		    calloc(qb_bpf_vmmon[2][0].len, sizeof(*set));

		assert_non_null(set);
		assert_int_equal(
		    qb_bpf_set_pids(&qb_bpf_vmmon[2][0], pids, 1, set), -1);
		assert_int_equal(
		    qb_bpf_set_pids(&qb_bpf_vmmon[1][0], pids, 2, set), -1);
		free(set);
	}
}

/* vmmon's built filter: kill(2) of the pid it names, SIGSYS on another. */
static int
child_kills(pid_t allowed, pid_t target)
{
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (seccomp_apply_vmmon(QB_SECCOMP_ENFORCE, allowed, 0) == -1)
			_exit(99);
		/* Raw calls: the sanitizer's wrappers make calls of their own
		 * that vmmon's short list does not have. */
		(void)syscall(SYS_kill, target, 0);
		syscall(SYS_exit_group, 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void
test_vmmon_kill(void **state)
{
	pid_t self = getpid();
	int st;

	(void)state;
	st = child_kills(self, self);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = child_kills(self + 1, self);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
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
	    cmocka_unit_test(test_vmmon_programs),
	    cmocka_unit_test(test_vmmon_kill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

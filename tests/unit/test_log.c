/*
 * The two conventions every process uses: lib/log.c (one logfmt line per
 * call, with time, level, process name and a quoted message that
 * containerd's log keeps intact) and lib/error.c (messages for users).
 */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/error.h"
#include "lib/log.h"

static int logfd = -1;
static char out[8192];

static int
setup(void **state)
{
	(void)state;
	logfd = memfd_create("log", 0);
	assert_true(logfd >= 0);
	log_init("qemubox-test", 0);
	log_set_fd(logfd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_set_fd(STDERR_FILENO);
	close(logfd);
	return 0;
}

/* Everything logged so far; the memfd is emptied for the next check. */
static const char *
logged(void)
{
	ssize_t n = pread(logfd, out, sizeof(out) - 1, 0);

	out[n > 0 ? n : 0] = '\0';
	assert_int_equal(ftruncate(logfd, 0), 0);
	assert_int_equal(lseek(logfd, 0, SEEK_SET), 0);
	return out;
}

static void
assert_matches(const char *s, const char *pattern)
{
	regex_t re;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, s, 0, NULL, 0) != 0)
		fail_msg("'%s' does not match '%s'", s, pattern);
	regfree(&re);
}

static void
test_line_format(void **state)
{
	(void)state;
	log_warnx("%s: disk %d missing", "vm_start", 3);
	assert_matches(logged(),
	    "^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
	    "\\.[0-9]{3}Z level=warn proc=qemubox-test "
	    "msg=\"vm_start: disk 3 missing\"\n$");
	log_info("hello");
	assert_matches(
	    logged(), " level=info proc=qemubox-test msg=\"hello\"\n$");
}

static void
test_errno_appended_and_kept(void **state)
{
	(void)state;
	errno = ENOENT;
	log_warn("open %s", "/x");
	assert_int_equal(errno, ENOENT);
	assert_matches(
	    logged(), " msg=\"open /x: No such file or directory\"\n$");
}

static void
test_debug_only_when_enabled(void **state)
{
	(void)state;
	log_debug("quiet");
	assert_string_equal(logged(), "");
	log_init("qemubox-test", 1);
	log_set_fd(logfd);
	assert_int_equal(log_get_debug(), 1);
	log_debug("loud");
	assert_matches(
	    logged(), " level=debug proc=qemubox-test msg=\"loud\"\n$");
	log_init("qemubox-test", 0);
}

static void
test_max_level_warn(void **state)
{
	(void)state;
	log_set_max_level(LOG_LEVEL_WARN);
	log_info("not written");
	log_debug("nor this");
	log_warnx("kept");
	assert_matches(logged(), "^[^\n]* level=warn [^\n]*msg=\"kept\"\n$");
	log_init("qemubox-test", 0);
	log_info("back");
	assert_matches(logged(), " level=info [^\n]*msg=\"back\"\n$");
}

static void
test_quoting(void **state)
{
	(void)state;
	/* A message cannot break out of its quotes or start a new line. */
	log_warnx("a \"b\" c\\d\ne\tf");
	assert_matches(
	    logged(), " msg=\"a \\\\\"b\\\\\" c\\\\\\\\d\\\\nef\"\n$");
}

static void
test_long_message_one_line(void **state)
{
	char big[4000];
	const char *s;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warnx("%s", big);
	s = logged();
	/* Cut, but still one closed line. */
	assert_non_null(strchr(s, '\n'));
	assert_int_equal(strchr(s, '\n') - s + 1, (long)strlen(s));
	assert_int_equal(s[strlen(s) - 2], '"');
}

static void
test_procname_change(void **state)
{
	(void)state;
	log_set_procname("qemubox-vmmon");
	log_warnx("x");
	assert_matches(logged(), " proc=qemubox-vmmon msg=\"x\"\n$");
	log_set_procname("qemubox-test");
}

static void
test_error_convention(void **state)
{
	struct qb_error err;
	char big[2000];

	(void)state;
	qb_clearerr(&err);
	assert_int_equal(err.code, QB_E_OK);
	assert_string_equal(err.msg, "");
	assert_int_equal(qb_seterr(&err, QB_E_NOTFOUND, "no vm %s", "a1"), -1);
	assert_int_equal(err.code, QB_E_NOTFOUND);
	assert_string_equal(err.msg, "no vm a1");
	assert_int_equal(qb_preferr(&err, "create %s", "c1"), -1);
	assert_string_equal(err.msg, "create c1: no vm a1");
	assert_int_equal(err.code, QB_E_NOTFOUND); /* the cause's code stays */

	/* Prefixing an empty error still gives a code a client can map. */
	qb_clearerr(&err);
	qb_preferr(&err, "x");
	assert_int_equal(err.code, QB_E_UNKNOWN);

	/* Long messages are cut, never overflow, always terminated. */
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	qb_seterr(&err, QB_E_INTERNAL, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	qb_preferr(&err, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);

	/* NULL is allowed: callers that do not care about the message. */
	assert_int_equal(qb_seterr(NULL, QB_E_INTERNAL, "x"), -1);
	assert_int_equal(qb_preferr(NULL, "x"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_format),
	    cmocka_unit_test(test_errno_appended_and_kept),
	    cmocka_unit_test(test_debug_only_when_enabled),
	    cmocka_unit_test(test_max_level_warn),
	    cmocka_unit_test(test_quoting),
	    cmocka_unit_test(test_long_message_one_line),
	    cmocka_unit_test(test_procname_change),
	    cmocka_unit_test(test_error_convention),
	};

	return cmocka_run_group_tests_name("log", tests, setup, teardown);
}

/* guest/agent_vmstats.c against /proc and /sys files written by the test. */
#include <sys/stat.h>

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

#include "guest/agent_vmstats.h"

static char root[PATH_MAX - 64];

static void
put(const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	char *d;

	(void)state;
	snprintf(root, sizeof(root), "%s/vmstats.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if ((d = mkdtemp(root)) == NULL)
		return -1;
	if (chdir(root) == -1)
		return -1;
	mkdir("proc", 0755);
	mkdir("cpu", 0755);
	mkdir("cg", 0755);
	mkdir("cg/c1", 0755);
	mkdir("cg/c2", 0755);
	put("proc/stat", "cpu  100 5 50 800 10 3 2 1 0 0\n"
	                 "cpu0 50 2 25 400 5 1 1 0 0 0\n"
	                 "intr 12345\n");
	put("proc/meminfo", "MemTotal:        480000 kB\n"
	                    "MemFree:         100000 kB\n"
	                    "MemAvailable:    300000 kB\n"
	                    "HugePages_Total:       0\n");
	put("cpu/online", "0,2-3\n");
	put("cg/c1/cpu.stat", "usage_usec 10\nthrottled_usec 1500\n");
	put("cg/c2/cpu.stat", "usage_usec 10\nnr_throttled 2\n"
	                      "throttled_usec 500\n");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	if (chdir("/") == -1)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_reads_everything(void **state)
{
	struct agent_vmstats s;

	(void)state;
	assert_int_equal(agent_vmstats_read("proc", "cpu", &s), 0);
	assert_int_equal(s.throttled_usec, 0);
	agent_vmstats_add_throttled("cg/c1", &s);
	agent_vmstats_add_throttled("cg/c2", &s);
	agent_vmstats_add_throttled("cg/none", &s);
	assert_int_equal(s.cpu_busy_ticks, 100 + 5 + 50 + 3 + 2 + 1);
	assert_int_equal(s.cpu_total_ticks, 161 + 800 + 10);
	assert_int_equal(s.cpus_online, 3);
	assert_int_equal(s.mem_total_kb, 480000);
	assert_int_equal(s.mem_available_kb, 300000);
	assert_int_equal(s.throttled_usec, 2000);
}

static void
test_broken_files_fail(void **state)
{
	struct agent_vmstats s;

	(void)state;
	put("proc/meminfo", "MemTotal: 480000 kB\n"); /* no MemAvailable */
	assert_int_equal(agent_vmstats_read("proc", "cpu", &s), -1);
	put("proc/meminfo", "MemTotal: 1 kB\nMemAvailable: 1 kB\n");
	put("proc/stat", "intr 1\n"); /* no cpu line */
	assert_int_equal(agent_vmstats_read("proc", "cpu", &s), -1);
	put("proc/stat", "cpu  1 2 3 4\n"); /* an old kernel's 4 fields */
	assert_int_equal(agent_vmstats_read("proc", "cpu", &s), 0);
	assert_int_equal(s.cpu_busy_ticks, 6);
	assert_int_equal(s.cpu_total_ticks, 10);
	assert_int_equal(agent_vmstats_read("proc", "nonexistent", &s), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads_everything),
	    cmocka_unit_test(test_broken_files_fail),
	};

	return cmocka_run_group_tests_name(
	    "agent_vmstats", tests, setup, teardown);
}

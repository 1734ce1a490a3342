/*
 * The sandbox cgroup's pure half: which mounts hold which controller
 * (hybrid v1 + v2 as on this build host, pure v2, co-mounted cpu,cpuacct),
 * the path (parent/id, CRI's cgroupsPath, systemd's slice:prefix:name, bad
 * input), the limits of a VM size, and the files each layout writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/sandbox_cgroup.h"

static const char hybrid[] =
    "21 26 0:20 / /proc rw,relatime - proc proc rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup "
    "rw,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup "
    "rw,memory\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
    "rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static const char purev2[] =
    "25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - "
    "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
    /* a bind of a sub-tree (a container's view) is not the hierarchy */
    "99 22 0:22 /kubepods /mnt/x rw - cgroup2 cgroup2 rw\n";

static const char comounted[] =
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";

static void
test_layout_hybrid(void **state)
{
	struct cg_layout l;
	struct qb_error err = {0};

	(void)state;
	/* v2 mounted, but every controller is bound to v1. */
	assert_int_equal(cg_layout_parse(hybrid, "hugetlb\n", &l, &err), 0);
	assert_string_equal(l.v2, "/sys/fs/cgroup/unified");
	assert_false(l.v2_memory || l.v2_cpu || l.v2_pids);
	assert_string_equal(l.v1_memory, "/sys/fs/cgroup/memory");
	assert_string_equal(l.v1_cpu, "/sys/fs/cgroup/cpu");
	assert_string_equal(l.v1_pids, "/sys/fs/cgroup/pids");
}

static void
test_layout_v2(void **state)
{
	struct cg_layout l;
	struct qb_error err = {0};

	(void)state;
	assert_int_equal(
	    cg_layout_parse(purev2,
	        "cpuset cpu io memory hugetlb pids rdma misc\n", &l, &err),
	    0);
	assert_string_equal(l.v2, "/sys/fs/cgroup");
	assert_true(l.v2_memory && l.v2_cpu && l.v2_pids);
	assert_string_equal(l.v1_memory, "");
	/* v2 without the controllers and no v1: nothing can be limited. */
	assert_int_equal(cg_layout_parse(purev2, "pids\n", &l, &err), -1);
	assert_non_null(strstr(err.msg, "no memory and cpu controller"));
}

static void
test_layout_comounted(void **state)
{
	struct cg_layout l;
	struct qb_error err = {0};

	(void)state;
	assert_int_equal(cg_layout_parse(comounted, NULL, &l, &err), 0);
	assert_string_equal(l.v2, "");
	assert_string_equal(l.v1_cpu, "/sys/fs/cgroup/cpu,cpuacct");
	assert_string_equal(l.v1_pids, "");
}

static void
test_path(void **state)
{
	struct qb_error err = {0};
	char p[4096];

	(void)state;
	assert_int_equal(
	    cg_path_resolve(NULL, "/qemubox", "c1", p, sizeof(p), &err), 0);
	assert_string_equal(p, "/qemubox/c1");
	assert_int_equal(
	    cg_path_resolve("", "/a/b", "c1", p, sizeof(p), &err), 0);
	assert_string_equal(p, "/a/b/c1");
	/* CRI with kubelet's cgroupfs driver. */
	assert_int_equal(cg_path_resolve("/kubepods/besteffort/pod1234/abc",
	                     "/qemubox", "abc", p, sizeof(p), &err),
	    0);
	assert_string_equal(p, "/kubepods/besteffort/pod1234/abc");
	/* ... and with the systemd driver. */
	assert_int_equal(
	    cg_path_resolve(
	        "kubepods-besteffort-pod12_34.slice:cri-containerd:abc",
	        "/qemubox", "abc", p, sizeof(p), &err),
	    0);
	assert_string_equal(p, "/kubepods.slice/kubepods-besteffort.slice/"
	                       "kubepods-besteffort-pod12_34.slice/"
	                       "cri-containerd-abc.scope");
	assert_int_equal(cg_path_resolve("system.slice::abc", "/q", "abc", p,
	                     sizeof(p), &err),
	    0);
	assert_string_equal(p, "/system.slice/abc");
	assert_int_equal(
	    cg_path_resolve("relative/x", "/q", "abc", p, sizeof(p), &err), 0);
	assert_string_equal(p, "/relative/x");
	/* Refused: escapes, odd characters, malformed systemd names. */
	assert_int_equal(cg_path_resolve("/kubepods/../../etc", "/q", "a", p,
	                     sizeof(p), &err),
	    -1);
	assert_non_null(strstr(err.msg, "cgroupsPath"));
	assert_int_equal(
	    cg_path_resolve("/a//b", "/q", "a", p, sizeof(p), &err), -1);
	assert_int_equal(
	    cg_path_resolve("/a/b/", "/q", "a", p, sizeof(p), &err), -1);
	assert_int_equal(
	    cg_path_resolve("/a b", "/q", "a", p, sizeof(p), &err), -1);
	assert_int_equal(
	    cg_path_resolve("/a/./b", "/q", "a", p, sizeof(p), &err), -1);
	assert_int_equal(
	    cg_path_resolve("x.slice:a", "/q", "a", p, sizeof(p), &err), -1);
	assert_int_equal(
	    cg_path_resolve("x:a:b", "/q", "a", p, sizeof(p), &err), -1);
	assert_int_equal(
	    cg_path_resolve("a--b.slice:p:n", "/q", "a", p, sizeof(p), &err),
	    -1);
	assert_int_equal(
	    cg_path_resolve(NULL, "/q", "..", p, sizeof(p), &err), -1);
	assert_int_equal(cg_path_resolve(NULL, "/q", "c1", p, 5, &err), -1);
}

static void
test_limits(void **state)
{
	struct cg_limits lim;

	(void)state;
	cg_limits_for_vm(1, 512, &lim);
	assert_true(
	    lim.memory_bytes == (512ULL + CG_MEM_OVERHEAD_MB) * 1024 * 1024);
	assert_true(lim.cpu_quota_us ==
	            (100ULL + CG_CPU_OVERHEAD_PCT) * CG_CPU_PERIOD_US / 100);
	cg_limits_for_vm(4, 2048, &lim);
	assert_true(
	    lim.memory_bytes == (2048ULL + CG_MEM_OVERHEAD_MB) * 1024 * 1024);
	assert_true(lim.cpu_quota_us ==
	            (400ULL + CG_CPU_OVERHEAD_PCT) * CG_CPU_PERIOD_US / 100);
	assert_true(lim.pids_max == CG_PIDS_MAX);
}

static const struct cg_write *
find_write(const struct cg_plan *p, const char *file)
{
	int i;

	for (i = 0; i < p->nwrites; i++)
		if (strcmp(p->writes[i].file, file) == 0)
			return &p->writes[i];
	return NULL;
}

static void
test_plan_hybrid(void **state)
{
	struct cg_layout l;
	struct cg_limits lim = {
	    .memory_bytes = 805306368, .cpu_quota_us = 150000, .pids_max = 512};
	struct cg_plan p;
	struct qb_error err = {0};
	const struct cg_write *w;

	(void)state;
	assert_int_equal(cg_layout_parse(hybrid, "", &l, &err), 0);
	assert_int_equal(cg_plan_make(&l, "/qemubox/c1", &lim, &p, &err), 0);
	assert_int_equal(p.ndirs, 4);
	assert_string_equal(p.dirs[0], "/sys/fs/cgroup/unified/qemubox/c1");
	assert_int_equal(p.v2_dir, 0);
	assert_string_equal(p.v2_enable, "");
	assert_int_equal(p.mount_len[0], strlen("/sys/fs/cgroup/unified"));
	assert_non_null(w = find_write(&p, "memory.limit_in_bytes"));
	assert_string_equal(p.dirs[w->dir], "/sys/fs/cgroup/memory/qemubox/c1");
	assert_string_equal(w->value, "805306368");
	assert_non_null(w = find_write(&p, "cpu.cfs_quota_us"));
	assert_string_equal(p.dirs[w->dir], "/sys/fs/cgroup/cpu/qemubox/c1");
	assert_string_equal(w->value, "150000");
	assert_non_null(w = find_write(&p, "cpu.cfs_period_us"));
	assert_string_equal(w->value, "100000");
	/* the period is written before the quota */
	assert_true(w < find_write(&p, "cpu.cfs_quota_us"));
	assert_non_null(w = find_write(&p, "pids.max"));
	assert_string_equal(p.dirs[w->dir], "/sys/fs/cgroup/pids/qemubox/c1");
	assert_string_equal(w->value, "512");
	assert_null(find_write(&p, "memory.max"));
}

static void
test_plan_v2(void **state)
{
	struct cg_layout l;
	struct cg_limits lim;
	struct cg_plan p;
	struct qb_error err = {0};
	const struct cg_write *w;

	(void)state;
	cg_limits_for_vm(2, 1024, &lim);
	assert_int_equal(
	    cg_layout_parse(purev2, "cpu memory pids", &l, &err), 0);
	assert_int_equal(
	    cg_plan_make(&l, "/kubepods/pod1/c1", &lim, &p, &err), 0);
	assert_int_equal(p.ndirs, 1);
	assert_string_equal(p.dirs[0], "/sys/fs/cgroup/kubepods/pod1/c1");
	assert_string_equal(p.v2_enable, "+memory +cpu +pids");
	assert_non_null(w = find_write(&p, "memory.max"));
	assert_true(strtoull(w->value, NULL, 10) == lim.memory_bytes);
	assert_non_null(w = find_write(&p, "cpu.max"));
	assert_string_equal(w->value, "250000 100000");
	assert_non_null(w = find_write(&p, "pids.max"));
	assert_null(find_write(&p, "memory.limit_in_bytes"));
	assert_int_equal(cg_plan_make(&l, "/a/../b", &lim, &p, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout_hybrid),
	    cmocka_unit_test(test_layout_v2),
	    cmocka_unit_test(test_layout_comounted),
	    cmocka_unit_test(test_path),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_plan_hybrid),
	    cmocka_unit_test(test_plan_v2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

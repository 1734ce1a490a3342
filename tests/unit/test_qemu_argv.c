/*
 * Golden tests for the QEMU argv builder: each configuration's argv, one
 * element per line, must equal tests/golden/argv/<name>.txt (run from the
 * repository root, as tests/run does; QB_UPDATE_GOLDEN=1 rewrites them).
 * Every argv must name no host path but argv[0] and the -L directory: only
 * fd references.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/golden.h"
#include "vmmon/qemu_argv.h"

static struct qemu_vm_config
base(void)
{
	struct qemu_vm_config c = {
	    .qemu_path = "/usr/bin/qemu-system-x86_64",
	    .data_dir = "/usr/share/qemu",
	    .name = "ctr-1",
	    .machine = QB_VMM_MACHINE_MICROVM,
	    .accel = QB_VMM_ACCEL_TCG,
	    .transport = QB_VMM_TRANSPORT_VIRTIO_SERIAL,
	    .boot_cpus = 1,
	    .max_cpus = 1,
	    .memory_mb = 512,
	    .qmp_fd = 3,
	    .console_fd = 4,
	    .channel_fd = 5,
	    .kernel_fd = 6,
	    .initrd_fd = 7,
	    .vhost_vsock_fd = -1,
	    .tap_fd = -1,
	    .fs_fd = -1,
	    .tsc_khz = 2499998,
	};
	return c;
}

static void
add_disks(struct qemu_vm_config *c, unsigned n)
{
	unsigned i;

	c->ndisks = n;
	for (i = 0; i < n; i++) {
		c->disks[i].fd = 10 + (int)i;
		c->disks[i].readonly = i + 1 < n; /* last one: scratch, rw */
		snprintf(c->disks[i].serial, sizeof(c->disks[i].serial),
		    "qb-layer-%u", i);
	}
}

static void
add_tap(struct qemu_vm_config *c)
{
	static const uint8_t mac[6] = {0x02, 0x42, 0x0a, 0x58, 0x00, 0x02};

	c->tap_fd = 8;
	memcpy(c->mac, mac, sizeof(mac));
}

static void
no_host_paths(const struct qemu_argv *a)
{
	static const char *const fdrefs[] = {"/proc/self/fd/", "/dev/fdset/"};
	size_t i, k;
	const char *p;

	for (i = 1; i < a->argc; i++) {
		if (strcmp(a->argv[i - 1], "-L") == 0)
			continue; /* firmware dir, read-only in the jail */
		for (p = strchr(a->argv[i], '/'); p != NULL;
		     p = strchr(p + 1, '/')) {
			bool ok = false;

			for (k = 0; k < 2; k++)
				if (strncmp(p, fdrefs[k], strlen(fdrefs[k])) ==
				    0) {
					ok = true;
					p += strlen(fdrefs[k]) - 1;
				}
			if (!ok)
				fail_msg("argv[%zu] names a path: %s", i,
				    a->argv[i]);
		}
	}
}

static void
check_golden(const char *name, const struct qemu_vm_config *c)
{
	struct qemu_argv a;
	struct qb_error err = {0};
	char path[256], *got = NULL;
	size_t glen = 0, i;
	FILE *f;

	if (qemu_argv_build(c, &a, &err) == -1)
		fail_msg("%s: build: %s", name, err.msg);
	no_host_paths(&a);
	f = open_memstream(&got, &glen);
	assert_non_null(f);
	for (i = 0; i < a.argc; i++)
		fprintf(f, "%s\n", a.argv[i]);
	fclose(f);
	qemu_argv_free(&a);

	snprintf(path, sizeof(path), "tests/golden/argv/%s.txt", name);
	golden_check(path, got);
	free(got);
}

static void
test_microvm_tcg_minimal(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	check_golden("microvm-tcg-minimal", &c);
}

static void
test_microvm_tcg_disks_tap(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	add_disks(&c, 3);
	add_tap(&c);
	c.boot_cpus = c.max_cpus = 2;
	c.cmdline_extra = "quiet qemubox.id=ctr-1";
	check_golden("microvm-tcg-3disks-tap", &c);
}

/* A CRI pod's VM: an empty SCSI bus for its later containers' disks. */
static void
test_microvm_pod_scsi(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	add_disks(&c, 1);
	add_tap(&c);
	c.hotplug_disks = true;
	check_golden("microvm-tcg-pod-scsi", &c);
}

static void
test_microvm_kvm(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	c.accel = QB_VMM_ACCEL_KVM;
	c.tsc_khz = 0; /* KVM calibrates itself */
	add_disks(&c, 1);
	check_golden("microvm-kvm-1disk", &c);
}

static void
test_q35_tcg_hotplug(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	c.machine = QB_VMM_MACHINE_Q35;
	c.max_cpus = 4;
	c.memory_slots = 4;
	c.max_memory_mb = 2048;
	add_disks(&c, 2);
	add_tap(&c);
	check_golden("q35-tcg-hotplug-2disks-tap", &c);
}

static void
test_q35_kvm_vsock(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	c.machine = QB_VMM_MACHINE_Q35;
	c.accel = QB_VMM_ACCEL_KVM;
	c.transport = QB_VMM_TRANSPORT_VSOCK;
	c.channel_fd = -1;
	c.vhost_vsock_fd = 9;
	c.guest_cid = 42;
	c.max_cpus = 2;
	check_golden("q35-kvm-vsock", &c);
}

static void
test_microvm_vsock(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	c.transport = QB_VMM_TRANSPORT_VSOCK;
	c.channel_fd = -1;
	c.vhost_vsock_fd = 9;
	c.guest_cid = 3;
	check_golden("microvm-tcg-vsock", &c);
}

/* Volumes: shared memfd RAM + vhost-user-fs on either machine. */
static void
test_microvm_fs(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	add_disks(&c, 1);
	c.fs_fd = 9;
	check_golden("microvm-tcg-fs", &c);
}

static void
test_q35_fs_hotplug(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	c.machine = QB_VMM_MACHINE_Q35;
	c.memory_slots = 4;
	c.max_memory_mb = 2048;
	c.fs_fd = 9;
	check_golden("q35-tcg-fs-hotplug", &c);
}

static void
expect_invalid(const struct qemu_vm_config *c, const char *why)
{
	struct qemu_argv a;
	struct qb_error err = {0};

	if (qemu_argv_build(c, &a, &err) != -1)
		fail_msg("accepted: %s", why);
	assert_int_equal(err.code, QB_E_INVALID);
	assert_null(a.argv);
}

static void
test_microvm_tcg_tb_size(void **state)
{
	struct qemu_vm_config c = base();
	struct qemu_argv a;
	struct qb_error err = {0};
	size_t i;

	(void)state;
	c.tcg_tb_mb = 32;
	check_golden("microvm-tcg-tb-size", &c);
	/* KVM has no translation buffer: the setting is not passed. */
	c.accel = QB_VMM_ACCEL_KVM;
	assert_int_equal(qemu_argv_build(&c, &a, &err), 0);
	for (i = 0; i < a.argc; i++)
		assert_null(strstr(a.argv[i], "tb-size"));
	qemu_argv_free(&a);
	/*
	 * Nor with vCPU hotplug under TCG: QEMU 7.2 aborts when a hot-added
	 * vCPU finds every region of a small cache taken.
	 */
	c.accel = QB_VMM_ACCEL_TCG;
	c.machine = QB_VMM_MACHINE_Q35;
	c.max_cpus = 2;
	assert_int_equal(qemu_argv_build(&c, &a, &err), 0);
	for (i = 0; i < a.argc; i++)
		assert_null(strstr(a.argv[i], "tb-size"));
	qemu_argv_free(&a);
}

static void
test_rejects(void **state)
{
	struct qemu_vm_config c;

	(void)state;
	c = base();
	c.max_cpus = 2;
	expect_invalid(&c, "cpu hotplug on microvm");
	c = base();
	c.memory_slots = 2;
	c.max_memory_mb = 1024;
	expect_invalid(&c, "memory hotplug on microvm");
	c = base();
	c.tsc_khz = 0;
	expect_invalid(&c, "microvm tcg without tsc");
	c = base();
	add_disks(&c, 1);
	strcpy(c.disks[0].serial, "a,b=c");
	expect_invalid(&c, "serial with a comma (option injection)");
	c = base();
	c.name = "x,file=/etc/shadow";
	expect_invalid(&c, "name with option injection");
	c = base();
	c.cmdline_extra = "a\nb";
	expect_invalid(&c, "cmdline with a newline");
	c = base();
	c.kernel_fd = 2;
	expect_invalid(&c, "fd 2");
	c = base();
	c.data_dir = "usr/share/qemu";
	expect_invalid(&c, "relative -L");
	c = base();
	c.data_dir = NULL;
	expect_invalid(&c, "no -L");
	c = base();
	c.data_dir = "/usr/share/qemu\n-S";
	expect_invalid(&c, "-L with a newline");
	c = base();
	c.ndisks = QB_VMM_MAX_DISKS + 1;
	expect_invalid(&c, "too many disks");
	c = base();
	c.transport = QB_VMM_TRANSPORT_VSOCK;
	expect_invalid(&c, "vsock without vhost fd");
	c = base();
	c.machine = QB_VMM_MACHINE_AUTO;
	expect_invalid(&c, "unresolved machine");
	c = base();
	c.qemu_path = "qemu-system-x86_64";
	expect_invalid(&c, "relative qemu path");
	c = base();
	c.boot_cpus = 0;
	expect_invalid(&c, "zero vcpus");
	c = base();
	c.tcg_tb_mb = QEMU_TCG_TB_MAX_MB + 1;
	expect_invalid(&c, "tb-size above the maximum");
	c = base();
	c.page_reporting_order = QEMU_PAGE_REPORTING_ORDER_MAX + 1;
	expect_invalid(&c, "page reporting order above the maximum");
}

/* A lower free page reporting order goes on the kernel command line. */
static void
test_microvm_tcg_page_reporting(void **state)
{
	struct qemu_vm_config c = base();

	(void)state;
	c.page_reporting_order = 5;
	check_golden("microvm-tcg-page-reporting", &c);
}

/* The template holder's VM: a NIC, the SCSI bus, RAM in a memfd. */
static struct qemu_vm_config
cloning(enum qb_vmm_ram_mode mode)
{
	struct qemu_vm_config c = base();

	add_tap(&c);
	c.hotplug_disks = true;
	c.tcg_tb_mb = 32;
	c.ram_mode = mode;
	c.ram_fd = 9;
	return c;
}

static void
test_template_clone(void **state)
{
	struct qemu_vm_config t = cloning(QB_VMM_RAM_TEMPLATE);
	struct qemu_vm_config c = cloning(QB_VMM_RAM_CLONE);
	struct qemu_argv at, ac;
	struct qb_error err = {0};
	size_t i, ndiff = 0;

	(void)state;
	check_golden("microvm-tcg-template", &t);
	check_golden("microvm-tcg-clone", &c);
	/*
	 * Migration needs the same machine on both sides: the argv differ
	 * only in share=on/off, then the clone's trailing -incoming defer.
	 */
	assert_int_equal(qemu_argv_build(&t, &at, &err), 0);
	assert_int_equal(qemu_argv_build(&c, &ac, &err), 0);
	assert_int_equal(ac.argc, at.argc + 2);
	for (i = 0; i < at.argc; i++) {
		if (strcmp(at.argv[i], ac.argv[i]) == 0)
			continue;
		ndiff++;
		assert_non_null(strstr(at.argv[i], ",share=on"));
		assert_non_null(strstr(ac.argv[i], ",share=off"));
	}
	assert_int_equal(ndiff, 1);
	assert_string_equal(ac.argv[at.argc], "-incoming");
	assert_string_equal(ac.argv[at.argc + 1], "defer");
	qemu_argv_free(&at);
	qemu_argv_free(&ac);
}

/*
 * A clone's disks are not devices on its command line (its device set is
 * the template's): only their fds, in the LUNs' fd sets, for vm_restore.c
 * to attach over QMP. Everything else is the clone's argv without disks.
 */
static void
test_clone_disks(void **state)
{
	struct qemu_vm_config c0 = cloning(QB_VMM_RAM_CLONE);
	struct qemu_vm_config c = cloning(QB_VMM_RAM_CLONE);
	struct qemu_argv a0, a;
	struct qb_error err = {0};
	size_t i, j;

	(void)state;
	add_disks(&c, 2);
	check_golden("microvm-tcg-clone-disks", &c);
	assert_int_equal(qemu_argv_build(&c0, &a0, &err), 0);
	assert_int_equal(qemu_argv_build(&c, &a, &err), 0);
	assert_int_equal(a.argc, a0.argc + 4);
	for (i = j = 0; i < a.argc; i++) {
		assert_null(strstr(a.argv[i], "virtio-blk"));
		assert_null(strstr(a.argv[i], "-drive"));
		if (strcmp(a.argv[i], "-add-fd") == 0) {
			assert_true(i + 1 < a.argc);
			assert_string_equal(a.argv[i + 1],
			    j == 0 ? "fd=10,set=100" : "fd=11,set=101");
			i++;
			j++;
			continue;
		}
		assert_string_equal(a.argv[i], a0.argv[i - 2 * j]);
	}
	assert_int_equal(j, 2);
	qemu_argv_free(&a0);
	qemu_argv_free(&a);
	c.hotplug_disks = false;
	expect_invalid(&c, "clone disks without the SCSI bus");
}

static void
test_template_rejects(void **state)
{
	struct qemu_vm_config c;

	(void)state;
	c = cloning(QB_VMM_RAM_TEMPLATE);
	c.ram_fd = 2;
	expect_invalid(&c, "template ram fd 2");
	c = cloning(QB_VMM_RAM_CLONE);
	c.fs_fd = 12;
	expect_invalid(&c, "clone with vhost-user-fs");
	c = cloning(QB_VMM_RAM_TEMPLATE);
	c.machine = QB_VMM_MACHINE_Q35;
	c.max_cpus = 2;
	expect_invalid(&c, "template with vCPU hotplug");
	c = cloning(QB_VMM_RAM_TEMPLATE);
	c.machine = QB_VMM_MACHINE_Q35;
	c.memory_slots = 2;
	c.max_memory_mb = 1024;
	expect_invalid(&c, "template with memory hotplug");
	c = cloning(QB_VMM_RAM_TEMPLATE);
	c.ram_mode = (enum qb_vmm_ram_mode)3;
	expect_invalid(&c, "unknown ram_mode");
}

static void
test_machine_resolve(void **state)
{
	(void)state;
	assert_int_equal(qemu_machine_resolve(QB_VMM_MACHINE_AUTO, 1, 1, 0),
	    QB_VMM_MACHINE_MICROVM);
	assert_int_equal(qemu_machine_resolve(QB_VMM_MACHINE_AUTO, 1, 2, 0),
	    QB_VMM_MACHINE_Q35);
	assert_int_equal(qemu_machine_resolve(QB_VMM_MACHINE_AUTO, 1, 1, 2),
	    QB_VMM_MACHINE_Q35);
	assert_int_equal(qemu_machine_resolve(QB_VMM_MACHINE_Q35, 1, 1, 0),
	    QB_VMM_MACHINE_Q35);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_microvm_tcg_minimal),
	    cmocka_unit_test(test_microvm_tcg_disks_tap),
	    cmocka_unit_test(test_microvm_pod_scsi),
	    cmocka_unit_test(test_microvm_kvm),
	    cmocka_unit_test(test_q35_tcg_hotplug),
	    cmocka_unit_test(test_q35_kvm_vsock),
	    cmocka_unit_test(test_microvm_vsock),
	    cmocka_unit_test(test_microvm_fs),
	    cmocka_unit_test(test_q35_fs_hotplug),
	    cmocka_unit_test(test_microvm_tcg_tb_size),
	    cmocka_unit_test(test_microvm_tcg_page_reporting),
	    cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_template_clone),
	    cmocka_unit_test(test_clone_disks),
	    cmocka_unit_test(test_template_rejects),
	    cmocka_unit_test(test_machine_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

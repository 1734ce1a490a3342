/*
 * qemubox-tmpl hands a template out only when every field of the GET_REQ
 * equals what it booted (tmpl/tmpl_match.c): each field changed alone is a
 * mismatch that names the field; the machine compares resolved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tmpl/tmpl.h"

static struct qb_tmpl_get_req
have(void)
{
	struct qb_tmpl_get_req r;

	memset(&r, 0, sizeof(r));
	r.memory_mb = 512;
	r.boot_cpus = 1;
	r.machine = QB_VMM_MACHINE_MICROVM;
	r.transport = QB_VMM_TRANSPORT_VIRTIO_SERIAL;
	r.kernel.dev = 2049;
	r.kernel.ino = 77;
	r.kernel.size = 9000000;
	r.kernel.mtime_sec = 1796600000;
	r.kernel.mtime_nsec = 5;
	r.initrd = r.kernel;
	r.initrd.ino = 78;
	return r;
}

static void
expect_mismatch(const struct qb_tmpl_get_req *w, const char *field)
{
	struct qb_tmpl_get_req h = have();
	char why[256] = "";

	assert_int_equal(tmpl_match(w, &h, why, sizeof(why)), -1);
	if (strstr(why, field) == NULL)
		fail_msg("\"%s\" not in \"%s\"", field, why);
}

static void
test_match(void **state)
{
	struct qb_tmpl_get_req w = have(), h = have();
	char why[256];

	(void)state;
	assert_int_equal(tmpl_match(&w, &h, why, sizeof(why)), 0);
	/* AUTO without hotplug is microvm: the shim asks AUTO. */
	w.machine = QB_VMM_MACHINE_AUTO;
	assert_int_equal(tmpl_match(&w, &h, why, sizeof(why)), 0);
}

static void
test_mismatch(void **state)
{
	struct qb_tmpl_get_req w;

	(void)state;
	w = have();
	w.memory_mb = 256;
	expect_mismatch(&w, "memory_mb");
	w = have();
	w.boot_cpus = 2;
	expect_mismatch(&w, "boot_cpus");
	w = have();
	w.machine = QB_VMM_MACHINE_Q35;
	expect_mismatch(&w, "machine");
	w = have();
	w.transport = QB_VMM_TRANSPORT_VSOCK;
	expect_mismatch(&w, "transport");
	w = have();
	w.kernel.ino = 99;
	expect_mismatch(&w, "kernel");
	w = have();
	w.kernel.mtime_nsec = 6;
	expect_mismatch(&w, "kernel");
	w = have();
	w.initrd.size = 1;
	expect_mismatch(&w, "initrd");
	w = have();
	strcpy(w.cmdline, "qemubox.debug=1");
	expect_mismatch(&w, "cmdline");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_mismatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

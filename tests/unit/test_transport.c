/*
 * runtime.transport resolved for a host: auto picks vsock exactly when the
 * probe finds /dev/vhost-vsock; an explicit choice ignores the probe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim/transport.h"

static int probes;

static bool
has_vsock(void)
{
	probes++;
	return true;
}

static bool
no_vsock(void)
{
	probes++;
	return false;
}

static void
test_auto(void **state)
{
	const char *why = NULL;

	(void)state;
	probes = 0;
	assert_int_equal(transport_pick(QB_TRANSPORT_AUTO, has_vsock, &why),
	    QB_VMM_TRANSPORT_VSOCK);
	assert_string_equal(why, "auto: /dev/vhost-vsock exists");
	assert_int_equal(transport_pick(QB_TRANSPORT_AUTO, no_vsock, &why),
	    QB_VMM_TRANSPORT_VIRTIO_SERIAL);
	assert_string_equal(why, "auto: no /dev/vhost-vsock");
	assert_int_equal(probes, 2);
}

static void
test_explicit(void **state)
{
	const char *why = NULL;

	(void)state;
	probes = 0;
	assert_int_equal(transport_pick(QB_TRANSPORT_VSOCK, no_vsock, &why),
	    QB_VMM_TRANSPORT_VSOCK);
	assert_string_equal(why, "runtime.transport is vsock");
	assert_int_equal(
	    transport_pick(QB_TRANSPORT_VIRTIO_SERIAL, has_vsock, &why),
	    QB_VMM_TRANSPORT_VIRTIO_SERIAL);
	assert_string_equal(why, "runtime.transport is virtio-serial");
	assert_int_equal(probes, 0);
}

/* The real probe agrees with the file system of this host. */
static void
test_real_probe(void **state)
{
	(void)state;
	assert_int_equal(transport_vhost_vsock_present(),
	    access(TRANSPORT_VHOST_VSOCK, F_OK) == 0);
}

/* Where the host has no vhost-vsock, asking for it is a clear error. */
static void
test_open_without_device(void **state)
{
	struct qb_error err = {0};
	uint32_t cid = 0;
	int fd;

	(void)state;
	if (access(TRANSPORT_VHOST_VSOCK, F_OK) == 0) {
		fd = transport_vsock_open(&cid, &err);
		if (fd != -1) {
			assert_true(cid >= 3);
			close(fd);
		}
		return;
	}
	assert_int_equal(transport_vsock_open(&cid, &err), -1);
	assert_int_equal(err.code, QB_E_PRECONDITION);
	assert_non_null(strstr(err.msg, "runtime.transport vsock"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auto),
	    cmocka_unit_test(test_explicit),
	    cmocka_unit_test(test_real_probe),
	    cmocka_unit_test(test_open_without_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

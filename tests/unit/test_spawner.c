/*
 * spawner_is_snapshot_path: which directories the spawner builds with
 * CAP_DAC_READ_SEARCH + CAP_SYS_ADMIN (spawner/spawn_validate.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "spawner/spawner.h"

static void
test_snapshot_paths(void **state)
{
	(void)state;
	assert_true(spawner_is_snapshot_path("/var/lib/containerd/"
	                                     "io.containerd.snapshotter.v1."
	                                     "overlayfs/snapshots/12/fs"));
	assert_true(spawner_is_snapshot_path(
	    "/tmp/x/root/io.containerd.snapshotter.v1.native/snapshots/1/fs"));
	assert_true(spawner_is_snapshot_path(
	    "/io.containerd.snapshotter.v1.overlayfs/snapshots/7/fs"));
}

static void
test_not_snapshot_paths(void **state)
{
	static const char *const bad[] = {
	    "/etc",
	    "/",
	    "/fs",
	    "/home/alice",
	    "relative/io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs",
	    "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/"
	    "snapshots/1/fs/home",
	    "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/"
	    "snapshots/1/work",
	    "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/"
	    "snapshots/x1/fs",
	    "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/"
	    "snapshots//fs",
	    "/var/lib/containerd/io.containerd.snapshotter.v1./snapshots/1/fs",
	    "/var/lib/containerd/io.containerd.snapshotter.v1.A/snapshots/1/fs",
	    "/var/lib/containerd/io.containerd.content.v1.content/snapshots/1/"
	    "fs",
	    "/var/lib/containerd/xio.containerd.snapshotter.v1.overlayfs/"
	    "snapshots/1/fs",
	    "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/"
	    "snapshot/1/fs",
	    "/snapshots/1/fs",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (spawner_is_snapshot_path(bad[i]))
			fail_msg("accepted %s", bad[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_snapshot_paths),
	    cmocka_unit_test(test_not_snapshot_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

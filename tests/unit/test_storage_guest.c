/*
 * Storage plan -> guest CreateRequest: what vminitd receives, through a real
 * protobuf pack/unpack.
 */
/* Test paths are short (mkdtemp under TMPDIR); truncation cannot happen. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsg/qemubox_imsg.h"
#include <unistd.h>

#include <cmocka.h>

#include "shim/storage.h"
#include "shim/storage_guest.h"

static char root[PATH_MAX];

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char p[PATH_MAX + 16];
	int fd;

	(void)state;
	snprintf(root, sizeof(root), "%s/test_storage_guest.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(root));
	snprintf(p, sizeof(p), "%s/l0", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/l1", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/ro", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/hosts", root);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, "127.0.0.1 x\n", 12), 12);
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct json_object *
spec_for(const char *extra_mount)
{
	char buf[4 * PATH_MAX];

	snprintf(buf, sizeof(buf),
	    "{\"root\":{\"path\":\"rootfs\"},\"linux\":{\"resources\":{"
	    "\"memory\":{\"limit\":100000000}}},\"mounts\":["
	    "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":"
	    "\"%s/hosts\",\"options\":[\"rbind\",\"ro\"]}%s]}",
	    root, extra_mount != NULL ? extra_mount : "");
	return json_tokener_parse(buf);
}

static void
test_fill_roundtrip(void **state)
{
	char lower[3 * PATH_MAX];
	struct storage_plan plan;
	struct storage_guest_create keep;
	struct qb_error err = {0};
	struct json_object *spec = spec_for(NULL);
	Qemubox__Guest__V1__CreateRequest req, *back;
	uint8_t *buf;
	size_t len;

	(void)state;
	snprintf(lower, sizeof(lower), "lowerdir=%s/l1:%s/l0", root, root);
	const char *opts[] = {lower};
	struct storage_mount m = {"overlay", "overlay", NULL, opts, 1};

	assert_int_equal(storage_plan_build(&m, 1, spec, NULL, &plan, &err), 0);
	qemubox__guest__v1__create_request__init(&req);
	req.id = "c1";
	assert_int_equal(
	    storage_guest_create_fill(&plan, &req, &keep, &err), 0);
	len = qemubox__guest__v1__create_request__get_packed_size(&req);
	buf = malloc(len);
	qemubox__guest__v1__create_request__pack(&req, buf);
	back = qemubox__guest__v1__create_request__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->n_layers, 2);
	assert_string_equal(back->layers[0]->serial, "qb-layer-0");
	assert_string_equal(back->layers[1]->serial, "qb-layer-1");
	assert_string_equal(back->layers[0]->fstype, "erofs");
	/* /etc/hosts is a volume: the guest mounts the virtio-fs tag. */
	assert_int_equal(back->n_files, 0);
	assert_string_equal(back->volumes_tag, QB_VMM_FS_TAG);
	assert_string_equal(back->scratch_serial, "");
	/* 100000000 bytes -> 96 MiB rounded up. */
	assert_int_equal(back->tmpfs_size_mb, 96);
	qemubox__guest__v1__create_request__free_unpacked(back, NULL);
	free(buf);
	storage_guest_create_free(&keep);

	/* Scratch disk instead of tmpfs: the last disk, not a layer. */
	char tmpl[PATH_MAX + 16];
	int tfd;

	snprintf(tmpl, sizeof(tmpl), "%s/t.ext4", root);
	tfd = open(tmpl, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(tfd >= 0);
	assert_int_equal(ftruncate(tfd, 1 << 20), 0);
	close(tfd);
	struct storage_opts o = {.scratch_bytes = 1ULL << 30,
	    .scratch_template = tmpl,
	    .scratch_dir = root};
	char up[PATH_MAX + 16], wk[PATH_MAX + 16];

	snprintf(up, sizeof(up), "%s/u", root);
	snprintf(wk, sizeof(wk), "%s/w", root);
	assert_int_equal(mkdir(up, 0755), 0);
	assert_int_equal(mkdir(wk, 0755), 0);
	snprintf(up, sizeof(up), "upperdir=%s/u", root);
	snprintf(wk, sizeof(wk), "workdir=%s/w", root);
	const char *rw_opts[] = {lower, up, wk};
	struct storage_mount rw = {"overlay", "overlay", NULL, rw_opts, 3};

	storage_plan_free(&plan);
	assert_int_equal(storage_plan_build(&rw, 1, spec, &o, &plan, &err), 0);
	assert_int_equal(plan.n_disks, 3);
	assert_int_equal(plan.disks[2].role, STORAGE_DISK_SCRATCH);
	assert_string_equal(plan.disks[2].serial, STORAGE_SCRATCH_SERIAL);
	assert_int_equal(
	    storage_guest_create_fill(&plan, &req, &keep, &err), 0);
	assert_int_equal(req.n_layers, 2);
	assert_string_equal(req.scratch_serial, STORAGE_SCRATCH_SERIAL);
	assert_int_equal(req.tmpfs_size_mb, 0);
	unlink(tmpl);
	snprintf(up, sizeof(up), "%s/u", root);
	rmdir(up);
	snprintf(wk, sizeof(wk), "%s/w", root);
	rmdir(wk);
	storage_guest_create_free(&keep);
	storage_plan_free(&plan);
	json_object_put(spec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_fill_roundtrip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

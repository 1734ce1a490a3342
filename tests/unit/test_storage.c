/*
 * Mount translation: rootfs mounts + spec mounts -> storage plan.
 */
/* Test paths are short (mkdtemp under TMPDIR); truncation cannot happen. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
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

#include "tests/unit/unit_skip.h"

#include "shim/storage.h"

struct fx {
	char root[PATH_MAX];
};

static void
path_of(const struct fx *fx, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", fx->root, name);
}

static void
mk(const struct fx *fx, const char *name)
{
	char p[PATH_MAX];

	path_of(fx, name, p);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void
put(const struct fx *fx, const char *name, const char *data, size_t len)
{
	char p[PATH_MAX];
	int fd;

	path_of(fx, name, p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	snprintf(fx->root, sizeof(fx->root), "%s/test_storage.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->root));
	mk(fx, "l1");
	mk(fx, "l2");
	mk(fx, "l3");
	mk(fx, "l4");
	mk(fx, "l5");
	mk(fx, "upper");
	mk(fx, "work");
	mk(fx, "a:b");
	mk(fx, "hostdir");
	mk(fx, "bundle");
	mk(fx, "bundle/rootfs");
	put(fx, "img.erofs", "E", 1);
	put(fx, "dev1.erofs", "D", 1);
	put(fx, "hosts", "127.0.0.1 localhost\n", 20);
	put(fx, "bundle/resolv.conf", "nameserver 10.0.0.1\n", 20);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->root);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* Build from one rootfs mount given as type, source, option strings. */
static int
build1(const char *type, const char *source, const char *const *opts,
    size_t nopts, struct json_object *spec, const struct storage_opts *o,
    struct storage_plan *plan, struct qb_error *err)
{
	struct storage_mount m = {type, source, NULL, opts, nopts};

	return storage_plan_build(&m, 1, spec, o, plan, err);
}

static void
test_overlay_one_lower(void **state)
{
	struct fx *fx = *state;
	char lower[PATH_MAX + 16], upper[PATH_MAX + 16], work[PATH_MAX + 16];
	char l1[PATH_MAX];
	struct storage_plan plan;
	struct qb_error err = {0};

	path_of(fx, "l1", l1);
	snprintf(lower, sizeof(lower), "lowerdir=%s", l1);
	snprintf(upper, sizeof(upper), "upperdir=%s/upper", fx->root);
	snprintf(work, sizeof(work), "workdir=%s/work", fx->root);
	const char *opts[] = {"index=off", work, upper, lower};

	assert_int_equal(
	    build1("overlay", "overlay", opts, 4, NULL, NULL, &plan, &err), 0);
	assert_int_equal(plan.n_disks, 1);
	assert_int_equal(plan.disks[0].role, STORAGE_DISK_LAYER);
	assert_int_equal(plan.disks[0].src, STORAGE_SRC_DIR);
	assert_int_equal(plan.disks[0].key, STORAGE_KEY_STAT);
	assert_string_equal(plan.disks[0].path, l1);
	assert_string_equal(plan.disks[0].serial, "qb-layer-0");
	assert_int_equal(plan.disks[0].fd, -1);
	assert_false(plan.readonly);
	assert_int_equal(plan.n_files, 0);
	assert_int_equal(plan.upper_kind, STORAGE_UPPER_TMPFS);
	assert_int_equal(plan.upper_bytes, 0);
	storage_plan_free(&plan);
	assert_int_equal(plan.n_disks, 0);
}

static void
test_overlay_five_lowers_order(void **state)
{
	struct fx *fx = *state;
	char lower[6 * PATH_MAX];
	struct storage_plan plan;
	struct qb_error err = {0};

	/* containerd: lowerdir=<top>:...:<bottom>; l5 is the top layer. */
	snprintf(lower, sizeof(lower), "lowerdir=%s/l5:%s/l4:%s/l3:%s/l2:%s/l1",
	    fx->root, fx->root, fx->root, fx->root, fx->root);
	const char *opts[] = {lower};

	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, NULL, NULL, &plan, &err), 0);
	assert_int_equal(plan.n_disks, 5);
	for (int i = 0; i < 5; i++) {
		char want[PATH_MAX + 8], serial[32];

		snprintf(want, sizeof(want), "%s/l%d", fx->root, i + 1);
		snprintf(serial, sizeof(serial), "qb-layer-%d", i);
		assert_string_equal(plan.disks[i].path, want);
		assert_string_equal(plan.disks[i].serial, serial);
		assert_int_equal(plan.disks[i].role, STORAGE_DISK_LAYER);
		assert_true(strlen(plan.disks[i].serial) <= STORAGE_SERIAL_LEN);
	}
	/* No upperdir: a read-only view. */
	assert_true(plan.readonly);
	storage_plan_free(&plan);
}

static void
test_overlay_nonempty_upper_is_top_layer(void **state)
{
	struct fx *fx = *state;
	char lower[PATH_MAX + 16], upper[PATH_MAX + 16];
	struct storage_plan plan;
	struct qb_error err = {0};

	put(fx, "upper/written-by-runc", "x", 1);
	snprintf(lower, sizeof(lower), "lowerdir=%s/l1", fx->root);
	snprintf(upper, sizeof(upper), "upperdir=%s/upper", fx->root);
	const char *opts[] = {lower, upper};

	assert_int_equal(
	    build1("overlay", "overlay", opts, 2, NULL, NULL, &plan, &err), 0);
	assert_int_equal(plan.n_disks, 2);
	assert_string_equal(plan.disks[1].path, upper + 9);
	assert_int_equal(plan.disks[1].key, STORAGE_KEY_TREE);
	assert_false(plan.readonly);
	storage_plan_free(&plan);
}

static void
test_overlay_errors(void **state)
{
	struct fx *fx = *state;
	char lower[PATH_MAX + 16];
	struct storage_plan plan;
	struct qb_error err = {0};
	const char *noopts[] = {"index=off"};

	assert_int_equal(
	    build1("overlay", "overlay", noopts, 1, NULL, NULL, &plan, &err),
	    -1);
	assert_int_equal(err.code, QB_E_INVALID);
	assert_non_null(strstr(err.msg, "lowerdir"));

	snprintf(lower, sizeof(lower), "lowerdir=%s/missing", fx->root);
	const char *opts[] = {lower};
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, NULL, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "missing"));
	assert_int_equal(plan.n_disks, 0);
	assert_null(plan.disks);

	const char *rel[] = {"lowerdir=relative/dir"};
	assert_int_equal(
	    build1("overlay", "overlay", rel, 1, NULL, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "absolute"));

	const char *empty[] = {"lowerdir=/a::/b"};
	assert_int_equal(
	    build1("overlay", "overlay", empty, 1, NULL, NULL, &plan, &err),
	    -1);
	assert_non_null(strstr(err.msg, "malformed"));
}

static void
test_split_lowerdir_escape(void **state)
{
	struct fx *fx = *state;
	char(*out)[PATH_MAX] = calloc(4, PATH_MAX);
	char lower[3 * PATH_MAX], want[PATH_MAX + 8];
	struct storage_plan plan;
	struct qb_error err = {0};

	assert_int_equal(
	    storage_split_lowerdir("/top:/mid\\:x:/low", out, 4), 3);
	assert_string_equal(out[0], "/low");
	assert_string_equal(out[1], "/mid:x");
	assert_string_equal(out[2], "/top");
	assert_int_equal(storage_split_lowerdir("/a:/b:/c:/d:/e", out, 4), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(storage_split_lowerdir("", out, 4), -1);
	assert_int_equal(storage_split_lowerdir("/a:", out, 4), -1);
	free(out);

	/* A directory whose name holds a colon, end to end. */
	snprintf(lower, sizeof(lower), "lowerdir=%s/a\\:b:%s/l1", fx->root,
	    fx->root);
	const char *opts[] = {lower};
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, NULL, NULL, &plan, &err), 0);
	snprintf(want, sizeof(want), "%s/a:b", fx->root);
	assert_string_equal(plan.disks[1].path, want);
	storage_plan_free(&plan);
}

static void
test_erofs_passthrough(void **state)
{
	struct fx *fx = *state;
	char img[PATH_MAX], dev[PATH_MAX + 16], dev1[PATH_MAX];
	struct storage_plan plan;
	struct qb_error err = {0};

	path_of(fx, "img.erofs", img);
	path_of(fx, "dev1.erofs", dev1);
	snprintf(dev, sizeof(dev), "device=%s", dev1);
	const char *opts[] = {"ro", dev};

	assert_int_equal(
	    build1("erofs", img, opts, 2, NULL, NULL, &plan, &err), 0);
	assert_int_equal(plan.n_disks, 2);
	assert_int_equal(plan.disks[0].role, STORAGE_DISK_LAYER);
	assert_int_equal(plan.disks[0].src, STORAGE_SRC_IMAGE);
	assert_string_equal(plan.disks[0].path, img);
	assert_int_equal(plan.disks[1].role, STORAGE_DISK_DEVICE);
	assert_int_equal(plan.disks[1].src, STORAGE_SRC_IMAGE);
	assert_string_equal(plan.disks[1].path, dev1);
	assert_string_equal(plan.disks[1].serial, "qb-dev-1");
	assert_false(plan.readonly);

	/* Image disks are opened as they are, without the cache. */
	assert_int_equal(storage_plan_prepare(&plan, NULL, &err), 0);
	assert_true(plan.disks[0].fd >= 0);
	assert_true(plan.disks[1].fd >= 0);
	assert_string_equal(plan.disks[0].image, img);
	assert_int_equal(
	    fcntl(plan.disks[0].fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	storage_plan_free(&plan);

	/* An erofs source that is a directory is refused. */
	path_of(fx, "l1", img);
	assert_int_equal(
	    build1("erofs", img, opts, 2, NULL, NULL, &plan, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
}

static void
test_bind_rootfs(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX];
	struct storage_plan plan;
	struct qb_error err = {0};
	const char *rw[] = {"rbind", "rw"};
	const char *ro[] = {"rbind", "ro"};

	path_of(fx, "l3", dir);
	assert_int_equal(
	    build1("bind", dir, rw, 2, NULL, NULL, &plan, &err), 0);
	assert_int_equal(plan.n_disks, 1);
	assert_int_equal(plan.disks[0].src, STORAGE_SRC_DIR);
	assert_int_equal(plan.disks[0].key, STORAGE_KEY_TREE);
	assert_false(plan.readonly);
	storage_plan_free(&plan);

	/* type "none" + rbind is a bind too; ro = a view of a committed one */
	assert_int_equal(
	    build1("none", dir, ro, 2, NULL, NULL, &plan, &err), 0);
	assert_int_equal(plan.disks[0].key, STORAGE_KEY_STAT);
	assert_true(plan.readonly);
	storage_plan_free(&plan);

	path_of(fx, "hosts", dir);
	assert_int_equal(
	    build1("bind", dir, rw, 2, NULL, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "not a directory"));
}

static void
test_unsupported_rootfs(void **state)
{
	struct storage_plan plan;
	struct qb_error err = {0};
	struct storage_mount two[2] = {{"overlay", "overlay", NULL, NULL, 0},
	    {"overlay", "overlay", NULL, NULL, 0}};

	(void)state;
	assert_int_equal(
	    build1("zfs", "pool/ds", NULL, 0, NULL, NULL, &plan, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
	assert_non_null(strstr(err.msg, "zfs"));
	assert_int_equal(plan.n_disks, 0);

	assert_int_equal(
	    storage_plan_build(two, 2, NULL, NULL, &plan, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
}

static struct json_object *
spec_with_mounts(const char *mounts_json)
{
	char buf[8192];
	struct json_object *spec;

	snprintf(buf, sizeof(buf),
	    "{\"root\":{\"path\":\"rootfs\"},\"mounts\":%s}", mounts_json);
	spec = json_tokener_parse(buf);
	assert_non_null(spec);
	return spec;
}

static void
test_spec_file_binds_and_rewrite(void **state)
{
	struct fx *fx = *state;
	char mounts[4 * PATH_MAX], l1[PATH_MAX + 16];
	struct storage_plan plan;
	struct qb_error err = {0};
	struct json_object *spec, *m;
	struct storage_opts o = {0};
	char bundle[PATH_MAX];

	path_of(fx, "bundle", bundle);
	o.bundle = bundle;
	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/"
	    "proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	    "{\"destination\":\"/"
	    "dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},"
	    "{\"destination\":\"/dev/"
	    "pts\",\"type\":\"devpts\",\"source\":\"devpts\"},"
	    "{\"destination\":\"/sys/fs/"
	    "cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\"},"
	    "{\"destination\":\"/dev/"
	    "mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\"},"
	    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"%s/"
	    "hosts\",\"options\":[\"rbind\",\"ro\"]},"
	    "{\"destination\":\"/etc/"
	    "resolv.conf\",\"source\":\"resolv.conf\",\"options\":[\"bind\","
	    "\"rw\"]},"
	    "{\"destination\":\"/dev/null2\",\"type\":\"bind\",\"source\":\"/"
	    "dev/null\",\"options\":[\"bind\"]}]",
	    fx->root);
	spec = spec_with_mounts(mounts);
	snprintf(l1, sizeof(l1), "lowerdir=%s/l1", fx->root);
	const char *opts[] = {l1};

	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, &o, &plan, &err), 0);
	assert_int_equal(plan.n_disks, 1);
	/* File binds are volumes: live both ways, not copies. */
	assert_int_equal(plan.n_files, 0);
	assert_int_equal(plan.n_volumes, 2);
	assert_string_equal(plan.volumes[0].dest, "/etc/hosts");
	assert_true(plan.volumes[0].readonly);
	assert_true(plan.volumes[0].is_file);
	assert_int_equal(plan.volumes[0].spec_index, 5);
	assert_string_equal(
	    plan.volumes[0].guest_path, STORAGE_GUEST_VOLUMES_DIR "/0");
	/* A relative bind source is relative to the bundle. */
	assert_string_equal(plan.volumes[1].dest, "/etc/resolv.conf");
	assert_false(plan.volumes[1].readonly);
	assert_string_equal(
	    plan.volumes[1].source + strlen(bundle), "/resolv.conf");

	assert_int_equal(storage_spec_rewrite(spec, &plan, &err), 0);
	m = json_object_array_get_idx(
	    json_object_object_get(spec, "mounts"), 5);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(m, "source")),
	    STORAGE_GUEST_VOLUMES_DIR "/0");
	m = json_object_array_get_idx(
	    json_object_object_get(spec, "mounts"), 6);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(m, "source")),
	    STORAGE_GUEST_VOLUMES_DIR "/1");
	/* Guest-side mounts are untouched. */
	m = json_object_array_get_idx(
	    json_object_object_get(spec, "mounts"), 0);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(m, "source")),
	    "proc");
	m = json_object_array_get_idx(
	    json_object_object_get(spec, "mounts"), 7);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(m, "source")),
	    "/dev/null");
	storage_plan_free(&plan);
	json_object_put(spec);
}

/* A file of any size is a volume (nothing is copied). */
static void
test_spec_large_file_is_volume(void **state)
{
	struct fx *fx = *state;
	char mounts[3 * PATH_MAX], l1[PATH_MAX + 16];
	char *big = calloc(1, STORAGE_FILE_MAX + 1);
	struct storage_plan plan;
	struct qb_error err = {0};
	struct json_object *spec;

	put(fx, "big", big, STORAGE_FILE_MAX + 1);
	free(big);
	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/big\",\"type\":\"bind\",\"source\":\"%s/"
	    "big\",\"options\":[\"rbind\",\"ro\"]}]",
	    fx->root);
	spec = spec_with_mounts(mounts);
	snprintf(l1, sizeof(l1), "lowerdir=%s/l1", fx->root);
	const char *opts[] = {l1};
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, NULL, &plan, &err), 0);
	assert_int_equal(plan.n_files, 0);
	assert_int_equal(plan.n_volumes, 1);
	assert_true(plan.volumes[0].is_file);
	storage_plan_free(&plan);
	json_object_put(spec);
}

static void
test_spec_dir_binds(void **state)
{
	struct fx *fx = *state;
	char mounts[3 * PATH_MAX], l1[PATH_MAX + 16];
	struct storage_plan plan;
	struct qb_error err = {0};
	struct json_object *spec, *m;

	snprintf(l1, sizeof(l1), "lowerdir=%s/l1", fx->root);
	const char *opts[] = {l1};

	/* rw and ro host directories: volumes, in spec order. */
	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"%s/"
	    "hostdir\",\"options\":[\"rbind\",\"rw\"]},"
	    "{\"destination\":\"/cfg\",\"type\":\"bind\",\"source\":\"%s/"
	    "hostdir\",\"options\":[\"rbind\",\"rprivate\",\"ro\"]}]",
	    fx->root, fx->root);
	spec = spec_with_mounts(mounts);
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, NULL, &plan, &err), 0);
	assert_int_equal(plan.n_disks, 1);
	assert_int_equal(plan.n_volumes, 2);
	assert_false(plan.volumes[0].readonly);
	assert_false(plan.volumes[0].is_file);
	assert_true(plan.volumes[1].readonly);
	assert_string_equal(plan.volumes[1].dest, "/cfg");
	assert_int_equal(storage_spec_rewrite(spec, &plan, &err), 0);
	m = json_object_array_get_idx(
	    json_object_object_get(spec, "mounts"), 1);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(m, "source")),
	    STORAGE_GUEST_VOLUMES_DIR "/1");
	storage_plan_free(&plan);
	json_object_put(spec);

	/* Propagation from the host: refused, naming the mount. */
	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"%s/"
	    "hostdir\",\"options\":[\"rbind\",\"rslave\"]}]",
	    fx->root);
	spec = spec_with_mounts(mounts);
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, NULL, &plan, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
	assert_non_null(strstr(err.msg, "/data"));
	assert_non_null(strstr(err.msg, "propagation"));
	json_object_put(spec);

	/* An option nobody knows: refused, naming it. */
	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"%s/"
	    "hostdir\",\"options\":[\"rbind\",\"frobnicate\"]}]",
	    fx->root);
	spec = spec_with_mounts(mounts);
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "frobnicate"));
	json_object_put(spec);

	/* A missing source: refused before anything is built. */
	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"%s/"
	    "nope\",\"options\":[\"rbind\"]}]",
	    fx->root);
	spec = spec_with_mounts(mounts);
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "/data"));
	assert_non_null(strstr(err.msg, "nope"));
	json_object_put(spec);
}

static void
test_spec_dev_shm_becomes_tmpfs(void **state)
{
	struct fx *fx = *state;
	char mounts[3 * PATH_MAX], l1[PATH_MAX + 16];
	struct storage_plan plan;
	struct qb_error err = {0};
	struct json_object *spec, *m, *o;

	snprintf(l1, sizeof(l1), "lowerdir=%s/l1", fx->root);
	const char *opts[] = {l1};
	/* What CRI puts in a container's spec: a rw bind of the sandbox shm. */
	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/"
	    "proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	    "{\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"%s/"
	    "hostdir\",\"options\":[\"rbind\",\"rprivate\",\"rw\"]}]",
	    fx->root);
	spec = spec_with_mounts(mounts);
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, NULL, &plan, &err), 0);
	assert_true(plan.shm_tmpfs);
	assert_int_equal(plan.shm_spec_index, 1);
	assert_int_equal(plan.n_disks, 1);
	assert_int_equal(storage_spec_rewrite(spec, &plan, &err), 0);
	m = json_object_array_get_idx(
	    json_object_object_get(spec, "mounts"), 1);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(m, "type")), "tmpfs");
	assert_string_equal(
	    json_object_get_string(json_object_object_get(m, "source")), "shm");
	o = json_object_object_get(m, "options");
	assert_int_equal(json_object_array_length(o), 5);
	assert_string_equal(
	    json_object_get_string(json_object_array_get_idx(o, 3)),
	    "mode=1777");
	storage_plan_free(&plan);
	json_object_put(spec);
}

static void
test_spec_unsupported_and_missing(void **state)
{
	struct fx *fx = *state;
	char l1[PATH_MAX + 16];
	struct storage_plan plan;
	struct qb_error err = {0};
	struct json_object *spec;

	snprintf(l1, sizeof(l1), "lowerdir=%s/l1", fx->root);
	const char *opts[] = {l1};

	spec = spec_with_mounts("[{\"destination\":\"/n\",\"type\":\"nfs\","
	                        "\"source\":\"srv:/x\"}]");
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "nfs"));
	json_object_put(spec);

	spec = spec_with_mounts("[{\"destination\":\"/x\",\"type\":\"bind\","
	                        "\"source\":\"/nonexistent/qemubox\","
	                        "\"options\":[\"rbind\"]}]");
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/qemubox"));
	json_object_put(spec);

	spec = spec_with_mounts("[{\"type\":\"proc\"}]");
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "destination"));
	json_object_put(spec);
}

static void
test_no_rootfs_mounts_uses_root_path(void **state)
{
	struct fx *fx = *state;
	struct storage_plan plan;
	struct qb_error err = {0};
	struct storage_opts o = {0};
	struct json_object *spec;
	char bundle[PATH_MAX], want[PATH_MAX + 8];

	path_of(fx, "bundle", bundle);
	o.bundle = bundle;
	spec = json_tokener_parse("{\"root\":{\"path\":\"rootfs\","
	                          "\"readonly\":true},\"linux\":{\"resources\":"
	                          "{\"memory\":{\"limit\":268435456}}}}");
	assert_int_equal(storage_plan_build(NULL, 0, spec, &o, &plan, &err), 0);
	snprintf(want, sizeof(want), "%s/rootfs", bundle);
	assert_int_equal(plan.n_disks, 1);
	assert_string_equal(plan.disks[0].path, want);
	assert_true(plan.readonly);
	/* tmpfs upper sized from the container memory limit ... */
	assert_int_equal(plan.upper_kind, STORAGE_UPPER_TMPFS);
	assert_int_equal(plan.upper_bytes, 268435456);
	storage_plan_free(&plan);

	/* A read-only root writes nothing: no scratch disk even when set. */
	o.scratch_bytes = 1ULL << 30;
	o.scratch_template = bundle; /* never opened */
	o.scratch_dir = bundle;
	assert_int_equal(storage_plan_build(NULL, 0, spec, &o, &plan, &err), 0);
	assert_int_equal(plan.upper_kind, STORAGE_UPPER_TMPFS);
	assert_int_equal(plan.n_disks, 1);
	storage_plan_free(&plan);
	json_object_put(spec);

	assert_int_equal(
	    storage_plan_build(NULL, 0, NULL, &o, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "root.path"));
}

static void
test_scratch_create(void **state)
{
	struct fx *fx = *state;
	char tmpl[PATH_MAX], disk[PATH_MAX], cmd[2 * PATH_MAX];
	unsigned char a[4096], b[4096];
	struct qb_error err = {0};
	struct stat st;
	int fd, tfd;

	path_of(fx, "t.ext4", tmpl);
	path_of(fx, "scratch.img", disk);
	snprintf(cmd, sizeof(cmd),
	    "/sbin/mkfs.ext4 -q -F -b 4096 -O ^has_journal '%s' 16M "
	    ">/dev/null 2>&1",
	    tmpl);
	if (system(cmd) != 0) {
		skip_because("/sbin/mkfs.ext4 failed (e2fsprogs installed?)");
		return;
	}
	assert_int_equal(
	    storage_scratch_create(tmpl, disk, 1ULL << 30, &fd, &err), 0);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 1LL << 30);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Sparse: only the template's metadata is allocated. */
	assert_true(st.st_blocks * 512 < 4 * 1024 * 1024);
	/* The superblock (magic 0xEF53 at 1080) and the rest are copied. */
	tfd = open(tmpl, O_RDONLY);
	for (off_t off = 0; off < 16 * 1024 * 1024; off += 4096) {
		assert_int_equal(pread(tfd, a, sizeof(a), off), sizeof(a));
		assert_int_equal(pread(fd, b, sizeof(b), off), sizeof(b));
		assert_memory_equal(a, b, sizeof(a));
	}
	assert_int_equal(pread(fd, b, 2, 1080), 2);
	assert_int_equal(b[0], 0x53);
	assert_int_equal(b[1], 0xef);
	close(tfd);
	close(fd);

	/* Never over an existing file. */
	assert_int_equal(
	    storage_scratch_create(tmpl, disk, 1ULL << 30, &fd, &err), -1);
	assert_int_equal(fd, -1);
	unlink(disk);
	/* Smaller than the template, or beyond what it can grow to. */
	assert_int_equal(
	    storage_scratch_create(tmpl, disk, 1ULL << 20, &fd, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
	assert_non_null(strstr(err.msg, "storage.scratch_size_mb"));
	assert_int_equal(storage_scratch_create(
	                     tmpl, disk, STORAGE_SCRATCH_MAX + 1, &fd, &err),
	    -1);
	assert_int_equal(access(disk, F_OK), -1);
}

/* storage.scratch_size_mb through the plan: checked at build, created and
 * unlinked at prepare. */
static void
test_scratch_plan(void **state)
{
	struct fx *fx = *state;
	char tmpl[PATH_MAX], l1[PATH_MAX], bundle[PATH_MAX], disk[PATH_MAX];
	struct storage_plan plan;
	struct storage_opts o = {0};
	struct qb_error err = {0};
	struct json_object *spec;
	struct stat st;
	char lower[PATH_MAX + 16];
	int tfd;

	path_of(fx, "t.ext4", tmpl);
	path_of(fx, "l1", l1);
	path_of(fx, "bundle", bundle);
	tfd = open(tmpl, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(tfd >= 0);
	assert_int_equal(pwrite(tfd, "SB", 2, 1024), 2);
	assert_int_equal(ftruncate(tfd, 4 << 20), 0);
	close(tfd);
	char upper[PATH_MAX + 16], work[PATH_MAX + 16];

	snprintf(lower, sizeof(lower), "lowerdir=%s", l1);
	snprintf(upper, sizeof(upper), "upperdir=%s/upper", fx->root);
	snprintf(work, sizeof(work), "workdir=%s/work", fx->root);
	const char *opts[] = {lower, upper, work};
	spec = json_tokener_parse("{\"root\":{\"path\":\"rootfs\"}}");

	/* Below the template: refused at build, naming the key. */
	o.scratch_bytes = 1 << 20;
	o.scratch_template = tmpl;
	o.scratch_dir = fx->root;
	assert_int_equal(
	    build1("overlay", "overlay", opts, 3, spec, &o, &plan, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
	assert_non_null(strstr(err.msg, "storage.scratch_size_mb (1 MiB)"));
	/* No template installed: a precondition naming it. */
	o.scratch_bytes = 1ULL << 30;
	path_of(fx, "missing.ext4", disk);
	o.scratch_template = disk;
	assert_int_equal(
	    build1("overlay", "overlay", opts, 3, spec, &o, &plan, &err), -1);
	assert_int_equal(err.code, QB_E_PRECONDITION);
	assert_non_null(strstr(err.msg, "missing.ext4"));
	/* Set without a template path: an internal error, not a tmpfs. */
	o.scratch_template = NULL;
	assert_int_equal(
	    build1("overlay", "overlay", opts, 3, spec, &o, &plan, &err), -1);

	o.scratch_template = tmpl;
	assert_int_equal(
	    build1("overlay", "overlay", opts, 3, spec, &o, &plan, &err), 0);
	assert_int_equal(plan.upper_kind, STORAGE_UPPER_SCRATCH);
	assert_int_equal(plan.upper_bytes, 1ULL << 30);
	assert_int_equal(plan.n_disks, 2);
	assert_int_equal(plan.disks[1].role, STORAGE_DISK_SCRATCH);
	assert_int_equal(plan.disks[1].src, STORAGE_SRC_SCRATCH);
	assert_string_equal(plan.disks[1].serial, STORAGE_SCRATCH_SERIAL);
	assert_int_equal(plan.disks[1].fd, -1);
	/* Build creates nothing. */
	assert_int_equal(access(plan.disks[1].image, F_OK), -1);

	/* Leftovers of shims killed mid-create: a dead pid's goes, a live
	 * pid's and unrelated names stay. */
	char dead[PATH_MAX + 64], live[PATH_MAX + 64], other[PATH_MAX + 64];
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	snprintf(
	    dead, sizeof(dead), "%s/scratch.%ld.3.ext4", fx->root, (long)child);
	snprintf(live, sizeof(live), "%s/scratch.1.0.ext4", fx->root);
	snprintf(other, sizeof(other), "%s/scratch.%ld.3.ext4.keep", fx->root,
	    (long)child);
	put(fx, strrchr(dead, '/') + 1, "x", 1);
	put(fx, strrchr(live, '/') + 1, "x", 1);
	put(fx, strrchr(other, '/') + 1, "x", 1);

	/* Prepare only the scratch disk (no mkfs.erofs here): mark the
	 * layer prepared. */
	plan.disks[0].fd = open("/dev/null", O_RDONLY);
	assert_int_equal(storage_plan_prepare(&plan, NULL, &err), 0);
	assert_true(plan.disks[1].fd >= 0);
	assert_int_equal(fcntl(plan.disks[1].fd, F_GETFL) & O_ACCMODE, O_RDWR);
	assert_int_equal(fstat(plan.disks[1].fd, &st), 0);
	assert_int_equal(st.st_size, 1LL << 30);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(access(plan.disks[1].image, F_OK), -1);
	assert_int_equal(pread(plan.disks[1].fd, disk, 2, 1024), 2);
	assert_memory_equal(disk, "SB", 2);
	assert_int_equal(access(dead, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
	storage_plan_free(&plan);
	json_object_put(spec);
}

/*
 * A pod's later container (no_volumes): files are copied in, a ro directory
 * becomes a disk, a rw directory is refused, nothing is a volume.
 */
static void
test_later_container_binds(void **state)
{
	struct fx *fx = *state;
	char mounts[4 * PATH_MAX], l1[PATH_MAX + 16];
	struct storage_plan plan;
	struct qb_error err = {0};
	struct json_object *spec, *m;
	struct storage_opts o = {.no_volumes = true};

	snprintf(l1, sizeof(l1), "lowerdir=%s/l1", fx->root);
	const char *opts[] = {l1};

	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/etc/hosts\",\"type\":\"bind\","
	    "\"source\":\"%s/hosts\",\"options\":[\"rbind\",\"rw\"]},"
	    "{\"destination\":\"/cfg\",\"type\":\"bind\",\"source\":\"%s/"
	    "hostdir\",\"options\":[\"rbind\",\"ro\"]}]",
	    fx->root, fx->root);
	spec = spec_with_mounts(mounts);
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, &o, &plan, &err), 0);
	assert_int_equal(plan.n_volumes, 0);
	assert_int_equal(plan.n_files, 1);
	assert_string_equal(plan.files[0].dest, "/etc/hosts");
	assert_int_equal(plan.files[0].len, 20);
	assert_memory_equal(plan.files[0].data, "127.0.0.1 localhost\n", 20);
	assert_false(plan.files[0].readonly);
	assert_int_equal(plan.n_disks, 2);
	assert_int_equal(plan.disks[1].role, STORAGE_DISK_BIND);
	assert_string_equal(plan.disks[1].dest, "/cfg");
	assert_int_equal(storage_spec_rewrite(spec, &plan, &err), 0);
	m = json_object_array_get_idx(
	    json_object_object_get(spec, "mounts"), 0);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(m, "source")),
	    STORAGE_GUEST_FILES_DIR "/0");
	storage_plan_free(&plan);
	json_object_put(spec);

	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"%s/"
	    "hostdir\",\"options\":[\"rbind\",\"rw\"]}]",
	    fx->root);
	spec = spec_with_mounts(mounts);
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, &o, &plan, &err), -1);
	assert_int_equal(err.code, QB_E_UNIMPLEMENTED);
	assert_non_null(strstr(err.msg, "/data"));
	assert_int_equal(plan.n_disks, 0);
	json_object_put(spec);
}

/*
 * A pod's later container whose VM share takes volumes while it runs
 * (later_share): files and directories, rw or ro, are volumes (live), no
 * copies, no bind disks.
 */
static void
test_later_container_share(void **state)
{
	struct fx *fx = *state;
	char mounts[4 * PATH_MAX], l1[PATH_MAX + 16];
	struct storage_plan plan;
	struct qb_error err = {0};
	struct json_object *spec;
	struct storage_opts o = {.no_volumes = true, .later_share = true};

	snprintf(l1, sizeof(l1), "lowerdir=%s/l1", fx->root);
	const char *opts[] = {l1};

	snprintf(mounts, sizeof(mounts),
	    "[{\"destination\":\"/etc/hosts\",\"type\":\"bind\","
	    "\"source\":\"%s/hosts\",\"options\":[\"rbind\",\"rw\"]},"
	    "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"%s/"
	    "hostdir\",\"options\":[\"rbind\",\"rw\"]},"
	    "{\"destination\":\"/cfg\",\"type\":\"bind\",\"source\":\"%s/"
	    "hostdir\",\"options\":[\"rbind\",\"ro\"]}]",
	    fx->root, fx->root, fx->root);
	spec = spec_with_mounts(mounts);
	assert_int_equal(
	    build1("overlay", "overlay", opts, 1, spec, &o, &plan, &err), 0);
	assert_int_equal(plan.n_files, 0);
	assert_int_equal(plan.n_volumes, 3);
	assert_true(plan.volumes[0].is_file);
	assert_false(plan.volumes[0].readonly);
	assert_string_equal(plan.volumes[1].dest, "/data");
	assert_false(plan.volumes[1].is_file);
	assert_true(plan.volumes[2].readonly);
	assert_int_equal(plan.n_disks, 1); /* the layer, no bind disk */
	storage_plan_free(&plan);
	json_object_put(spec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_overlay_one_lower, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_overlay_five_lowers_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_overlay_nonempty_upper_is_top_layer, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_overlay_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_split_lowerdir_escape, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_erofs_passthrough, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bind_rootfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_unsupported_rootfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_spec_file_binds_and_rewrite, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_spec_large_file_is_volume, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_spec_dir_binds, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_later_container_binds, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_later_container_share, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_spec_unsupported_and_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_no_rootfs_mounts_uses_root_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_scratch_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scratch_plan, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_spec_dev_shm_becomes_tmpfs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

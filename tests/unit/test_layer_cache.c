/*
 * EROFS layer cache: keys, build-once, failures, stale temps, eviction.
 *
 * With arguments this is also the driver of tests/component/60-layer-cache.sh:
 *   test_layer_cache get STATE_DIR DIR [MKFS [COMPRESSION [stat|tree]]]
 *       prints "built=0|1 image=PATH"
 *   test_layer_cache evict STATE_DIR MAX_BYTES
 *       prints "stale=N lru=N tmp=N bytes=N"
 *   LAYER_CACHE_STATE=DIR test_layer_cache plan TYPE SOURCE OPTION...
 *       one rootfs mount -> plan -> prepared disks, lowest first:
 *       "readonly=0|1" then "disk I SERIAL built=0|1 IMAGE SOURCE"
 */
/* Test paths are short (mkdtemp under TMPDIR); truncation cannot happen. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <sys/socket.h>
#include <sys/stat.h>

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

#include "lib/proc_spawn.h"
#include "shim/layer_cache.h"
#include "shim/storage.h"

struct fx {
	char root[PATH_MAX];
	char state[PATH_MAX];
	char mkfs[PATH_MAX];  /* fake: counts runs, writes 1000 bytes */
	char count[PATH_MAX]; /* one line per fake mkfs run */
	char fail[PATH_MAX];  /* fake that fails */
	struct layer_cache lc;
};

static void
write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void
sub(const struct fx *fx, const char *name, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", fx->root, name);
}

static int
count_runs(const struct fx *fx)
{
	FILE *f = fopen(fx->count, "r");
	int n = 0, c;

	if (f == NULL)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static int
count_suffix(const char *dir, const char *needle)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -c -- '%s'", dir, needle);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	char script[3 * PATH_MAX], d[PATH_MAX];
	struct qb_error err = {0};

	snprintf(fx->root, sizeof(fx->root), "%s/test_layer_cache.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->root));
	sub(fx, "state", fx->state);
	sub(fx, "fake-mkfs", fx->mkfs);
	sub(fx, "fail-mkfs", fx->fail);
	sub(fx, "runs", fx->count);
	snprintf(script, sizeof(script),
	    "#!/bin/sh\nwhile [ $# -gt 2 ]; do shift; done\n"
	    "echo \"$2\" >>'%s'\nhead -c 1000 /dev/zero >\"$1\"\n",
	    fx->count);
	write_file(fx->mkfs, script, 0755);
	write_file(fx->fail,
	    "#!/bin/sh\nwhile [ $# -gt 2 ]; do shift; done\n"
	    "echo partial >\"$1\"\necho 'boom: bad layer' >&2\nexit 3\n",
	    0755);
	sub(fx, "layer", d);
	assert_int_equal(mkdir(d, 0755), 0);
	sub(fx, "layer/sub", d);
	assert_int_equal(mkdir(d, 0755), 0);
	sub(fx, "layer/sub/file", d);
	write_file(d, "hello\n", 0644);
	assert_int_equal(
	    layer_cache_init(&fx->lc, fx->state, "none", 0, &err), 0);
	strcpy(fx->lc.mkfs, fx->mkfs);
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

static void
test_init_rejects_bad_compression(void **state)
{
	struct fx *fx = *state;
	struct layer_cache lc;
	struct qb_error err = {0};

	assert_int_equal(layer_cache_init(&lc, fx->state, "zstd", 0, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
	assert_non_null(strstr(err.msg, "storage.compression"));
	assert_int_equal(layer_cache_init(&lc, fx->state, "lz4", 10, &err), 0);
	assert_int_equal(lc.max_bytes, 10 * 1024 * 1024);
}

static void
test_key_stat_and_tree(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], f[PATH_MAX];
	char a[LAYER_CACHE_KEY_LEN + 1], b[LAYER_CACHE_KEY_LEN + 1];
	char ta[LAYER_CACHE_KEY_LEN + 1], tb[LAYER_CACHE_KEY_LEN + 1];
	struct layer_cache lz4 = fx->lc;

	sub(fx, "layer", dir);
	assert_int_equal(layer_cache_key(&fx->lc, dir, STORAGE_KEY_STAT, a), 0);
	assert_int_equal(strlen(a), LAYER_CACHE_KEY_LEN);
	assert_int_equal(layer_cache_key(&fx->lc, dir, STORAGE_KEY_STAT, b), 0);
	assert_string_equal(a, b);
	assert_int_equal(
	    layer_cache_key(&fx->lc, dir, STORAGE_KEY_TREE, ta), 0);
	assert_string_not_equal(a, ta);

	/* Another compression is another image. */
	strcpy(lz4.compression, "lz4");
	assert_int_equal(layer_cache_key(&lz4, dir, STORAGE_KEY_STAT, b), 0);
	assert_string_not_equal(a, b);

	/*
	 * A change deep inside: the O(1) key does not see it (committed
	 * snapshots never change), the tree key does.
	 */
	usleep(10000);
	sub(fx, "layer/sub/file", f);
	write_file(f, "changed\n", 0644);
	assert_int_equal(layer_cache_key(&fx->lc, dir, STORAGE_KEY_STAT, b), 0);
	assert_string_equal(a, b);
	assert_int_equal(
	    layer_cache_key(&fx->lc, dir, STORAGE_KEY_TREE, tb), 0);
	assert_string_not_equal(ta, tb);

	/* A change of the directory itself changes the O(1) key. */
	sub(fx, "layer/new", f);
	write_file(f, "x", 0644);
	assert_int_equal(layer_cache_key(&fx->lc, dir, STORAGE_KEY_STAT, b), 0);
	assert_string_not_equal(a, b);

	/* A recreated directory (maybe the same inode number) is new. */
	assert_int_equal(layer_cache_key(&fx->lc, dir, STORAGE_KEY_STAT, a), 0);
	assert_int_equal(system("true"), 0);
	{
		char cmd[3 * PATH_MAX];

		snprintf(cmd, sizeof(cmd),
		    "rm -rf '%s' && sleep 0.01 && mkdir '%s'", dir, dir);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(layer_cache_key(&fx->lc, dir, STORAGE_KEY_STAT, b), 0);
	assert_string_not_equal(a, b);

	sub(fx, "missing", dir);
	assert_int_equal(
	    layer_cache_key(&fx->lc, dir, STORAGE_KEY_STAT, a), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_get_builds_once(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], img1[PATH_MAX], img2[PATH_MAX];
	struct qb_error err = {0};
	struct stat st;
	int fd1, fd2, built;

	sub(fx, "layer", dir);
	assert_int_equal(layer_cache_get(&fx->lc, dir, STORAGE_KEY_STAT, img1,
	                     sizeof(img1), &fd1, &built, &err),
	    0);
	assert_int_equal(built, 1);
	assert_true(fd1 >= 0);
	assert_int_equal(fstat(fd1, &st), 0);
	assert_int_equal(st.st_size, 1000);
	assert_int_equal(fcntl(fd1, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_true(strncmp(img1, fx->lc.dir, strlen(fx->lc.dir)) == 0);
	assert_non_null(strstr(img1, ".erofs"));

	assert_int_equal(layer_cache_get(&fx->lc, dir, STORAGE_KEY_STAT, img2,
	                     sizeof(img2), &fd2, &built, &err),
	    0);
	assert_int_equal(built, 0);
	assert_string_equal(img1, img2);
	assert_int_equal(count_runs(fx), 1);
	assert_int_equal(count_suffix(fx->lc.dir, "\\.tmp\\."), 0);
	close(fd1);
	close(fd2);
}

static void
test_get_mkfs_failure_leaves_nothing(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], img[PATH_MAX];
	struct qb_error err = {0};
	int fd = -1, built = 1;

	strcpy(fx->lc.mkfs, fx->fail);
	sub(fx, "layer", dir);
	assert_int_equal(layer_cache_get(&fx->lc, dir, STORAGE_KEY_STAT, img,
	                     sizeof(img), &fd, &built, &err),
	    -1);
	assert_int_equal(err.code, QB_E_INTERNAL);
	assert_non_null(strstr(err.msg, "boom: bad layer"));
	assert_non_null(strstr(err.msg, "exit 3"));
	assert_int_equal(fd, -1);
	assert_int_equal(built, 0);
	assert_int_equal(count_suffix(fx->lc.dir, "\\.erofs$"), 0);
	assert_int_equal(count_suffix(fx->lc.dir, "\\.tmp\\."), 0);

	/* A missing mkfs is an error too, not a crash or a hang. */
	strcpy(fx->lc.mkfs, "/nonexistent/mkfs.erofs");
	assert_int_equal(layer_cache_get(&fx->lc, dir, STORAGE_KEY_STAT, img,
	                     sizeof(img), &fd, &built, &err),
	    -1);
}

static void
test_stale_temp_removed_and_never_used(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], img[PATH_MAX], tmp[2 * PATH_MAX];
	char key[LAYER_CACHE_KEY_LEN + 1];
	struct qb_error err = {0};
	struct layer_cache_evict_stats st;
	int fd, built;

	sub(fx, "layer", dir);
	assert_int_equal(
	    layer_cache_key(&fx->lc, dir, STORAGE_KEY_STAT, key), 0);
	/* What a builder killed in the middle of mkfs leaves behind. */
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp.999999", fx->lc.dir, key);
	write_file(tmp, "half an image", 0600);
	assert_int_equal(layer_cache_get(&fx->lc, dir, STORAGE_KEY_STAT, img,
	                     sizeof(img), &fd, &built, &err),
	    0);
	assert_int_equal(built, 1);
	assert_int_equal(access(tmp, F_OK), -1);
	close(fd);

	/* Eviction also removes temps whose builder is gone. */
	write_file(tmp, "half an image", 0600);
	assert_int_equal(layer_cache_evict(&fx->lc, 0, &st), 0);
	assert_int_equal(st.removed_tmp, 1);
	assert_int_equal(st.removed_stale, 0);
	assert_int_equal(st.bytes_left, 1000);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(access(img, F_OK), 0);
}

static void
test_evict_stale_and_lru(void **state)
{
	struct fx *fx = *state;
	char dirs[3][PATH_MAX], imgs[3][PATH_MAX], cmd[PATH_MAX + 16];
	struct qb_error err = {0};
	struct layer_cache_evict_stats st;
	int fd, built;

	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "l%d", i);
		sub(fx, name, dirs[i]);
		assert_int_equal(mkdir(dirs[i], 0755), 0);
		assert_int_equal(
		    layer_cache_get(&fx->lc, dirs[i], STORAGE_KEY_STAT, imgs[i],
		        sizeof(imgs[i]), &fd, &built, &err),
		    0);
		close(fd);
		usleep(20000);
	}
	/* Use l0 again: it becomes the most recently used. */
	assert_int_equal(layer_cache_get(&fx->lc, dirs[0], STORAGE_KEY_STAT,
	                     imgs[0], sizeof(imgs[0]), NULL, &built, &err),
	    0);
	assert_int_equal(built, 0);

	/* The snapshot of l2 is removed: nothing refers to its image. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dirs[2]);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(layer_cache_evict(&fx->lc, 0, &st), 0);
	assert_int_equal(st.removed_stale, 1);
	assert_int_equal(st.removed_lru, 0);
	assert_int_equal(access(imgs[2], F_OK), -1);
	assert_int_equal(st.bytes_left, 2000);

	/* Over the size limit: the least recently used (l1) goes. */
	assert_int_equal(layer_cache_evict(&fx->lc, 1500, &st), 0);
	assert_int_equal(st.removed_lru, 1);
	assert_int_equal(access(imgs[1], F_OK), -1);
	assert_int_equal(access(imgs[0], F_OK), 0);
	assert_int_equal(st.bytes_left, 1000);
	assert_int_equal(count_suffix(fx->lc.dir, "\\.src$"), 1);
	/* No side files of removed images are left behind. */
	assert_int_equal(count_suffix(fx->lc.dir, "\\.lock$"), 1);

	/* A lock file whose build never finished (no image) goes too. */
	char orphan[2 * PATH_MAX];
	snprintf(orphan, sizeof(orphan), "%s/%064d.lock", fx->lc.dir, 7);
	write_file(orphan, "", 0600);
	assert_int_equal(layer_cache_evict(&fx->lc, 0, &st), 0);
	assert_int_equal(access(orphan, F_OK), -1);
	assert_int_equal(access(imgs[0], F_OK), 0);
}

/* An image held open (a running VM's disk) is never evicted, for size or
 * for staleness; once closed, it goes. */
static void
test_evict_skips_images_in_use(void **state)
{
	struct fx *fx = *state;
	char dirs[2][PATH_MAX], imgs[2][PATH_MAX], cmd[PATH_MAX + 16];
	struct qb_error err = {0};
	struct layer_cache_evict_stats st;
	int fds[2], built;

	for (int i = 0; i < 2; i++) {
		char name[16];

		snprintf(name, sizeof(name), "u%d", i);
		sub(fx, name, dirs[i]);
		assert_int_equal(mkdir(dirs[i], 0755), 0);
		assert_int_equal(
		    layer_cache_get(&fx->lc, dirs[i], STORAGE_KEY_STAT, imgs[i],
		        sizeof(imgs[i]), &fds[i], &built, &err),
		    0);
		usleep(20000);
	}
	/* u0 is the least recently used, but open: u1 goes instead... */
	close(fds[1]);
	assert_int_equal(layer_cache_evict(&fx->lc, 1500, &st), 0);
	assert_int_equal(st.kept_in_use, 1);
	assert_int_equal(st.removed_lru, 1);
	assert_int_equal(access(imgs[0], F_OK), 0);
	assert_int_equal(access(imgs[1], F_OK), -1);
	/* ...and even a limit of one byte keeps it while it is open. */
	assert_int_equal(layer_cache_evict(&fx->lc, 1, &st), 0);
	assert_int_equal(st.kept_in_use, 1);
	assert_int_equal(access(imgs[0], F_OK), 0);
	/* Its snapshot removed: still kept while open. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dirs[0]);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(layer_cache_evict(&fx->lc, 0, &st), 0);
	assert_int_equal(st.removed_stale, 0);
	assert_int_equal(access(imgs[0], F_OK), 0);
	/* The VM is gone (fd closed, also in a child that had a copy). */
	close(fds[0]);
	assert_int_equal(layer_cache_evict(&fx->lc, 0, &st), 0);
	assert_int_equal(st.removed_stale, 1);
	assert_int_equal(access(imgs[0], F_OK), -1);
}

static void
test_real_mkfs_erofs(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], img[PATH_MAX];
	unsigned char sb[4];
	struct qb_error err = {0};
	int fd, built;

	if (access(LAYER_CACHE_MKFS, X_OK) != 0) {
		skip_because(
		    "%s not installed (erofs-utils)", LAYER_CACHE_MKFS);
		return;
	}
	strcpy(fx->lc.mkfs, LAYER_CACHE_MKFS);
	sub(fx, "layer", dir);
	assert_int_equal(layer_cache_get(&fx->lc, dir, STORAGE_KEY_STAT, img,
	                     sizeof(img), &fd, &built, &err),
	    0);
	assert_int_equal(built, 1);
	/* EROFS superblock magic 0xE0F5E1E2 (little endian) at 1024. */
	assert_int_equal(pread(fd, sb, 4, 1024), 4);
	assert_int_equal(sb[0], 0xe2);
	assert_int_equal(sb[1], 0xe1);
	assert_int_equal(sb[2], 0xf5);
	assert_int_equal(sb[3], 0xe0);
	close(fd);
}

static void
test_plan_prepare_uses_cache(void **state)
{
	struct fx *fx = *state;
	char lower[2 * PATH_MAX + 16], l0[PATH_MAX], l1[PATH_MAX];
	struct storage_plan plan;
	struct qb_error err = {0};

	sub(fx, "l0", l0);
	sub(fx, "l1", l1);
	assert_int_equal(mkdir(l0, 0755), 0);
	assert_int_equal(mkdir(l1, 0755), 0);
	snprintf(lower, sizeof(lower), "lowerdir=%s:%s", l1, l0);
	const char *opts[] = {lower};
	struct storage_mount m = {"overlay", "overlay", NULL, opts, 1};

	assert_int_equal(storage_plan_build(&m, 1, NULL, NULL, &plan, &err), 0);
	assert_int_equal(storage_plan_prepare(&plan, &fx->lc, &err), 0);
	assert_int_equal(plan.n_disks, 2);
	for (int i = 0; i < 2; i++) {
		assert_true(plan.disks[i].fd >= 0);
		assert_true(plan.disks[i].built);
		assert_non_null(strstr(plan.disks[i].image, ".erofs"));
	}
	assert_string_not_equal(plan.disks[0].image, plan.disks[1].image);
	storage_plan_free(&plan);

	/* A second container of the same image: no mkfs. */
	assert_int_equal(storage_plan_build(&m, 1, NULL, NULL, &plan, &err), 0);
	assert_int_equal(storage_plan_prepare(&plan, &fx->lc, &err), 0);
	assert_false(plan.disks[0].built);
	assert_false(plan.disks[1].built);
	assert_int_equal(count_runs(fx), 2);
	storage_plan_free(&plan);
}

/*
 * LAYER_CACHE_SPAWNER=path/qemubox-spawner: builds go through a spawner
 * started here (as the shim does, fd 3, before any privilege drop), with
 * the cache dir as its -w.
 */
static void
maybe_spawner(struct layer_cache *lc)
{
	const char *sp = getenv("LAYER_CACHE_SPAWNER");
	char *argv[] = {(char *)(uintptr_t)sp, "-w", lc->dir, NULL, NULL};
	int sv[2];

	if (sp == NULL || *sp == '\0')
		return;
	if (getenv("LAYER_CACHE_SPAWNER_DEBUG") != NULL)
		argv[3] = "-d";
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    proc_spawn(sp, argv, sv[1], PROC_SPAWN_IMSG_FD) == -1) {
		perror(sp);
		exit(1);
	}
	close(sv[1]);
	lc->spawner_fd = sv[0];
}

static int
tool(int argc, char **argv)
{
	struct layer_cache lc;
	struct qb_error err = {0};

	if (argc >= 4 && strcmp(argv[1], "get") == 0) {
		enum storage_key_kind kind = STORAGE_KEY_STAT;
		char img[PATH_MAX];
		int fd, built;

		if (layer_cache_init(&lc, argv[2], argc > 5 ? argv[5] : "none",
		        0, &err) == -1)
			goto fail;
		if (argc > 4)
			snprintf(lc.mkfs, sizeof(lc.mkfs), "%s", argv[4]);
		if (argc > 6 && strcmp(argv[6], "tree") == 0)
			kind = STORAGE_KEY_TREE;
		maybe_spawner(&lc);
		if (layer_cache_get(&lc, argv[3], kind, img, sizeof(img), &fd,
		        &built, &err) == -1)
			goto fail;
		printf("built=%d image=%s\n", built, img);
		close(fd);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "evict") == 0) {
		struct layer_cache_evict_stats st;

		if (layer_cache_init(&lc, argv[2], "none", 0, &err) == -1)
			goto fail;
		if (layer_cache_evict(&lc, strtoull(argv[3], NULL, 10), &st) ==
		    -1) {
			perror("evict");
			return 1;
		}
		printf("stale=%u lru=%u tmp=%u bytes=%llu\n", st.removed_stale,
		    st.removed_lru, st.removed_tmp,
		    (unsigned long long)st.bytes_left);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "plan") == 0) {
		struct storage_mount m = {argv[2], argv[3], NULL,
		    (const char *const *)(argv + 4), (size_t)(argc - 4)};
		const char *state_dir = getenv("LAYER_CACHE_STATE");
		struct storage_plan plan;

		if (state_dir == NULL ||
		    layer_cache_init(&lc, state_dir, "none", 0, &err) == -1 ||
		    storage_plan_build(&m, 1, NULL, NULL, &plan, &err) == -1)
			goto fail;
		maybe_spawner(&lc);
		if (storage_plan_prepare(&plan, &lc, &err) == -1) {
			storage_plan_free(&plan);
			goto fail;
		}
		printf("readonly=%d\n", plan.readonly);
		for (size_t i = 0; i < plan.n_disks; i++)
			printf("disk %zu %s built=%d %s %s\n", i,
			    plan.disks[i].serial, plan.disks[i].built,
			    plan.disks[i].image, plan.disks[i].path);
		storage_plan_free(&plan);
		return 0;
	}
	fprintf(stderr,
	    "usage: %s get STATE DIR [MKFS [COMP [stat|tree]]] | "
	    "evict STATE MAX_BYTES | plan TYPE SOURCE OPTION... "
	    "(state dir in $LAYER_CACHE_STATE)\n",
	    argv[0]);
	return 2;
fail:
	fprintf(stderr, "%s\n", err.msg);
	return 1;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_init_rejects_bad_compression, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_key_stat_and_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_get_builds_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_get_mkfs_failure_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stale_temp_removed_and_never_used, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_evict_stale_and_lru, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_evict_skips_images_in_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_real_mkfs_erofs, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_plan_prepare_uses_cache, setup, teardown),
	};

	if (argc > 1)
		return tool(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

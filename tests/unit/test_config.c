/*
 * config.json loader: defaults, the example file, and the golden files
 * (tests/config/valid/<name>.json must load; tests/config/invalid/<rule>.json
 * must fail with exactly the message in <rule>.expected). Each golden file
 * is its own test so a failure names the rule. Run from the repo root.
 */
#include <sys/mman.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "lib/config.h"

#define GOLDEN_DIR "tests/config"
#define GOLDEN_MAX 512

static char *
slurp(const char *path, size_t *lenp)
{
	FILE *f;
	char *buf;
	long len;

	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	if (lenp != NULL)
		*lenp = (size_t)len;
	return buf;
}

static void
test_defaults(void **state)
{
	struct qb_config cfg;

	(void)state;
	qb_config_defaults(&cfg);
	assert_string_equal(cfg.paths.share_dir, "/usr/share/qemubox");
	assert_string_equal(cfg.paths.state_dir, "/var/lib/qemubox");
	assert_string_equal(cfg.paths.log_dir, "/var/log/qemubox");
	assert_string_equal(cfg.paths.qemu_path, "/usr/bin/qemu-system-x86_64");
	assert_string_equal(cfg.paths.qemu_share_path, "/usr/share/qemu");
	assert_string_equal(cfg.runtime.vmm, "qemu");
	assert_int_equal(cfg.runtime.transport, QB_TRANSPORT_AUTO);
	assert_false(cfg.runtime.debug);
	assert_int_equal(cfg.runtime.boot_cpus, 1);
	assert_int_equal(cfg.runtime.max_cpus, 1);
	assert_int_equal(cfg.runtime.memory_mb, 512);
	assert_int_equal(cfg.runtime.max_memory_mb, 512);
	assert_int_equal(cfg.runtime.boot_timeout_ms, 30000);
	assert_int_equal(cfg.runtime.shutdown_timeout_ms, 5000);
	assert_string_equal(cfg.network.cni_conf_dir, "/etc/cni/net.d");
	assert_int_equal(cfg.network.n_cni_bin_dirs, 2);
	assert_string_equal(cfg.network.cni_bin_dirs[0], "/opt/cni/bin");
	assert_string_equal(cfg.network.cni_bin_dirs[1], "/usr/lib/cni");
	assert_int_equal(cfg.network.cni_timeout_ms, 30000);
	assert_string_equal(cfg.security.vmmon_user, "qemubox");
	assert_int_equal(cfg.security.vmmon_uid_first, 200000);
	assert_int_equal(cfg.security.vmmon_uid_last, 265535);
	assert_string_equal(cfg.security.cgroup_parent, "/qemubox");
	assert_false(cfg.runtime.keep_logs);
	assert_false(cfg.runtime.clone);
	assert_int_equal(cfg.runtime.console_log_max_kb, 16384);
	assert_int_equal(cfg.runtime.tcg_tb_size_mb, 32);
	assert_int_equal(cfg.runtime.clone_tcg_tb_size_mb, 20);
	assert_int_equal(cfg.security.seccomp, QB_SECCOMP_ENFORCE);
	assert_string_equal(cfg.storage.compression, "none");
	assert_false(cfg.cpu_hotplug.enabled);
	assert_true(cfg.cpu_hotplug.scale_up_threshold == 80.0);
	assert_true(cfg.cpu_hotplug.scale_down_threshold == 50.0);
	assert_int_equal(cfg.cpu_hotplug.monitor_interval_ms, 5000);
	assert_int_equal(cfg.cpu_hotplug.scale_up_stability.samples, 2);
	assert_int_equal(cfg.cpu_hotplug.scale_down_stability.samples, 6);
	assert_int_equal(cfg.cpu_hotplug.scale_down_cooldown_ms, 30000);
	assert_true(cfg.cpu_hotplug.scale_up_throttle_limit == 5.0);
	assert_int_equal(cfg.memory_hotplug.monitor_interval_ms, 10000);
	assert_int_equal(cfg.memory_hotplug.scale_up_stability.samples, 3);
	assert_true(cfg.cpu_hotplug.enable_scale_down);
	assert_false(cfg.memory_hotplug.enable_scale_down);
	assert_int_equal(cfg.memory_hotplug.increment_size_mb, 128);
}

/* examples/config.json spells out every default, nothing else. */
static void
test_example_is_defaults(void **state)
{
	struct qb_config want, got;
	struct qb_error err;
	char *buf;
	size_t len;

	(void)state;
	buf = slurp("examples/config.json", &len);
	qb_config_defaults(&want);
	strcpy(want.path, "examples/config.json");
	memset(&got, 0xa5, sizeof(got));
	if (qb_config_parse_values(
	        "examples/config.json", buf, len, &got, &err) == -1)
		fail_msg("%s", err.msg);
	assert_memory_equal(&want, &got, sizeof(want));
	free(buf);
}

/*
 * Every key of the example is a key the parser knows: give each one a
 * value of the wrong type and the error must name that very key.
 */
static void
test_example_keys_known(void **state)
{
	struct json_object *root, *copy = NULL, *sec;
	struct qb_config cfg;
	struct qb_error err;
	char *buf, want[128];
	const char *js;
	int nkeys = 0;

	(void)state;
	buf = slurp("examples/config.json", NULL);
	assert_non_null(root = json_tokener_parse(buf));
	json_object_object_foreach(root, sname, sval)
	{
		json_object_object_foreach(sval, kname, kval)
		{
			(void)kval;
			assert_int_equal(
			    json_object_deep_copy(root, &copy, NULL), 0);
			sec = json_object_object_get(copy, sname);
			json_object_object_add(
			    sec, kname, json_object_new_object());
			js = json_object_to_json_string(copy);
			assert_int_equal(qb_config_parse_values(
			                     "x", js, strlen(js), &cfg, &err),
			    -1);
			snprintf(want, sizeof(want), "config x: %s.%s ({}) ",
			    sname, kname);
			if (strncmp(err.msg, want, strlen(want)) != 0)
				fail_msg("%s.%s: %s", sname, kname, err.msg);
			json_object_put(copy);
			copy = NULL;
			nkeys++;
		}
	}
	/* paths 5, runtime 15, network 3, security 4, storage 3, 10 + 11 */
	assert_int_equal(nkeys, 51);
	json_object_put(root);
	free(buf);
}

/*
 * The Go qemubox's own examples/config.json (tests/config/seed/) loads as
 * written: fractional thresholds, stability as sample counts, its throttle
 * limit, and "" for paths it finds itself.
 */
static void
test_seed_example_loads(void **state)
{
	struct qb_config cfg, def;
	struct qb_error err;
	char *buf;
	size_t len;

	(void)state;
	buf = slurp(GOLDEN_DIR "/seed/config.json", &len);
	if (qb_config_parse_values("seed", buf, len, &cfg, &err) == -1)
		fail_msg("%s", err.msg);
	qb_config_defaults(&def);
	assert_string_equal(cfg.paths.qemu_path, def.paths.qemu_path);
	assert_string_equal(
	    cfg.paths.qemu_share_path, def.paths.qemu_share_path);
	assert_false(cfg.cpu_hotplug.enabled);
	assert_true(cfg.cpu_hotplug.scale_up_threshold == 80.0);
	assert_true(cfg.cpu_hotplug.scale_down_threshold == 50.0);
	assert_true(cfg.cpu_hotplug.scale_up_throttle_limit == 5.0);
	assert_int_equal(cfg.cpu_hotplug.scale_up_stability.samples, 2);
	assert_int_equal(cfg.cpu_hotplug.scale_down_stability.samples, 6);
	assert_int_equal(cfg.cpu_hotplug.scale_up_cooldown_ms, 10000);
	assert_true(cfg.memory_hotplug.scale_up_threshold == 85.0);
	assert_int_equal(cfg.memory_hotplug.scale_up_stability.samples, 3);
	assert_int_equal(cfg.memory_hotplug.oom_safety_margin_mb, 128);
	assert_int_equal(cfg.memory_hotplug.monitor_interval_ms, 10000);
	assert_false(cfg.memory_hotplug.enable_scale_down);
	free(buf);
}

static void
test_golden_invalid(void **state)
{
	const char *json = *state;
	char expected_path[512], *expected, got[2048];
	struct qb_config cfg, before;
	struct qb_error err;

	snprintf(expected_path, sizeof(expected_path), "%.*s.expected",
	    (int)(strlen(json) - strlen(".json")), json);
	expected = slurp(expected_path, NULL);
	qb_config_defaults(&cfg);
	before = cfg;
	assert_int_equal(qb_config_load(json, &cfg, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
	snprintf(got, sizeof(got), "%s\n", err.msg);
	assert_string_equal(got, expected);
	/* A failed load leaves the caller's config untouched. */
	assert_memory_equal(&cfg, &before, sizeof(cfg));
	free(expected);
}

static void
test_golden_valid(void **state)
{
	const char *json = *state;
	struct qb_config cfg, *in_place;
	struct qb_error err;

	if (qb_config_load(json, &cfg, &err) == -1)
		fail_msg("%s", err.msg);
	assert_string_equal(cfg.path, json);
	/* The in-place load (the helpers' start-up) gives the same result. */
	in_place = malloc(sizeof(*in_place));
	assert_non_null(in_place);
	memset(in_place, 0xa5, sizeof(*in_place));
	if (qb_config_load_in_place(json, in_place, &err) == -1)
		fail_msg("%s", err.msg);
	assert_memory_equal(in_place, &cfg, sizeof(cfg));
	free(in_place);
}

static void
test_valid_values(void **state)
{
	struct qb_config cfg;
	struct qb_error err;

	(void)state;
	if (qb_config_load(GOLDEN_DIR "/valid/durations.json", &cfg, &err) ==
	    -1)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg.runtime.boot_timeout_ms, 3600000);
	assert_int_equal(cfg.runtime.shutdown_timeout_ms, 1500);
	assert_int_equal(cfg.network.cni_timeout_ms, 90000);
	assert_int_equal(cfg.cpu_hotplug.monitor_interval_ms, 250);
	/* Windows given as durations become whole samples of 250 ms. */
	assert_int_equal(cfg.cpu_hotplug.scale_up_stability.samples, 120);
	assert_int_equal(cfg.cpu_hotplug.scale_down_stability.samples, 14396);
	assert_int_equal(cfg.cpu_hotplug.scale_up_cooldown_ms, 1000);
	assert_int_equal(cfg.cpu_hotplug.scale_down_cooldown_ms, 3600000);
	/* Omitted keys keep their defaults, booleans included. */
	assert_true(cfg.cpu_hotplug.enable_scale_down);
	assert_int_equal(cfg.memory_hotplug.monitor_interval_ms, 10000);

	if (qb_config_load(GOLDEN_DIR "/valid/hotplug.json", &cfg, &err) == -1)
		fail_msg("%s", err.msg);
	assert_true(cfg.cpu_hotplug.enabled);
	assert_int_equal(cfg.runtime.max_cpus, 4);
	assert_int_equal(cfg.runtime.max_memory_mb, 2048);
	assert_int_equal(cfg.memory_hotplug.increment_size_mb, 256);
	assert_true(cfg.memory_hotplug.enable_scale_down);
	assert_true(cfg.cpu_hotplug.scale_up_threshold == 100.0);
	assert_true(cfg.cpu_hotplug.scale_down_threshold == 0.5);

	if (qb_config_load(GOLDEN_DIR "/valid/alternatives.json", &cfg, &err) ==
	    -1)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg.runtime.transport, QB_TRANSPORT_VIRTIO_SERIAL);
	assert_true(cfg.runtime.debug);
	assert_int_equal(cfg.security.seccomp, QB_SECCOMP_LOG);
	assert_string_equal(cfg.security.vmmon_user, "_qemubox-vm1");
	assert_int_equal(cfg.security.vmmon_uid_first, 0);
	assert_int_equal(cfg.security.vmmon_uid_last, 0);
	assert_string_equal(
	    cfg.security.cgroup_parent, "/system.slice/qemubox-vms.slice");
	assert_true(cfg.runtime.keep_logs);
	assert_true(cfg.runtime.clone);
	assert_int_equal(cfg.runtime.console_log_max_kb, 64);
	assert_int_equal(cfg.runtime.clone_tcg_tb_size_mb, 24);
	assert_int_equal(cfg.network.n_cni_bin_dirs, 1);
	assert_string_equal(cfg.network.cni_bin_dirs[0], "/usr/lib/cni");
	assert_string_equal(cfg.network.cni_bin_dirs[1], "");
	assert_string_equal(cfg.storage.compression, "lz4");
	assert_int_equal(cfg.storage.scratch_size_mb, 1024);
	assert_int_equal(cfg.storage.layer_cache_max_mb, 10240);
}

static void
test_duration_forms(void **state)
{
	static const struct {
		const char *text;
		uint64_t ms; /* 0: rejected */
	} cases[] = {
	    {"1ms", 1},
	    {"1000000ns", 1},
	    {"1500\xc2\xb5s", 1},
	    {"2\xce\xbcs", 0},
	    {"+5s", 5000},
	    {"1h", 3600000},
	    {"60m", 3600000},
	    {"3600s", 3600000},
	    {"3600.001s", 0},
	    {".5s", 500},
	    {"5.s", 5000},
	    {"1m1s1ms", 61001},
	    {"0", 0},
	    {"", 0},
	    {"s", 0},
	    {".s", 0},
	    {"5", 0},
	    {"1h-1m", 0},
	    {"99999999999999999999h", 0},
	    {"5S", 0},
	};
	struct qb_config cfg;
	struct qb_error err;
	char js[256];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(js, sizeof(js),
		    "{\"runtime\":{\"boot_timeout\":\"%s\"}}", cases[i].text);
		rc = qb_config_parse_values("x", js, strlen(js), &cfg, &err);
		if (cases[i].ms == 0) {
			if (rc != -1)
				fail_msg("\"%s\" accepted", cases[i].text);
		} else {
			if (rc == -1)
				fail_msg("\"%s\": %s", cases[i].text, err.msg);
			assert_int_equal(
			    cfg.runtime.boot_timeout_ms, cases[i].ms);
		}
	}
}

static void
test_missing_file(void **state)
{
	struct qb_config cfg;
	struct qb_error err;

	(void)state;
	assert_int_equal(
	    qb_config_load("tests/config/no-such-file.json", &cfg, &err), -1);
	assert_string_equal(err.msg, "config tests/config/no-such-file.json: "
	                             "cannot open: No such file or directory");
	assert_int_equal(qb_config_load("tests/config", &cfg, &err), -1);
	assert_string_equal(
	    err.msg, "config tests/config: is not a regular file");
}

static void
test_config_path(void **state)
{
	(void)state;
	unsetenv("QEMUBOX_CONFIG");
	assert_string_equal(qb_config_path(), "/etc/qemubox/config.json");
	setenv("QEMUBOX_CONFIG", "", 1);
	assert_string_equal(qb_config_path(), "/etc/qemubox/config.json");
	setenv("QEMUBOX_CONFIG", "/x/y.json", 1);
	assert_string_equal(qb_config_path(), "/x/y.json");
	unsetenv("QEMUBOX_CONFIG");
}

/* Runs qb_config_check_main() with stdout and stderr captured. */
static int
run_check_main(const char *config, char *out, char *errout, size_t len)
{
	int saved_out, saved_err, mout, merr, rc;
	ssize_t n;

	setenv("QEMUBOX_CONFIG", config, 1);
	fflush(stdout);
	fflush(stderr);
	assert_true((mout = memfd_create("out", 0)) >= 0);
	assert_true((merr = memfd_create("err", 0)) >= 0);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	dup2(mout, STDOUT_FILENO);
	dup2(merr, STDERR_FILENO);
	rc = qb_config_check_main();
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	n = pread(mout, out, len - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	n = pread(merr, errout, len - 1, 0);
	errout[n > 0 ? n : 0] = '\0';
	close(mout);
	close(merr);
	unsetenv("QEMUBOX_CONFIG");
	return rc;
}

static void
test_check_main(void **state)
{
	char out[2048], errout[2048];

	(void)state;
	assert_int_equal(run_check_main(GOLDEN_DIR "/valid/minimal.json", out,
	                     errout, sizeof(out)),
	    0);
	assert_string_equal(out, "configuration OK\n");
	assert_string_equal(errout, "");

	assert_int_equal(
	    run_check_main(GOLDEN_DIR "/invalid/threshold-order.json", out,
	        errout, sizeof(out)),
	    1);
	assert_string_equal(out, "");
	assert_string_equal(errout,
	    "config tests/config/invalid/threshold-order.json: "
	    "cpu_hotplug.scale_down_threshold (90) must be below "
	    "scale_up_threshold (80)\n");
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* One test per tests/config/<kind>/<name>.json, named after the file. */
static size_t
add_golden(
    struct CMUnitTest *tests, size_t n, const char *kind, void (*fn)(void **))
{
	char dir[256], *path, *name;
	struct dirent **ents;
	int i, m;

	snprintf(dir, sizeof(dir), GOLDEN_DIR "/%s", kind);
	m = scandir(dir, &ents, NULL, alphasort);
	if (m < 0) {
		fprintf(
		    stderr, "cannot list %s (run from the repo root)\n", dir);
		exit(1);
	}
	for (i = 0; i < m; i++) {
		if (has_suffix(ents[i]->d_name, ".json") && n < GOLDEN_MAX) {
			if (asprintf(&path, "%s/%s", dir, ents[i]->d_name) ==
			        -1 ||
			    asprintf(&name, "%s/%s", kind, ents[i]->d_name) ==
			        -1)
				exit(1);
			memset(&tests[n], 0, sizeof(tests[n]));
			tests[n].name = name;
			tests[n].test_func = fn;
			tests[n].initial_state = path;
			n++;
		}
		free(ents[i]);
	}
	free(ents);
	return n;
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_example_is_defaults),
	    cmocka_unit_test(test_seed_example_loads),
	    cmocka_unit_test(test_example_keys_known),
	    cmocka_unit_test(test_valid_values),
	    cmocka_unit_test(test_duration_forms),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_config_path),
	    cmocka_unit_test(test_check_main),
	};
	struct CMUnitTest *tests;
	size_t i, n, nfixed = sizeof(fixed) / sizeof(fixed[0]);
	int rc;

	tests = calloc(nfixed + GOLDEN_MAX, sizeof(*tests));
	if (tests == NULL)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	n = add_golden(tests, nfixed, "valid", test_golden_valid);
	n = add_golden(tests, n, "invalid", test_golden_invalid);
	rc = _cmocka_run_group_tests("config", tests, n, NULL, NULL);
	for (i = nfixed; i < n; i++) {
		free((void *)(uintptr_t)tests[i].name);
		free(tests[i].initial_state);
	}
	free(tests);
	return rc;
}

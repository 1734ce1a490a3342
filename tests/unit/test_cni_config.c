/* Conflist loading, per-plugin injection, and privnet's boundary checks. */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "privnet/privnet.h"

static const char conflist[] =
    "{\"cniVersion\":\"1.0.0\",\"name\":\"qbnet\",\"plugins\":["
    "{\"type\":\"bridge\",\"bridge\":\"qb0\",\"ipam\":{\"type\":\"host-local\","
    "\"subnet\":\"10.250.0.0/24\"}},"
    "{\"type\":\"firewall\",\"name\":\"spoofed\",\"prevResult\":{\"x\":1}}]}";

static void
test_parse_and_inject(void **state)
{
	struct cni_conflist cl;
	struct qb_error err = {0};
	json_object *o, *v;
	char *conf;
	size_t len;

	(void)state;
	assert_int_equal(
	    cni_conflist_parse(conflist, strlen(conflist), &cl, &err), 0);
	assert_string_equal(cl.name, "qbnet");
	assert_string_equal(cl.cni_version, "1.0.0");
	assert_int_equal(cl.n_plugins, 2);
	assert_string_equal(cl.types[1], "firewall");
	assert_int_equal(cl.len, strlen(conflist));

	/* First plugin: name + cniVersion injected, no prevResult. */
	conf = cni_plugin_config(&cl, 0, NULL, &len, &err);
	assert_non_null(conf);
	assert_int_equal(len, strlen(conf));
	o = json_tokener_parse(conf);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "name", &v));
	assert_string_equal(json_object_get_string(v), "qbnet");
	assert_true(json_object_object_get_ex(o, "cniVersion", &v));
	assert_string_equal(json_object_get_string(v), "1.0.0");
	assert_false(json_object_object_get_ex(o, "prevResult", NULL));
	assert_true(json_object_object_get_ex(o, "bridge", &v));
	assert_string_equal(json_object_get_string(v), "qb0");
	json_object_put(o);
	free(conf);

	/* Second: the plugin's own name/prevResult are overridden. */
	conf = cni_plugin_config(
	    &cl, 1, "{\"cniVersion\":\"1.0.0\",\"ips\":[]}", &len, &err);
	assert_non_null(conf);
	o = json_tokener_parse(conf);
	assert_true(json_object_object_get_ex(o, "name", &v));
	assert_string_equal(json_object_get_string(v), "qbnet");
	assert_true(json_object_object_get_ex(o, "prevResult", &v));
	assert_true(json_object_object_get_ex(v, "ips", NULL));
	assert_false(json_object_object_get_ex(v, "x", NULL));
	json_object_put(o);
	free(conf);

	/* Without a prevResult, a plugin's own stale one is removed. */
	conf = cni_plugin_config(&cl, 1, NULL, &len, &err);
	o = json_tokener_parse(conf);
	assert_false(json_object_object_get_ex(o, "prevResult", NULL));
	json_object_put(o);
	free(conf);

	/* Out of range and a broken prevResult fail. */
	assert_null(cni_plugin_config(&cl, 2, NULL, &len, &err));
	assert_null(cni_plugin_config(&cl, 0, "{bad", &len, &err));
	cni_conflist_free(&cl);
}

static void
expect_conf_reject(const char *json, const char *needle)
{
	struct cni_conflist cl;
	struct qb_error err = {0};

	assert_int_equal(cni_conflist_parse(json, strlen(json), &cl, &err), -1);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
	assert_null(cl.root);
}

static void
test_conflist_reject(void **state)
{
	(void)state;
	expect_conf_reject("{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":"
	                   "\"bridge\"}]}",
	    "name");
	expect_conf_reject("{\"name\":\"../x\",\"cniVersion\":\"1.0.0\","
	                   "\"plugins\":[{\"type\":\"bridge\"}]}",
	    "name");
	expect_conf_reject("{\"name\":\"n\",\"cniVersion\":\"9.9.9\","
	                   "\"plugins\":[{\"type\":\"bridge\"}]}",
	    "cniVersion");
	expect_conf_reject("{\"name\":\"n\",\"cniVersion\":\"1.0.0\","
	                   "\"plugins\":[]}",
	    "plugins");
	expect_conf_reject("{\"name\":\"n\",\"cniVersion\":\"1.0.0\","
	                   "\"plugins\":[{\"type\":\"../../bin/sh\"}]}",
	    "type");
	expect_conf_reject("{\"name\":\"n\",\"cniVersion\":\"1.0.0\","
	                   "\"plugins\":[{\"type\":\"/bin/sh\"}]}",
	    "type");
	expect_conf_reject("{\"name\":\"n\",\"cniVersion\":\"1.0.0\","
	                   "\"plugins\":[{\"ipam\":{}}]}",
	    "type");
	expect_conf_reject("[1]", "not a JSON object");
}

static void
test_find_first(void **state)
{
	char dir[PATH_MAX];
	char path[PATH_MAX], p[PATH_MAX + 32];
	struct qb_error err = {0};
	struct cni_conflist cl;
	const char *names[] = {"20-b.conflist", "10-a.conflist", "05-x.conf",
	    ".01-hidden.conflist"};
	FILE *f;
	size_t i;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/qb-cni-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(cni_conflist_find(dir, path, sizeof(path), &err), -1);
	assert_non_null(strstr(err.msg, "no *.conflist"));
	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		assert_non_null(f = fopen(p, "w"));
		fputs(conflist, f);
		fclose(f);
	}
	assert_int_equal(cni_conflist_find(dir, path, sizeof(path), &err), 0);
	snprintf(p, sizeof(p), "%s/10-a.conflist", dir);
	assert_string_equal(path, p);
	assert_int_equal(cni_conflist_load(path, &cl, &err), 0);
	assert_string_equal(cl.path, p);
	cni_conflist_free(&cl);
	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
	assert_int_equal(cni_conflist_find(dir, path, sizeof(path), &err), -1);
}

static void
test_validation(void **state)
{
	(void)state;
	assert_true(privnet_valid_id("abc-1.2_3"));
	assert_true(privnet_valid_id("A"));
	assert_false(privnet_valid_id(""));
	assert_false(privnet_valid_id("a/b"));
	assert_false(privnet_valid_id("../x"));
	assert_false(privnet_valid_id(".x"));
	assert_false(privnet_valid_id("-x"));
	assert_false(privnet_valid_id("a b"));
	assert_false(privnet_valid_id("a\nb"));
	/* QB_ID_MAX - 1 is the longest. */
	char id[QB_ID_MAX + 1];
	memset(id, 'a', sizeof(id));
	id[QB_ID_MAX - 1] = '\0';
	assert_true(privnet_valid_id(id));
	id[QB_ID_MAX - 1] = 'a';
	id[QB_ID_MAX] = '\0';
	assert_false(privnet_valid_id(id));

	assert_true(privnet_valid_ifname("eth0"));
	assert_true(privnet_valid_ifname("0123456789abcde"));   /* 15 */
	assert_false(privnet_valid_ifname("0123456789abcdef")); /* 16 */
	assert_false(privnet_valid_ifname(""));
	assert_false(privnet_valid_ifname(".."));
	assert_false(privnet_valid_ifname("a/b"));
	assert_false(privnet_valid_ifname("a b"));

	assert_true(privnet_valid_netns_path("/run/netns/cni-1234"));
	assert_true(privnet_valid_netns_path("/var/run/netns/cni-1234"));
	assert_false(privnet_valid_netns_path("../x"));
	assert_false(privnet_valid_netns_path("/run/netns/../x"));
	assert_false(privnet_valid_netns_path("/run/netns/.."));
	assert_false(privnet_valid_netns_path("/run/netns/a/b"));
	assert_false(privnet_valid_netns_path("/run/netns/"));
	assert_false(privnet_valid_netns_path("/run/netnsx"));
	assert_false(privnet_valid_netns_path("/proc/1/ns/net"));
	assert_false(privnet_valid_netns_path("/etc/passwd"));
	assert_false(privnet_valid_netns_path("run/netns/x"));
}

/* The shipped example must load and name Debian's plugins. */
static void
test_example_conflist(void **state)
{
	struct cni_conflist cl;
	struct qb_error err = {0};
	char *conf;
	size_t len;

	(void)state;
	if (cni_conflist_load("examples/cni/10-qemubox.conflist", &cl, &err) ==
	    -1)
		fail_msg("%s", err.msg);
	assert_string_equal(cl.name, "qemubox-net");
	assert_int_equal(cl.n_plugins, 2);
	assert_string_equal(cl.types[0], "bridge");
	assert_string_equal(cl.types[1], "firewall");
	conf = cni_plugin_config(&cl, 0, NULL, &len, &err);
	assert_non_null(strstr(conf, "\"qemubox0\""));
	free(conf);
	cni_conflist_free(&cl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_inject),
	    cmocka_unit_test(test_conflist_reject),
	    cmocka_unit_test(test_find_first),
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_example_conflist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

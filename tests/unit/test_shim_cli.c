#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim/shim_cli.h"
#include "shim/shim_delete.h"

static int
parse(struct shim_opts *o, struct qb_error *err, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"shim";
	va_start(ap, err);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	return shim_parse_args(argc, argv, o, err);
}

/* The exact argv containerd 1.6.20 passes to `start`. */
static void
test_flags_containerd_start(void **state)
{
	struct shim_opts o;
	struct qb_error err = {0};

	(void)state;
	assert_int_equal(
	    parse(&o, &err, "-namespace", "default", "-address",
	        "/run/containerd/containerd.sock", "-publish-binary",
	        "/usr/bin/containerd", "-id", "c1", "-debug", "start", NULL),
	    0);
	assert_string_equal(o.namespace, "default");
	assert_string_equal(o.address, "/run/containerd/containerd.sock");
	assert_string_equal(o.publish_binary, "/usr/bin/containerd");
	assert_string_equal(o.id, "c1");
	assert_true(o.debug);
	assert_string_equal(o.action, "start");
}

static void
test_flags_go_syntax(void **state)
{
	struct shim_opts o;
	struct qb_error err = {0};

	(void)state;
	assert_int_equal(parse(&o, &err, "--namespace=ns1", "-id=x", "--bundle",
	                     "/b", "-debug=false", "-socket", "-weird", NULL),
	    0);
	assert_string_equal(o.namespace, "ns1");
	assert_string_equal(o.id, "x");
	assert_string_equal(o.bundle, "/b");
	assert_false(o.debug);
	/* a string flag takes the next word even if it starts with '-' */
	assert_string_equal(o.socket, "-weird");
	assert_null(o.action);

	assert_int_equal(
	    parse(&o, &err, "-debug=t", "-v", "delete", "-id", "late", NULL),
	    0);
	assert_true(o.debug);
	assert_true(o.version);
	assert_string_equal(o.action, "delete");
	/* parsing stops at the first non-flag word */
	assert_string_equal(o.id, "");

	assert_int_equal(parse(&o, &err, "-id", "a", "--", "start", NULL), 0);
	assert_string_equal(o.action, "start");
	assert_int_equal(parse(&o, &err, "-", NULL), 0);
	assert_string_equal(o.action, "-");
	assert_int_equal(parse(&o, &err, "--check-config", NULL), 0);
	assert_true(o.check_config);
}

static void
test_flags_errors(void **state)
{
	struct shim_opts o;
	struct qb_error err = {0};

	(void)state;
	assert_int_equal(parse(&o, &err, "-nope", "x", NULL), -1);
	assert_int_equal(err.code, QB_E_INVALID);
	assert_non_null(strstr(err.msg, "-nope"));
	assert_int_equal(parse(&o, &err, "-id", NULL), -1);
	assert_non_null(strstr(err.msg, "needs an argument: -id"));
	assert_int_equal(parse(&o, &err, "-debug=maybe", NULL), -1);
	assert_non_null(strstr(err.msg, "maybe"));
	assert_int_equal(parse(&o, &err, "---id", "x", NULL), -1);
	assert_int_equal(parse(&o, &err, "-=x", NULL), -1);
}

static void
test_path_join(void **state)
{
	char out[PATH_MAX];

	(void)state;
	assert_int_equal(shim_path_join3("/run/containerd/containerd.sock",
	                     "default", "foo", out, sizeof(out)),
	    0);
	assert_string_equal(out, "/run/containerd/containerd.sock/default/foo");
	assert_int_equal(
	    shim_path_join3("/a//b/./", "ns", "../x", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b/x");
	assert_int_equal(shim_path_join3("/", "..", "..", out, sizeof(out)), 0);
	assert_string_equal(out, "/");
	assert_int_equal(
	    shim_path_join3("a", "", "../../b", out, sizeof(out)), 0);
	assert_string_equal(out, "../b");
	assert_int_equal(shim_path_join3("./", ".", "", out, sizeof(out)), 0);
	assert_string_equal(out, ".");
}

/* Vectors: printf '%s' /run/containerd/containerd.sock/default/foo | sha256sum
 */
static void
test_socket_address(void **state)
{
	char path[PATH_MAX], uri[SHIM_ADDR_MAX];

	(void)state;
	assert_int_equal(
	    shim_socket_path("/run/containerd/containerd.sock", "default",
	        "foo", path, sizeof(path), uri, sizeof(uri)),
	    0);
	assert_string_equal(path,
	    "/run/containerd/s/"
	    "0ef8ff6eee5e57db347888bf5cbc6792a6072d2620834fa5d518ce50f84567bf");
	assert_string_equal(uri,
	    "unix:///run/containerd/s/"
	    "0ef8ff6eee5e57db347888bf5cbc6792a6072d2620834fa5d518ce50f84567bf");
	/* the joined path is cleaned first, as Go's filepath.Join does */
	assert_int_equal(shim_socket_path("/run/containerd//containerd.sock/",
	                     "default", "foo", path, sizeof(path), NULL, 0),
	    0);
	assert_string_equal(path,
	    "/run/containerd/s/"
	    "0ef8ff6eee5e57db347888bf5cbc6792a6072d2620834fa5d518ce50f84567bf");
	assert_int_equal(shim_socket_path("/tmp/x/c.sock", "ns1", "pod-1", path,
	                     sizeof(path), NULL, 0),
	    0);
	assert_string_equal(path,
	    "/run/containerd/s/"
	    "45515afb9c16c5ee9c02bc669fca5b93273958c46ccae6aba44fa4460c54dede");
	assert_int_equal(
	    shim_socket_path("/a", "b", "c", path, 20, NULL, 0), -1);
}

static void
test_sha256_empty(void **state)
{
	char hex[65];

	(void)state;
	shim_sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e46"
	                         "49b934ca495991b7852b855");
}

static char tmpdir[PATH_MAX];

static int
mk_tmpdir(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(
	    tmpdir, sizeof(tmpdir), "%s/shimcli.XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
rm_tmpdir(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *name, const char *text)
{
	char p[PATH_MAX + 64];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
}

static void
test_group_from_spec(void **state)
{
	struct qb_error err = {0};
	char p[PATH_MAX + 32], group[256];

	(void)state;
	snprintf(p, sizeof(p), "%s/config.json", tmpdir);
	write_file("config.json", "{\"ociVersion\":\"1.0.2\"}");
	assert_int_equal(
	    shim_group_from_spec(p, "c1", group, sizeof(group), &err), 0);
	assert_string_equal(group, "c1");
	write_file("config.json",
	    "{\"annotations\":{"
	    "\"io.kubernetes.cri.sandbox-id\":\"pod9\"}}");
	assert_int_equal(
	    shim_group_from_spec(p, "c1", group, sizeof(group), &err), 0);
	assert_string_equal(group, "pod9");
	write_file("config.json", "{\"annotations\":{"
	                          "\"io.kubernetes.cri.sandbox-id\":\"pod9\","
	                          "\"io.containerd.runc.v2.group\":\"g\"}}");
	assert_int_equal(
	    shim_group_from_spec(p, "c1", group, sizeof(group), &err), 0);
	assert_string_equal(group, "g");
	write_file("config.json", "{not json");
	assert_int_equal(
	    shim_group_from_spec(p, "c1", group, sizeof(group), &err), -1);
	assert_non_null(strstr(err.msg, "config.json"));
}

static void
test_write_address(void **state)
{
	char cwd[PATH_MAX], buf[128];
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(shim_write_address("unix:///run/containerd/s/ab"), 0);
	assert_int_equal(access(".address", F_OK), -1);
	assert_non_null(f = fopen("address", "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, "unix:///run/containerd/s/ab");
	assert_int_equal(chdir(cwd), 0);
}

/* Hand-built bytes: 10 89 01 (exit_status 137), 1a 09 (exited_at, 9 bytes):
 * 08 80 cc a3 c9 06 (seconds 1764288000) 10 05 (nanos 5). */
static void
test_delete_response_golden(void **state)
{
	static const uint8_t want[] = {0x10, 0x89, 0x01, 0x1a, 0x08, 0x08, 0x80,
	    0xcc, 0xa3, 0xc9, 0x06, 0x10, 0x05};
	struct timespec at = {1764288000, 5};
	uint8_t buf[64];
	size_t n;

	(void)state;
	n = shim_encode_delete_response(buf, 0, 137, &at);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	/* pid present; zero time still sends an empty exited_at */
	at.tv_sec = 0;
	at.tv_nsec = 0;
	n = shim_encode_delete_response(buf, 300, 0, &at);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "\x08\xac\x02\x1a\x00", 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flags_containerd_start),
	    cmocka_unit_test(test_flags_go_syntax),
	    cmocka_unit_test(test_flags_errors),
	    cmocka_unit_test(test_path_join),
	    cmocka_unit_test(test_socket_address),
	    cmocka_unit_test(test_sha256_empty),
	    cmocka_unit_test_setup_teardown(
	        test_group_from_spec, mk_tmpdir, rm_tmpdir),
	    cmocka_unit_test_setup_teardown(
	        test_write_address, mk_tmpdir, rm_tmpdir),
	    cmocka_unit_test(test_delete_response_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

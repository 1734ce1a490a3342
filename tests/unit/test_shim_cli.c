#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/*
 * Protobuf by hand, with upstream's field numbers (containerd
 * api/runtime/bootstrap/v1/bootstrap.proto), independent of the decoder.
 */
static size_t
pb_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t
pb_str(uint8_t *p, unsigned field, const void *s, size_t len)
{
	size_t n = pb_varint(p, (uint64_t)field << 3 | 2);

	n += pb_varint(p + n, len);
	memcpy(p + n, s, len);
	return n + len;
}

#define PB_S(p, f, s) pb_str((p), (f), (s), strlen(s))

/* What containerd 2.3's Command() writes on start's stdin. */
static size_t
bootstrap_params(uint8_t *p, const char *version)
{
	uint8_t any[256], ext[300];
	size_t n = 0, na = 0, ne;

	na +=
	    PB_S(any + na, 1, "type.googleapis.com/runtimeoptions.v1.Options");
	na += PB_S(any + na, 2, "\x12\x0b/etc/x.toml");
	ne = pb_str(ext, 1, any, na); /* Extension{value = 1} */
	n += PB_S(p + n, 1, "c1");
	n += PB_S(p + n, 2, "k8s.io");
	n += pb_varint(p + n, 3 << 3 | 0); /* log_level DEBUG = -4 */
	n += pb_varint(p + n, (uint64_t)-4);
	if (version != NULL)
		n += PB_S(p + n, 4, version);
	n += PB_S(p + n, 5, "unix:///run/containerd/containerd.sock.ttrpc");
	n += PB_S(p + n, 6, "unix:///run/containerd/containerd.sock");
	n += PB_S(p + n, 7, "/usr/bin/containerd");
	n += pb_str(p + n, 8, ext, ne);
	return n;
}

static void
test_bootstrap_version(void **state)
{
	uint8_t buf[1024];
	char ver[64];
	size_t n;

	(void)state;
	n = bootstrap_params(buf, "2.3.4");
	assert_int_equal(shim_bootstrap_version(buf, n, ver, sizeof(ver)), 3);
	assert_string_equal(ver, "2.3.4");
	n = bootstrap_params(buf, "v2.4.0-beta.0");
	assert_int_equal(shim_bootstrap_version(buf, n, ver, sizeof(ver)), 3);
	n = bootstrap_params(buf, "10.0.0");
	assert_int_equal(shim_bootstrap_version(buf, n, NULL, 0), 3);
	/* A 1.x containerd would reject version 3. */
	n = bootstrap_params(buf, "1.7.24");
	assert_int_equal(shim_bootstrap_version(buf, n, ver, sizeof(ver)), 2);
	assert_string_equal(ver, "1.7.24");
	n = bootstrap_params(buf, NULL);
	assert_int_equal(shim_bootstrap_version(buf, n, ver, sizeof(ver)), 2);
	assert_string_equal(ver, "");
	/* Nothing on stdin (containerd 1.6 with no options, ctr). */
	assert_int_equal(shim_bootstrap_version(buf, 0, ver, sizeof(ver)), 2);
}

/* containerd 1.6-2.2 write the runtime options Any (or nothing) instead. */
static void
test_bootstrap_version_legacy_stdin(void **state)
{
	uint8_t buf[512];
	size_t n = 0;

	(void)state;
	n += PB_S(buf + n, 1, "runtimeoptions.v1.Options");
	n += PB_S(buf + n, 2, "\x12\x0b/etc/x.toml");
	assert_int_equal(shim_bootstrap_version(buf, n, NULL, 0), 2);
	/* Not protobuf at all: a truncated field. */
	assert_int_equal(shim_bootstrap_version((const uint8_t *)"\x22\x40"
	                                                         "ab",
	                     4, NULL, 0),
	    2);
}

static void
test_start_answer(void **state)
{
	const char *uri = "unix:///run/containerd/s/"
	                  "0123456789abcdef0123456789abcdef0123456789abcdef"
	                  "0123456789abcdef";
	char out[SHIM_ADDR_MAX + 64], want[256];

	(void)state;
	assert_int_equal(shim_start_answer(2, uri, out, sizeof(out)), 0);
	assert_string_equal(out, uri);
	assert_int_equal(shim_start_answer(3, uri, out, sizeof(out)), 0);
	snprintf(want, sizeof(want),
	    "{\"version\":3,\"address\":\"%s\",\"protocol\":\"ttrpc\"}", uri);
	assert_string_equal(out, want);
	assert_int_equal(shim_start_answer(4, uri, out, sizeof(out)), -1);
	assert_int_equal(
	    shim_start_answer(3, "unix:///a\"b", out, sizeof(out)), -1);
	assert_int_equal(shim_start_answer(3, uri, out, 40), -1);
}

/* stdin: a pipe is read to EOF; /dev/null is not read; a pipe nobody
 * writes to costs at most SHIM_STDIN_WAIT_MS. */
static void
test_read_stdin(void **state)
{
	uint8_t buf[64];
	struct timespec t0, t1;
	int p[2], fd;
	long ms;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1],
	                     "\x0a\x02"
	                     "c1",
	                     4),
	    4);
	close(p[1]);
	assert_int_equal(shim_read_stdin(p[0], buf, sizeof(buf)), 4);
	assert_memory_equal(buf,
	    "\x0a\x02"
	    "c1",
	    4);
	close(p[0]);

	assert_true((fd = open("/dev/null", O_RDONLY)) >= 0);
	assert_int_equal(shim_read_stdin(fd, buf, sizeof(buf)), 0);
	close(fd);

	assert_int_equal(pipe(p), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(shim_read_stdin(p[0], buf, sizeof(buf)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(
	    ms >= SHIM_STDIN_WAIT_MS - 50 && ms < SHIM_STDIN_WAIT_MS * 5);

	/* More than fits: an error, not a silently cut message. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(write(p[1], buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(p[1]);
	assert_int_equal(shim_read_stdin(p[0], buf, 16), -1);
	close(p[0]);
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
	    cmocka_unit_test(test_bootstrap_version),
	    cmocka_unit_test(test_bootstrap_version_legacy_stdin),
	    cmocka_unit_test(test_start_answer),
	    cmocka_unit_test(test_read_stdin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

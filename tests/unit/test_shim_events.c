/*
 * Event publisher: exact bytes of a TaskExit, and delivery to a fake
 * containerd events service over ttrpc: order kept, failures retried, the
 * envelope stamped, nothing blocking while containerd is away.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/ttrpc.h"
#include "proto/events_task.pb-c.h"
#include "proto/events_ttrpc.pb-c.h"
#include "shim/events.h"
#include "shim/shim_cli.h"

static void
test_task_exit_golden(void **state)
{
	/* 0a 02 "c1" | 12 02 "e1" | 18 2a | 20 89 01 |
	 * 2a 08 { 08 80 e2 cf aa 06 | 10 05 } */
	static const uint8_t want[] = {0x0a, 0x02, 'c', '1', 0x12, 0x02, 'e',
	    '1', 0x18, 0x2a, 0x20, 0x89, 0x01, 0x2a, 0x08, 0x08, 0x80, 0xe2,
	    0xcf, 0xaa, 0x06, 0x10, 0x05};
	struct ts_event ev = {.kind = TS_EV_EXIT,
	    .container_id = "c1",
	    .id = "e1",
	    .pid = 42,
	    .exit_status = 137,
	    .exited_at = {1700000000, 5}};
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = events_encode(&ev, &len);
	assert_non_null(buf);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	free(buf);
	assert_string_equal(events_topic(TS_EV_EXIT), "/tasks/exit");
	assert_string_equal(
	    events_type_url(TS_EV_EXIT), "containerd.events.TaskExit");
	assert_string_equal(events_type_url(TS_EV_EXEC_STARTED),
	    "containerd.events.TaskExecStarted");
	assert_string_equal(
	    events_topic(TS_EV_EXEC_ADDED), "/tasks/exec-added");
}

/*
 * Every kind but Create (an encoder of its own) from one event with
 * all fields set: each message takes the fields its type has. Bytes as
 * containerd's Go encoder lays them out (fields in number order).
 */
static void
test_every_kind_golden(void **state)
{
	static const struct {
		enum ts_event_kind kind;
		const char *hex;
	} want[] = {
	    {TS_EV_START, "0a026331102a"},
	    {TS_EV_EXIT, "0a02633112026531182a2089012a080880e2cfaa061005"},
	    {TS_EV_DELETE, "0a026331102a18890122080880e2cfaa0610052a026531"},
	    {TS_EV_OOM, "0a026331"},
	    {TS_EV_EXEC_ADDED, "0a02633112026531"},
	    {TS_EV_EXEC_STARTED, "0a02633112026531182a"},
	    {TS_EV_PAUSED, "0a026331"},
	    {TS_EV_RESUMED, "0a026331"},
	};
	struct ts_event ev = {.container_id = "c1",
	    .id = "e1",
	    .pid = 42,
	    .exit_status = 137,
	    .exited_at = {1700000000, 5}};
	char hex[256];
	uint8_t *buf;
	size_t len, i, j;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ev.kind = want[i].kind;
		buf = events_encode(&ev, &len);
		assert_non_null(buf);
		assert_true(2 * len < sizeof(hex));
		for (j = 0; j < len; j++)
			snprintf(hex + 2 * j, 3, "%02x", buf[j]);
		hex[2 * len] = '\0';
		free(buf);
		assert_string_equal(hex, want[i].hex);
	}
}

/* ---- a fake containerd events service ---- */

static char got[1024];
static int fail_next;
static int forwards;
static int bad_envelope;

static void
h_forward(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Services__Events__Ttrpc__V1__ForwardRequest *r =
	    (const void *)m;
	const Containerd__Services__Events__Ttrpc__V1__Envelope *e =
	    r->envelope;
	size_t l = strlen(got);

	(void)arg;
	forwards++;
	if (fail_next > 0) {
		fail_next--;
		ttrpc_call_reply_error(call, 14, "try later");
		return;
	}
	if (e == NULL || e->timestamp == NULL || e->timestamp->seconds == 0 ||
	    strcmp(e->namespace_, "ns1") != 0 || e->event == NULL ||
	    strncmp(e->event->type_url, "containerd.events.", 18) != 0)
		bad_envelope++;
	snprintf(got + l, sizeof(got) - l, "%s ", e ? e->topic : "?");
	ttrpc_call_reply(call, NULL);
}

static const struct ttrpc_method ev_methods[] = {
    {"Forward",
        &containerd__services__events__ttrpc__v1__forward_request__descriptor,
        h_forward},
};

static char dir[PATH_MAX], sock[PATH_MAX + 16];

static struct ttrpc_server *
fake_containerd(struct evloop *loop)
{
	struct ttrpc_server *srv = ttrpc_server_new(loop);
	int lfd;

	assert_non_null(srv);
	assert_int_equal(ttrpc_server_register(srv,
	                     "containerd.services.events.ttrpc.v1.Events",
	                     ev_methods, 1, NULL),
	    0);
	lfd = shim_socket_listen(sock);
	assert_true(lfd >= 0);
	assert_int_equal(ttrpc_server_listen_fd(srv, lfd), 0);
	return srv;
}

static void
emit3(struct events_pub *p)
{
	struct ts_event ev = {.container_id = "c1", .id = "", .pid = 7};

	ev.kind = TS_EV_CREATE;
	events_task_event(p, &ev);
	ev.kind = TS_EV_START;
	events_task_event(p, &ev);
	ev.kind = TS_EV_EXIT;
	ev.id = "c1";
	ev.exit_status = 137;
	events_task_event(p, &ev);
}

static void
test_forward_order_and_retry(void **state)
{
	struct evloop *loop = evloop_new();
	struct events_cfg cfg = {.ns = "ns1"};
	struct ttrpc_server *srv;
	struct events_pub *p;
	uint64_t t0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/shimev.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/c.sock.ttrpc", dir);
	cfg.ttrpc_address = sock;
	got[0] = '\0';
	forwards = bad_envelope = 0;

	/* containerd is not there yet: publishing must not block. */
	p = events_new(loop, &cfg);
	assert_non_null(p);
	t0 = evloop_now_ns();
	emit3(p);
	assert_true(evloop_now_ns() - t0 < 100000000ull);
	assert_int_equal(events_pending(p), 3);

	srv = fake_containerd(loop);
	fail_next = 1; /* and it refuses once when it is */
	assert_int_equal(events_drain(p, 5000), 0);
	assert_string_equal(got, "/tasks/create /tasks/start /tasks/exit ");
	assert_int_equal(bad_envelope, 0);
	assert_true(forwards >= 4);

	events_free(p);
	ttrpc_server_free(srv);
	evloop_free(loop);
	unlink(sock);
	rmdir(dir);
}

static void
on_sigchld(struct ev_signal *s, const struct signalfd_siginfo *si, void *arg)
{
	(void)s;
	(void)si;
	(void)arg;
	shim_children_reap();
}

/* No TTRPC_ADDRESS: exec the publish binary, the Any on its stdin. */
static void
test_publish_binary(void **state)
{
	struct evloop *loop = evloop_new();
	struct events_cfg cfg = {.ns = "ns1", .grpc_address = "/c.sock"};
	struct ev_signal *sig;
	struct events_pub *p;
	char script[PATH_MAX + 32], cmd[3 * PATH_MAX], buf[512];
	FILE *f;
	size_t n;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/shimpub.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/publish", dir);
	assert_non_null(f = fopen(script, "w"));
	/* Fails once (retry), then records its argv and stdin per call. */
	fprintf(f,
	    "#!/bin/sh\nd=%s\n"
	    "if [ ! -e $d/failed ]; then touch $d/failed; exit 1; fi\n"
	    "echo \"$*\" >>$d/args\ncat >>$d/stdin\n",
	    dir);
	fclose(f);
	assert_int_equal(chmod(script, 0755), 0);
	cfg.publish_binary = script;
	sig = evloop_signal_add(loop, SIGCHLD, on_sigchld, NULL);
	assert_non_null(sig);

	p = events_new(loop, &cfg);
	emit3(p);
	assert_int_equal(events_drain(p, 10000), 0);

	snprintf(cmd, sizeof(cmd), "%s/args", dir);
	assert_non_null(f = fopen(cmd, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf,
	    "--address /c.sock publish --topic /tasks/create --namespace ns1\n"
	    "--address /c.sock publish --topic /tasks/start --namespace ns1\n"
	    "--address /c.sock publish --topic /tasks/exit --namespace ns1\n");
	/* stdin: an Any whose type_url is the bare event name */
	snprintf(cmd, sizeof(cmd), "%s/stdin", dir);
	assert_non_null(f = fopen(cmd, "r"));
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 30);
	assert_int_equal(buf[0], 0x0a);
	assert_int_equal(buf[1], (char)strlen("containerd.events.TaskCreate"));
	assert_memory_equal(buf + 2, "containerd.events.TaskCreate", 28);

	events_free(p);
	evloop_signal_del(sig);
	evloop_free(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_task_exit_golden),
	    cmocka_unit_test(test_every_kind_golden),
	    cmocka_unit_test(test_forward_order_and_retry),
	    cmocka_unit_test(test_publish_binary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

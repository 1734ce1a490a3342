/*
 * lib/ttrpc server and client: golden frames, status codes, oversized and
 * even-id requests, concurrent out-of-order calls, deadlines, deferred
 * replies after the peer closed, extra frame types, the blocking helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/ttrpc.h"
#include "proto/task.pb-c.h"
#include "proto/ttrpc.pb-c.h"

/* A Task-like service: Start answers at once, Wait parks the call. */
struct svc {
	struct ttrpc_call *parked[8];
	int nparked;
	int cancelled;
	char ns[64];
};

static void
h_start(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__StartRequest *req = (const void *)m;
	Containerd__Task__V2__StartResponse resp;
	struct svc *s = arg;
	const char *ns = ttrpc_call_namespace(call);

	snprintf(s->ns, sizeof(s->ns), "%s", ns ? ns : "");
	if (strcmp(req->id, "missing") == 0) {
		struct qb_error err;
		qb_seterr(
		    &err, QB_E_NOTFOUND, "container %s not found", req->id);
		ttrpc_call_reply_qb(call, &err);
		return;
	}
	containerd__task__v2__start_response__init(&resp);
	resp.pid = 42;
	assert_int_equal(ttrpc_call_reply(call, &resp.base), 0);
}

static void
on_cancel(struct ttrpc_call *call, void *arg)
{
	struct svc *s = arg;

	(void)call;
	s->cancelled++;
}

static void
h_wait(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	struct svc *s = arg;

	(void)m;
	ttrpc_call_set_cancel(call, on_cancel, s);
	s->parked[s->nparked++] = call;
}

static const struct ttrpc_method task_methods[] = {
    {"Start", &containerd__task__v2__start_request__descriptor, h_start},
    {"Wait", &containerd__task__v2__wait_request__descriptor, h_wait},
};

static struct ttrpc_server *
new_server(struct evloop *loop, struct svc *s)
{
	struct ttrpc_server *srv = ttrpc_server_new(loop);

	assert_non_null(srv);
	assert_int_equal(ttrpc_server_register(srv, "containerd.task.v2.Task",
	                     task_methods, 2, s),
	    0);
	assert_int_equal(ttrpc_server_register(srv, "containerd.task.v3.Task",
	                     task_methods, 2, s),
	    0);
	return srv;
}

/* Write raw bytes, then run the loop until len bytes came back on fd. */
static size_t
roundtrip(struct evloop *loop, int fd, const void *out, size_t outlen,
    uint8_t *in, size_t want)
{
	size_t got = 0;
	int i;

	if (outlen > 0)
		assert_int_equal(write(fd, out, outlen), (ssize_t)outlen);
	for (i = 0; i < 200 && got < want; i++) {
		evloop_run_once(loop, 10);
		ssize_t n = read(fd, in + got, want - got);
		if (n > 0)
			got += (size_t)n;
	}
	return got;
}

static size_t
frame(uint8_t *out, uint32_t sid, uint8_t type, const uint8_t *data, size_t len)
{
	struct ttrpc_hdr h = {(uint32_t)len, sid, type, 0};

	ttrpc_hdr_encode(&h, out);
	if (len > 0)
		memcpy(out + TTRPC_HDR_LEN, data, len);
	return TTRPC_HDR_LEN + len;
}

static size_t
request_bytes(uint8_t *out, const char *service, const char *method,
    const uint8_t *payload, size_t plen)
{
	Ttrpc__Request r;

	ttrpc__request__init(&r);
	r.service = (char *)(uintptr_t)service;
	r.method = (char *)(uintptr_t)method;
	r.payload.data = (uint8_t *)(uintptr_t)payload;
	r.payload.len = plen;
	return ttrpc__request__pack(&r, out);
}

/* Decode a Response frame read raw; returns the status code. */
static int
response_code(
    const uint8_t *buf, size_t len, uint32_t sid, char *msg, size_t msglen)
{
	struct ttrpc_hdr h;
	Ttrpc__Response *r;
	int code;

	assert_true(len >= TTRPC_HDR_LEN);
	ttrpc_hdr_decode(buf, &h);
	assert_int_equal(h.type, TTRPC_T_RESPONSE);
	assert_int_equal(h.stream_id, sid);
	assert_int_equal(h.len, len - TTRPC_HDR_LEN);
	r = ttrpc__response__unpack(NULL, h.len, buf + TTRPC_HDR_LEN);
	assert_non_null(r);
	code = r->status ? r->status->code : 0;
	if (msg != NULL)
		snprintf(
		    msg, msglen, "%s", r->status ? r->status->message : "");
	ttrpc__response__free_unpacked(r, NULL);
	return code;
}

static void
test_server_golden_response(void **state)
{
	/* Start{id:"c1"} on stream 1 -> StartResponse{pid:42}, framed as
	 * 00 00 00 06 | 00 00 00 01 | 02 | 00 | 0a 00 (empty status, as
	 * Go sends) 12 02 08 2a (payload). */
	/* clang-format off */
	static const uint8_t want[] = { 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
		0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x12, 0x02, 0x08, 0x2a };
	/* clang-format on */
	static const uint8_t start_c1[] = {0x0a, 0x02, 'c', '1'};
	struct evloop *loop = evloop_new();
	struct svc s = {0};
	struct ttrpc_server *srv = new_server(loop, &s);
	uint8_t req[256], fr[300], in[64];
	size_t n;
	int sv[2];

	(void)state;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_non_null(ttrpc_conn_new(loop, sv[0], srv));
	n = request_bytes(req, "containerd.task.v2.Task", "Start", start_c1,
	    sizeof(start_c1));
	n = frame(fr, 1, TTRPC_T_REQUEST, req, n);
	assert_int_equal(
	    roundtrip(loop, sv[1], fr, n, in, sizeof(want)), sizeof(want));
	assert_memory_equal(in, want, sizeof(want));
	/* The v3 service name reaches the same table. */
	n = request_bytes(req, "containerd.task.v3.Task", "Start", start_c1,
	    sizeof(start_c1));
	n = frame(fr, 3, TTRPC_T_REQUEST, req, n);
	assert_int_equal(
	    roundtrip(loop, sv[1], fr, n, in, sizeof(want)), sizeof(want));
	assert_int_equal(in[7], 3);
	assert_memory_equal(in + 8, want + 8, sizeof(want) - 8);
	ttrpc_server_free(srv);
	evloop_free(loop);
	close(sv[1]);
}

static void
test_client_golden_request(void **state)
{
	/* Frame header for a 0x33-byte Request on stream 1, then the
	 * Request itself built by hand (WIRE.md §1.4 tags). */
	/* clang-format off */
	static const uint8_t want[] = {
		0x00, 0x00, 0x00, 0x39, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00,
		0x0a, 0x17, 'c', 'o', 'n', 't', 'a', 'i', 'n', 'e', 'r', 'd',
		'.', 't', 'a', 's', 'k', '.', 'v', '2', '.', 'T', 'a', 's',
		'k',
		0x12, 0x04, 'W', 'a', 'i', 't',
		0x1a, 0x04, 0x0a, 0x02, 'c', '1',
		0x2a, 0x12, 0x0a, 0x0c, 'x', '-', 'n', 'a', 'm', 'e', 's', 'p',
		'a', 'c', 'e', '1', 0x12, 0x02, 'n', 's',
	};
	/* clang-format on */
	struct evloop *loop = evloop_new();
	Containerd__Task__V2__WaitRequest wr;
	struct ttrpc_kv md = {"x-namespace1", "ns"};
	struct ttrpc_conn *c;
	uint8_t in[128];
	int sv[2];

	(void)state;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	c = ttrpc_conn_new(loop, sv[0], NULL);
	assert_non_null(c);
	containerd__task__v2__wait_request__init(&wr);
	wr.id = "c1";
	assert_int_equal(
	    ttrpc_call_start(c, "containerd.task.v2.Task", "Wait", &wr.base, 0,
	        &md, 1, (ttrpc_reply_fn)(uintptr_t)abort, NULL),
	    1);
	assert_int_equal(
	    roundtrip(loop, sv[1], NULL, 0, in, sizeof(want)), sizeof(want));
	assert_memory_equal(in, want, sizeof(want));
	/* Stream ids are odd and increase. */
	assert_int_equal(ttrpc_call_start(c, "s", "m", NULL, 0, NULL, 0,
	                     (ttrpc_reply_fn)(uintptr_t)abort, NULL),
	    3);
	ttrpc_call_abandon(c, 1);
	ttrpc_call_abandon(c, 3);
	ttrpc_conn_close(c);
	evloop_free(loop);
	close(sv[1]);
}

static void
test_status_codes(void **state)
{
	/* clang-format off */
	static const uint8_t start_missing[] = { 0x0a, 0x07, 'm', 'i', 's',
		's', 'i', 'n', 'g' };
	/* clang-format on */
	/* clang-format off */
	static const uint8_t garbage[] = { 0x0a, 0x09, 'x' }; /* truncated */
	struct evloop *loop = evloop_new();
	struct svc s = { 0 };
	/* clang-format on */
	struct ttrpc_server *srv = new_server(loop, &s);
	uint8_t req[256], fr[300], in[512];
	char msg[256];
	size_t n, got;
	int sv[2];

	(void)state;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_non_null(ttrpc_conn_new(loop, sv[0], srv));

	/* Unknown service -> Unimplemented "service X". */
	n = request_bytes(req, "nope.Svc", "Start", NULL, 0);
	n = frame(fr, 1, TTRPC_T_REQUEST, req, n);
	got = roundtrip(loop, sv[1], fr, n, in, TTRPC_HDR_LEN);
	{
		struct ttrpc_hdr h;
		ttrpc_hdr_decode(in, &h);
		got += roundtrip(loop, sv[1], NULL, 0, in + got, h.len);
	}
	assert_int_equal(
	    response_code(in, got, 1, msg, sizeof(msg)), QB_E_UNIMPLEMENTED);
	assert_string_equal(msg, "service nope.Svc");

#define ASK(sid, svc, meth, pl, pllen, code, text)                        \
	do {                                                              \
		struct ttrpc_hdr h_;                                      \
		n = request_bytes(req, svc, meth, pl, pllen);             \
		n = frame(fr, sid, TTRPC_T_REQUEST, req, n);              \
		got = roundtrip(loop, sv[1], fr, n, in, TTRPC_HDR_LEN);   \
		assert_int_equal(got, TTRPC_HDR_LEN);                     \
		ttrpc_hdr_decode(in, &h_);                                \
		got += roundtrip(loop, sv[1], NULL, 0, in + got, h_.len); \
		assert_int_equal(                                         \
		    response_code(in, got, sid, msg, sizeof(msg)), code); \
		if (text != NULL)                                         \
			assert_string_equal(msg, text);                   \
	} while (0)

	ASK(3, "containerd.task.v2.Task", "Frobnicate", NULL, 0,
	    QB_E_UNIMPLEMENTED, "method Frobnicate");
	ASK(5, "containerd.task.v2.Task", "Start", garbage, sizeof(garbage),
	    QB_E_INTERNAL, (const char *)NULL);
	ASK(7, "containerd.task.v2.Task", "Start", start_missing,
	    sizeof(start_missing), QB_E_NOTFOUND,
	    "container missing not found");
	/* Even stream id -> InvalidArgument on that id. */
	ASK(8, "containerd.task.v2.Task", "Start", NULL, 0, QB_E_INVALID,
	    "StreamID must be odd for client initiated streams");
	/* Re-used / decreasing id -> InvalidArgument (ttrpc >= 1.2). */
	ASK(5, "containerd.task.v2.Task", "Start", NULL, 0, QB_E_INVALID,
	    (const char *)NULL);
	/* The connection still serves after all of that. */
	ASK(9, "containerd.task.v2.Task", "Start", NULL, 0, QB_E_OK,
	    (const char *)NULL);
	ttrpc_server_free(srv);
	evloop_free(loop);
	close(sv[1]);
}

static void
test_oversized_request(void **state)
{
	struct evloop *loop = evloop_new();
	struct svc s = {0};
	struct ttrpc_server *srv = new_server(loop, &s);
	struct ttrpc_hdr h = {TTRPC_MAX_DATA + 1, 11, TTRPC_T_REQUEST, 0};
	uint8_t hdr[TTRPC_HDR_LEN], in[512], req[256], fr[300];
	static uint8_t junk[65536];
	char msg[256];
	size_t sent = 0, got, n;
	int sv[2];

	(void)state;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_non_null(ttrpc_conn_new(loop, sv[0], srv));
	ttrpc_hdr_encode(&h, hdr);
	assert_int_equal(write(sv[1], hdr, sizeof(hdr)), sizeof(hdr));
	/* Push the 4 MiB + 1 body while the server discards it. */
	while (sent < h.len) {
		size_t chunk =
		    h.len - sent < sizeof(junk) ? h.len - sent : sizeof(junk);
		ssize_t w = write(sv[1], junk, chunk);
		if (w > 0)
			sent += (size_t)w;
		evloop_run_once(loop, 0);
	}
	got = 0;
	for (int i = 0; i < 100 && got < TTRPC_HDR_LEN; i++) {
		evloop_run_once(loop, 10);
		ssize_t r = read(sv[1], in + got, TTRPC_HDR_LEN - got);
		if (r > 0)
			got += (size_t)r;
	}
	{
		struct ttrpc_hdr rh;
		ttrpc_hdr_decode(in, &rh);
		got += roundtrip(loop, sv[1], NULL, 0, in + got, rh.len);
	}
	assert_int_equal(
	    response_code(in, got, 11, msg, sizeof(msg)), QB_E_EXHAUSTED);
	/* Next request on the same connection works. */
	n = request_bytes(req, "containerd.task.v2.Task", "Start", NULL, 0);
	n = frame(fr, 13, TTRPC_T_REQUEST, req, n);
	got = roundtrip(loop, sv[1], fr, n, in, 16);
	assert_int_equal(response_code(in, got, 13, NULL, 0), 0);
	ttrpc_server_free(srv);
	evloop_free(loop);
	close(sv[1]);
}

/* Client + server in one loop over a socketpair. */
struct pair {
	struct evloop *loop;
	struct ttrpc_server *srv;
	struct ttrpc_conn *cli;
	struct ttrpc_conn *sconn;
	struct svc s;
};

static void
remember_conn(struct ttrpc_conn *c, void *arg)
{
	struct pair *p = arg;

	p->sconn = c;
}

static void
forget_conn(struct ttrpc_conn *c, void *arg)
{
	struct pair *p = arg;

	if (p->sconn == c)
		p->sconn = NULL;
}

static void
pair_setup(struct pair *p)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	p->loop = evloop_new();
	p->srv = new_server(p->loop, &p->s);
	ttrpc_server_set_conn_cbs(p->srv, remember_conn, forget_conn, p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_non_null(ttrpc_conn_new(p->loop, sv[0], p->srv));
	assert_non_null(p->sconn);
	p->cli = ttrpc_conn_new(p->loop, sv[1], NULL);
	assert_non_null(p->cli);
}

static void
pair_teardown(struct pair *p)
{
	if (p->cli != NULL)
		ttrpc_conn_close(p->cli);
	ttrpc_server_free(p->srv);
	evloop_free(p->loop);
}

struct answer {
	int done;
	int code;
	char msg[128];
	uint32_t exit_status;
	int order;
};

static int answer_seq;

static void
got_wait(const struct ttrpc_result *res, void *arg)
{
	struct answer *a = arg;

	a->done = 1;
	a->order = ++answer_seq;
	a->code = res->code;
	snprintf(
	    a->msg, sizeof(a->msg), "%s", res->message ? res->message : "");
	if (res->code == 0) {
		Containerd__Task__V2__WaitResponse *w =
		    containerd__task__v2__wait_response__unpack(
		        NULL, res->len, res->payload);
		assert_non_null(w);
		a->exit_status = w->exit_status;
		containerd__task__v2__wait_response__free_unpacked(w, NULL);
	}
}

static void
run_until(struct evloop *loop, int *flag)
{
	int i;

	for (i = 0; i < 500 && !*flag; i++)
		evloop_run_once(loop, 10);
	assert_true(*flag);
}

static void
reply_wait(struct ttrpc_call *call, uint32_t status)
{
	Containerd__Task__V2__WaitResponse w;

	containerd__task__v2__wait_response__init(&w);
	w.exit_status = status;
	assert_int_equal(ttrpc_call_reply(call, &w.base), 0);
}

static void
test_concurrent_out_of_order(void **state)
{
	Containerd__Task__V2__WaitRequest wr;
	struct ttrpc_kv md = {"Containerd-Namespace-Ttrpc", "k8s.io"};
	struct answer a[3] = {0};
	struct pair p;
	int i;

	(void)state;
	pair_setup(&p);
	containerd__task__v2__wait_request__init(&wr);
	wr.id = "c1";
	for (i = 0; i < 3; i++)
		assert_int_equal(
		    ttrpc_call_start(p.cli, "containerd.task.v2.Task", "Wait",
		        &wr.base, 0, &md, 1, got_wait, &a[i]),
		    (uint32_t)(2 * i + 1));
	while (p.s.nparked < 3)
		assert_true(evloop_run_once(p.loop, 1000) >= 0);
	/* Metadata lookups ignore case. */
	assert_string_equal(ttrpc_call_namespace(p.s.parked[0]), "k8s.io");
	/* Answer 3rd, 1st, 2nd; the loop keeps serving meanwhile. */
	answer_seq = 0;
	reply_wait(p.s.parked[2], 3);
	run_until(p.loop, &a[2].done);
	{
		struct answer st = {0};
		Containerd__Task__V2__StartRequest sr;
		containerd__task__v2__start_request__init(&sr);
		sr.id = "c9";
		assert_true(
		    ttrpc_call_start(p.cli, "containerd.task.v2.Task", "Start",
		        &sr.base, 0, NULL, 0, got_wait, &st) > 0);
		run_until(p.loop, &st.done);
		assert_int_equal(st.code, 0);
	}
	reply_wait(p.s.parked[0], 1);
	reply_wait(p.s.parked[1], 2);
	run_until(p.loop, &a[0].done);
	run_until(p.loop, &a[1].done);
	for (i = 0; i < 3; i++) {
		assert_int_equal(a[i].code, 0);
		assert_int_equal(a[i].exit_status, (uint32_t)(i + 1));
	}
	assert_int_equal(a[2].order, 1);
	assert_true(a[0].order < a[1].order);
	pair_teardown(&p);
}

static void
test_deferred_reply_after_close(void **state)
{
	Containerd__Task__V2__WaitRequest wr;
	struct answer a = {0};
	struct ttrpc_call *call;
	struct pair p;

	(void)state;
	pair_setup(&p);
	containerd__task__v2__wait_request__init(&wr);
	assert_true(ttrpc_call_start(p.cli, "containerd.task.v2.Task", "Wait",
	                &wr.base, 0, NULL, 0, got_wait, &a) > 0);
	while (p.s.nparked < 1)
		assert_true(evloop_run_once(p.loop, 1000) >= 0);
	call = p.s.parked[0];
	/* The client goes away: its pending call fails with Unavailable,
	 * the server side notices EOF and cancels the parked call. */
	ttrpc_conn_close(p.cli);
	p.cli = NULL;
	assert_true(a.done);
	assert_int_equal(a.code, QB_E_UNAVAILABLE);
	while (p.sconn != NULL)
		assert_true(evloop_run_once(p.loop, 1000) >= 0);
	assert_int_equal(p.s.cancelled, 1);
	assert_true(ttrpc_call_cancelled(call));
	assert_null(ttrpc_call_conn(call));
	/* The handler answers later; nothing is sent, nothing leaks, no
	 * use after free (ASan). */
	reply_wait(call, 0);
	pair_teardown(&p);
}

static void
test_deadlines(void **state)
{
	Containerd__Task__V2__WaitRequest wr;
	struct answer a = {0}, b = {0};
	struct pair p;
	uint64_t t0;

	(void)state;
	pair_setup(&p);
	containerd__task__v2__wait_request__init(&wr);
	/* Server side: timeout_nano 30 ms and a handler that never answers:
	 * the server answers DeadlineExceeded by itself and cancels. */
	{
		Ttrpc__Request r;
		uint8_t req[128], fr[160], in[128];
		size_t n, got;
		int sv[2];
		struct ttrpc_hdr h;

		assert_int_equal(
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
		assert_non_null(ttrpc_conn_new(p.loop, sv[0], p.srv));
		ttrpc__request__init(&r);
		r.service = "containerd.task.v2.Task";
		r.method = "Wait";
		r.timeout_nano = 30000000;
		n = ttrpc__request__pack(&r, req);
		n = frame(fr, 1, TTRPC_T_REQUEST, req, n);
		t0 = evloop_now_ns();
		got = roundtrip(p.loop, sv[1], fr, n, in, TTRPC_HDR_LEN);
		assert_int_equal(got, TTRPC_HDR_LEN);
		ttrpc_hdr_decode(in, &h);
		got += roundtrip(p.loop, sv[1], NULL, 0, in + got, h.len);
		assert_int_equal(
		    response_code(in, got, 1, NULL, 0), QB_E_DEADLINE);
		assert_true(evloop_now_ns() - t0 >= 30000000);
		assert_int_equal(p.s.nparked, 1);
		assert_int_equal(p.s.cancelled, 1);
		assert_true(ttrpc_call_cancelled(p.s.parked[0]));
		ttrpc_call_release(p.s.parked[0]);
		close(sv[1]);
		(void)a;
	}
	/* Client side: an unanswered call without server deadline. Make the
	 * server not see it by abandoning nothing: the server parks it; the
	 * client gives up at its own timeout. */
	{
		struct ttrpc_conn *c2;
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		c2 = ttrpc_conn_new(p.loop, sv[0], NULL);
		assert_non_null(c2);
		/* Nobody answers on sv[1]. */
		assert_true(ttrpc_call_start(c2, "x", "y", NULL, 20000000, NULL,
		                0, got_wait, &b) > 0);
		run_until(p.loop, &b.done);
		assert_int_equal(b.code, QB_E_DEADLINE);
		ttrpc_conn_close(c2);
		close(sv[1]);
	}
	pair_teardown(&p);
}

/* Extra frame types multiplexed on the same stream, both ways. */
static int extra_seen;

static int
on_extra(struct ttrpc_conn *c, const struct ttrpc_hdr *h, const uint8_t *data,
    void *arg)
{
	(void)arg;
	if (h->type == 0x2f)
		return -1; /* a protocol violation closes the connection */
	assert_int_equal(h->type, 0x20);
	assert_int_equal(h->len, 3);
	assert_memory_equal(data, "out", 3);
	extra_seen++;
	/* Answer with our own frame type. */
	assert_int_equal(
	    ttrpc_conn_send_frame(c, h->stream_id, 0x21, 0, "ack", 3), 0);
	return 0;
}

static int cli_extra_seen;

static int
on_cli_extra(struct ttrpc_conn *c, const struct ttrpc_hdr *h,
    const uint8_t *data, void *arg)
{
	(void)c;
	(void)arg;
	assert_int_equal(h->type, 0x21);
	assert_memory_equal(data, "ack", 3);
	cli_extra_seen++;
	return 0;
}

static void
test_extra_frames(void **state)
{
	struct answer a = {0};
	struct pair p;

	(void)state;
	pair_setup(&p);
	ttrpc_conn_set_extra(p.sconn, on_extra, NULL);
	ttrpc_conn_set_extra(p.cli, on_cli_extra, NULL);
	extra_seen = cli_extra_seen = 0;
	assert_int_equal(ttrpc_conn_send_frame(p.cli, 7, 0x20, 0, "out", 3), 0);
	/* Interleaved with an RPC. */
	assert_true(ttrpc_call_start(p.cli, "containerd.task.v2.Task", "Start",
	                NULL, 0, NULL, 0, got_wait, &a) > 0);
	run_until(p.loop, &a.done);
	run_until(p.loop, &cli_extra_seen);
	assert_int_equal(extra_seen, 1);
	assert_int_equal(a.code, 0);
	/* Unknown non-extra type (Data, 0x03) is ignored. */
	assert_int_equal(ttrpc_conn_send_frame(p.cli, 9, 0x03, 0, "d", 1), 0);
	evloop_run_once(p.loop, 20);
	assert_non_null(p.sconn);
	/* A violation reported by the callback closes that connection. */
	assert_int_equal(ttrpc_conn_send_frame(p.cli, 9, 0x2f, 0, "bad", 3), 0);
	while (p.sconn != NULL)
		assert_true(evloop_run_once(p.loop, 1000) >= 0);
	pair_teardown(&p);
}

/* Many calls in flight on one connection: every callback runs exactly
 * once with its own answer. Prints the rate as a TAP diagnostic. */
struct burst {
	int done, bad, inflight, started;
	struct ttrpc_conn *c;
};

static void burst_next(struct burst *b);

static void
burst_cb(const struct ttrpc_result *res, void *arg)
{
	struct burst *b = arg;
	Containerd__Task__V2__StartResponse *r;

	r = containerd__task__v2__start_response__unpack(
	    NULL, res->len, res->payload);
	if (res->code != 0 || r == NULL || r->pid != 42)
		b->bad++;
	if (r != NULL)
		containerd__task__v2__start_response__free_unpacked(r, NULL);
	b->done++;
	b->inflight--;
	burst_next(b);
}

#define BURST_TOTAL  5000
#define BURST_WINDOW 32

static void
burst_next(struct burst *b)
{
	Containerd__Task__V2__StartRequest sr;

	containerd__task__v2__start_request__init(&sr);
	sr.id = "c1";
	while (b->inflight < BURST_WINDOW && b->started < BURST_TOTAL) {
		assert_true(
		    ttrpc_call_start(b->c, "containerd.task.v2.Task", "Start",
		        &sr.base, 5000000000ull, NULL, 0, burst_cb, b) > 0);
		b->inflight++;
		b->started++;
	}
}

static void
test_many_calls_in_flight(void **state)
{
	struct burst b = {0};
	struct pair p;
	uint64_t t0, el;

	(void)state;
	pair_setup(&p);
	b.c = p.cli;
	t0 = evloop_now_ns();
	burst_next(&b);
	while (b.done < BURST_TOTAL)
		assert_true(evloop_run_once(p.loop, 1000) >= 0);
	el = evloop_now_ns() - t0;
	assert_int_equal(b.bad, 0);
	print_message("# %d unary calls, %d in flight, in %.1f ms "
	              "(%.0f calls/s, ASan build)\n",
	    BURST_TOTAL, BURST_WINDOW, el / 1e6, BURST_TOTAL / (el / 1e9));
	pair_teardown(&p);
}

/* Blocking helper against a server in a child process on a unix socket;
 * also exercises listen_fd, several connections and SO_PEERCRED. */
static void
test_sync_over_unix_socket(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char dir[64], path[96];
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	Containerd__Task__V2__StartRequest sr;
	ProtobufCMessage *resp = NULL;
	struct qb_error err = {0};
	int lfd, fd, fd2, st;
	pid_t pid;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/qb-ttrpc-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct evloop *loop = evloop_new();
		struct svc s = {0};
		struct ttrpc_server *srv = new_server(loop, &s);
		ttrpc_server_require_same_uid(srv, 1);
		if (ttrpc_server_listen_fd(srv, lfd) == -1)
			_exit(1);
		alarm(10);
		evloop_run(loop);
		_exit(0);
	}
	close(lfd);
	containerd__task__v2__start_request__init(&sr);
	sr.id = "c1";
	fd = ttrpc_dial_unix(path);
	assert_true(fd >= 0);
	fd2 = ttrpc_dial_unix(path + 0);
	assert_true(fd2 >= 0);
	assert_int_equal(ttrpc_peercred_check(fd), 0);
	/* Second connection first: connections are independent. */
	assert_int_equal(
	    ttrpc_call_sync(fd2, "containerd.task.v2.Task", "Start", &sr.base,
	        2000000000ull, NULL, 0,
	        &containerd__task__v2__start_response__descriptor, &resp, &err),
	    0);
	assert_int_equal(
	    ((Containerd__Task__V2__StartResponse *)resp)->pid, 42);
	protobuf_c_message_free_unpacked(resp, NULL);
	sr.id = "missing";
	assert_int_equal(
	    ttrpc_call_sync(fd, "containerd.task.v2.Task", "Start", &sr.base,
	        2000000000ull, NULL, 0, NULL, NULL, &err),
	    -1);
	assert_int_equal(err.code, QB_E_NOTFOUND);
	assert_string_equal(err.msg, "container missing not found");
	/* A parked call times out on the client side. */
	{
		char up[140];
		snprintf(up, sizeof(up), "unix://%s", path);
		int fd3 = ttrpc_dial_unix(up);
		assert_true(fd3 >= 0);
		assert_int_equal(
		    ttrpc_call_sync(fd3, "containerd.task.v2.Task", "Wait",
		        NULL, 50000000ull, NULL, 0, NULL, NULL, &err),
		    -1);
		assert_int_equal(err.code, QB_E_DEADLINE);
		close(fd3);
	}
	close(fd);
	close(fd2);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_server_golden_response),
	    cmocka_unit_test(test_client_golden_request),
	    cmocka_unit_test(test_status_codes),
	    cmocka_unit_test(test_oversized_request),
	    cmocka_unit_test(test_concurrent_out_of_order),
	    cmocka_unit_test(test_deferred_reply_after_close),
	    cmocka_unit_test(test_deadlines),
	    cmocka_unit_test(test_extra_frames),
	    cmocka_unit_test(test_many_calls_in_flight),
	    cmocka_unit_test(test_sync_over_unix_socket),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * lib/chan: framing, per-stream credit, and the host's validation of
 * everything the (untrusted) guest sends.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/chan.h"
#include "lib/chan_rpc.h"

struct sink {
	int requests, responses, events, closes;
	uint32_t last_sid;
	size_t req_len;
	uint8_t *data;
	size_t data_len, data_cap;
	int want_write;
	bool reject_response;
};

static void
on_request(struct chan *ch, uint32_t sid, const uint8_t *p, size_t n, void *arg)
{
	struct sink *k = arg;

	(void)ch;
	(void)p;
	k->requests++;
	k->last_sid = sid;
	k->req_len = n;
}

static int
on_response(
    struct chan *ch, uint32_t sid, const uint8_t *p, size_t n, void *arg)
{
	struct sink *k = arg;

	(void)ch;
	(void)p;
	(void)n;
	if (k->reject_response)
		return -1;
	k->responses++;
	k->last_sid = sid;
	return 0;
}

static int
on_event(struct chan *ch, const uint8_t *p, size_t n, void *arg)
{
	struct sink *k = arg;

	(void)ch;
	(void)p;
	(void)n;
	k->events++;
	return 0;
}

static void
want_write(struct chan *ch, int on, void *arg)
{
	struct sink *k = arg;

	(void)ch;
	k->want_write = on;
}

static const struct chan_ops ops = {
    .on_request = on_request,
    .on_response = on_response,
    .on_event = on_event,
    .want_write = want_write,
};

static void
s_data(struct chan_stream *s, const uint8_t *p, size_t n, void *arg)
{
	struct sink *k = arg;

	(void)s;
	if (k->data_len + n > k->data_cap) {
		k->data_cap = (k->data_len + n) * 2;
		k->data = realloc(k->data, k->data_cap);
		assert_non_null(k->data);
	}
	memcpy(k->data + k->data_len, p, n);
	k->data_len += n;
}

static void
s_close(struct chan_stream *s, void *arg)
{
	struct sink *k = arg;

	(void)s;
	k->closes++;
}

static const struct chan_stream_ops sops = {
    .on_data = s_data, .on_close = s_close};

static size_t
frame(uint8_t *out, uint32_t len, uint32_t sid, uint8_t type, const void *p)
{
	chan_hdr_encode(out, len, sid, type, 0);
	if (len > 0 && p != NULL)
		memcpy(out + CHAN_HDR_LEN, p, len);
	return CHAN_HDR_LEN + len;
}

static void
test_header_golden(void **state)
{
	uint8_t h[CHAN_HDR_LEN];
	const uint8_t want[CHAN_HDR_LEN] = {
	    0, 0, 0x01, 0x02, 0, 0, 0, 7, 0x20, 0};

	(void)state;
	chan_hdr_encode(h, 0x102, 7, CHAN_T_DATA, 0);
	assert_memory_equal(h, want, sizeof(want));
}

/* Frames split at every byte boundary still reassemble. */
static void
test_bytewise_input(void **state)
{
	struct sink k = {0};
	struct chan *g = chan_new(-1, CHAN_GUEST, &ops, &k);
	uint8_t buf[64];
	size_t n, i;

	(void)state;
	n = frame(buf, 5, 3, CHAN_T_REQUEST, "hello");
	n += frame(buf + n, 0, 5, CHAN_T_REQUEST, NULL);
	for (i = 0; i < n; i++)
		assert_int_equal(chan_input(g, buf + i, 1), 0);
	assert_int_equal(k.requests, 2);
	assert_int_equal(k.last_sid, 5);
	assert_int_equal(k.req_len, 0);
	chan_free(g);
}

static void
expect_violation(
    enum chan_role role, const uint8_t *buf, size_t n, bool open_recv)
{
	struct sink k = {0};
	struct chan *c = chan_new(-1, role, &ops, &k);

	if (open_recv)
		assert_non_null(chan_stream_open(c, 9, CHAN_RECV, &sops, &k));
	assert_int_equal(chan_input(c, buf, n), -1);
	assert_int_equal(errno, EPROTO);
	assert_true(chan_failed(c));
	/* A failed channel stays failed. */
	assert_int_equal(chan_input(c, buf, 1), -1);
	free(k.data);
	chan_free(c);
}

static void
test_host_rejects(void **state)
{
	uint8_t buf[CHAN_HDR_LEN + 16];
	uint8_t big[CHAN_HDR_LEN];

	(void)state;
	/* A request is not something a guest may send. */
	expect_violation(
	    CHAN_HOST, buf, frame(buf, 0, 1, CHAN_T_REQUEST, NULL), false);
	/* Unknown type. */
	expect_violation(CHAN_HOST, buf, frame(buf, 0, 1, 0x7f, NULL), false);
	/* Oversized response: refused from the header alone. */
	chan_hdr_encode(big, CHAN_MAX_RPC + 1, 1, CHAN_T_RESPONSE, 0);
	expect_violation(CHAN_HOST, big, sizeof(big), false);
	/* Oversized data frame. */
	chan_hdr_encode(big, CHAN_MAX_DATA + 1, 9, CHAN_T_DATA, 0);
	expect_violation(CHAN_HOST, big, sizeof(big), true);
	/* Data on a stream the host did not open. */
	expect_violation(
	    CHAN_HOST, buf, frame(buf, 3, 11, CHAN_T_DATA, "abc"), true);
	/* Credit frame of the wrong size. */
	expect_violation(
	    CHAN_HOST, buf, frame(buf, 3, 9, CHAN_T_CREDIT, "abc"), true);
	/* Close frame with a payload. */
	expect_violation(
	    CHAN_HOST, buf, frame(buf, 1, 9, CHAN_T_CLOSE, "x"), true);
	/* Event on a nonzero stream id. */
	expect_violation(
	    CHAN_HOST, buf, frame(buf, 1, 3, CHAN_T_EVENT, "x"), false);
	/* Data on stream 0. */
	expect_violation(
	    CHAN_HOST, buf, frame(buf, 1, 0, CHAN_T_DATA, "x"), false);
	/* Close of a stream never opened. */
	expect_violation(
	    CHAN_HOST, buf, frame(buf, 0, 12, CHAN_T_CLOSE, NULL), true);
}

static void
test_host_rejects_bad_response(void **state)
{
	struct sink k = {.reject_response = true};
	struct chan *c = chan_new(-1, CHAN_HOST, &ops, &k);
	uint8_t buf[32];

	(void)state;
	assert_int_equal(
	    chan_input(c, buf, frame(buf, 2, 1, CHAN_T_RESPONSE, "xx")), -1);
	assert_int_equal(errno, EPROTO);
	chan_free(c);
}

/* The guest may not send more than the host granted. */
static void
test_host_enforces_credit(void **state)
{
	struct sink k = {0};
	struct chan *c = chan_new(-1, CHAN_HOST, &ops, &k);
	struct chan_stream *s = chan_stream_open(c, 9, CHAN_RECV, &sops, &k);
	uint8_t *buf = calloc(1, CHAN_HDR_LEN + CHAN_MAX_DATA);
	size_t i;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < CHAN_WINDOW / CHAN_MAX_DATA; i++)
		assert_int_equal(
		    chan_input(c, buf,
		        frame(buf, CHAN_MAX_DATA, 9, CHAN_T_DATA, NULL)),
		    0);
	assert_int_equal(k.data_len, CHAN_WINDOW);
	/* Window exhausted: one more byte is a violation. */
	assert_int_equal(
	    chan_input(c, buf, frame(buf, 1, 9, CHAN_T_DATA, "z")), -1);
	assert_int_equal(errno, EPROTO);
	free(buf);
	free(k.data);
	chan_free(c);
}

static void
test_credit_beyond_window(void **state)
{
	struct sink k = {0};
	struct chan *c = chan_new(-1, CHAN_HOST, &ops, &k);
	uint8_t buf[32];
	const uint8_t one[4] = {0, 0, 0, 1};

	(void)state;
	assert_non_null(chan_stream_open(c, 4, CHAN_SEND, NULL, NULL));
	/* A SEND stream starts with a full window: any grant overflows it. */
	assert_int_equal(
	    chan_input(c, buf, frame(buf, 4, 4, CHAN_T_CREDIT, one)), -1);
	chan_free(c);
}

/* The guest ignores late frames for streams it dropped. */
static void
test_guest_tolerates_late_frames(void **state)
{
	struct sink k = {0};
	struct chan *g = chan_new(-1, CHAN_GUEST, &ops, &k);
	uint8_t buf[64];
	const uint8_t one[4] = {0, 0, 0, 1};

	(void)state;
	assert_int_equal(
	    chan_input(g, buf, frame(buf, 3, 77, CHAN_T_DATA, "abc")), 0);
	assert_int_equal(
	    chan_input(g, buf, frame(buf, 0, 77, CHAN_T_CLOSE, NULL)), 0);
	assert_int_equal(
	    chan_input(g, buf, frame(buf, 4, 77, CHAN_T_CREDIT, one)), 0);
	assert_false(chan_failed(g));
	chan_free(g);
}

/* A released receiving stream swallows data until CLOSE, then is gone. */
static void
test_release_discards(void **state)
{
	struct sink k = {0};
	struct chan *c = chan_new(-1, CHAN_HOST, &ops, &k);
	struct chan_stream *s = chan_stream_open(c, 9, CHAN_RECV, &sops, &k);
	uint8_t *buf = calloc(1, CHAN_HDR_LEN + CHAN_MAX_DATA);
	int i;

	(void)state;
	chan_stream_release(s);
	for (i = 0; i < 16; i++)
		assert_int_equal(
		    chan_input(c, buf,
		        frame(buf, CHAN_MAX_DATA, 9, CHAN_T_DATA, NULL)),
		    0);
	assert_int_equal(k.data_len, 0);
	assert_int_equal(
	    chan_input(c, buf, frame(buf, 0, 9, CHAN_T_CLOSE, NULL)), 0);
	assert_null(chan_stream_find(c, 9));
	assert_int_equal(k.closes, 0);
	free(buf);
	chan_free(c);
}

static void
pump(struct chan *a, struct chan *b)
{
	assert_int_equal(chan_flush(a), 0);
	assert_int_equal(chan_flush(b), 0);
	assert_int_equal(chan_read(a), 0);
	assert_int_equal(chan_read(b), 0);
}

/*
 * End to end over a socketpair: the guest can send only a window ahead of
 * what the host consumer took; granting lets the rest through, intact.
 */
static void
test_pair_flow_control(void **state)
{
	struct sink hk = {0}, gk = {0};
	int sv[2];
	struct chan *h, *g;
	struct chan_stream *hs, *gs;
	size_t total = 3 * CHAN_WINDOW + 12345, sent = 0, granted = 0;
	uint8_t *src = malloc(total);
	size_t i;
	int rounds = 0;

	(void)state;
	for (i = 0; i < total; i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	h = chan_new(sv[0], CHAN_HOST, &ops, &hk);
	g = chan_new(sv[1], CHAN_GUEST, &ops, &gk);
	hs = chan_stream_open(h, 2, CHAN_RECV, &sops, &hk);
	gs = chan_stream_open(g, 2, CHAN_SEND, NULL, NULL);

	/* Without grants the guest stops at exactly one window. */
	sent += (size_t)chan_stream_send(gs, src, total);
	assert_int_equal(sent, CHAN_WINDOW);
	assert_int_equal(chan_stream_credit(gs), 0);
	for (i = 0; i < 4; i++)
		pump(h, g);
	assert_int_equal(hk.data_len, CHAN_WINDOW);

	/* An RPC still passes while the stream is stalled. */
	assert_int_equal(
	    chan_send_frame(h, CHAN_T_REQUEST, 0, 1, "ping", 4), 0);
	pump(h, g);
	assert_int_equal(gk.requests, 1);
	assert_int_equal(chan_send_frame(g, CHAN_T_RESPONSE, 0, 1, NULL, 0), 0);
	pump(h, g);
	assert_int_equal(hk.responses, 1);

	while (sent < total && rounds++ < 1000) {
		if (granted < hk.data_len) {
			assert_int_equal(
			    chan_stream_grant(hs, hk.data_len - granted), 0);
			granted = hk.data_len;
		}
		pump(h, g);
		ssize_t n = chan_stream_send(gs, src + sent, total - sent);
		assert_true(n >= 0);
		sent += (size_t)n;
		pump(h, g);
	}
	assert_int_equal(sent, total);
	assert_int_equal(chan_stream_close(gs), 0);
	for (i = 0; i < 4; i++)
		pump(h, g);
	assert_int_equal(hk.data_len, total);
	assert_memory_equal(hk.data, src, total);
	assert_int_equal(hk.closes, 1);
	assert_true(chan_stream_peer_closed(hs));

	/* The peer's EOF shows up as EPIPE. */
	close(sv[1]);
	assert_int_equal(chan_read(h), -1);
	assert_int_equal(errno, EPIPE);
	chan_free(h);
	chan_free(g);
	close(sv[0]);
	free(src);
	free(hk.data);
}

static void
test_stream_ids(void **state)
{
	struct chan *c = chan_new(-1, CHAN_HOST, &ops, NULL);

	(void)state;
	assert_null(chan_stream_open(c, 0, CHAN_RECV, NULL, NULL));
	assert_non_null(chan_stream_open(c, 5, CHAN_RECV, NULL, NULL));
	assert_null(chan_stream_open(c, 5, CHAN_SEND, NULL, NULL));
	assert_int_equal(errno, EEXIST);
	chan_free(c);
}

struct rpc_sink {
	uint8_t buf[256];
	size_t n;
	uint8_t type;
};

/* Request/Response envelopes survive a round trip through real frames. */
static void
test_rpc_roundtrip(void **state)
{
	struct chan *c = chan_new(-1, CHAN_GUEST, &ops, NULL);
	struct chan_rpc_req q;
	struct chan_rpc_resp r;
	int sv[2];
	uint8_t buf[512];
	ssize_t n;
	/* Golden bytes: Response{status{code 5, message "nf"}} (WIRE.md §1.4).
	 */
	const uint8_t golden[] = {0x0a, 0x06, 0x08, 0x05, 0x12, 0x02, 'n', 'f'};

	(void)state;
	chan_free(c);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = chan_new(sv[0], CHAN_HOST, &ops, NULL);
	assert_int_equal(chan_rpc_send_request(c, 3, GUEST_SERVICE, "Ping",
	                     (const uint8_t *)"\x08\x01", 2),
	    0);
	n = read(sv[1], buf, sizeof(buf));
	assert_true(n > CHAN_HDR_LEN);
	assert_int_equal(buf[8], CHAN_T_REQUEST);
	assert_int_equal(chan_rpc_req_decode(
	                     buf + CHAN_HDR_LEN, (size_t)n - CHAN_HDR_LEN, &q),
	    0);
	assert_int_equal(q.service_len, strlen(GUEST_SERVICE));
	assert_memory_equal(q.service, GUEST_SERVICE, q.service_len);
	assert_memory_equal(q.method, "Ping", 4);
	assert_int_equal(q.payload_len, 2);
	chan_rpc_req_free(&q);

	assert_int_equal(chan_rpc_send_response(c, 3, 5, "nf", NULL, 0), 0);
	n = read(sv[1], buf, sizeof(buf));
	assert_int_equal(n, CHAN_HDR_LEN + sizeof(golden));
	assert_memory_equal(buf + CHAN_HDR_LEN, golden, sizeof(golden));
	assert_int_equal(chan_rpc_resp_decode(golden, sizeof(golden), &r), 0);
	assert_int_equal(r.code, 5);
	assert_int_equal(r.msg_len, 2);
	assert_string_equal(r.msg, "nf");
	chan_rpc_resp_free(&r);
	/* Success with an empty status: no status field at all. */
	assert_int_equal(chan_rpc_send_response(
	                     c, 5, 0, NULL, (const uint8_t *)"\x08\x07", 2),
	    0);
	n = read(sv[1], buf, sizeof(buf));
	assert_int_equal(chan_rpc_resp_decode(
	                     buf + CHAN_HDR_LEN, (size_t)n - CHAN_HDR_LEN, &r),
	    0);
	assert_int_equal(r.code, 0);
	assert_int_equal(r.payload_len, 2);
	/* No status field at all, as before the shared encoder. */
	assert_int_equal(n, CHAN_HDR_LEN + 4);
	assert_memory_equal(buf + CHAN_HDR_LEN, "\x12\x02\x08\x07", 4);
	chan_rpc_resp_free(&r);
	/* Truncated length prefix. */
	assert_int_equal(chan_rpc_resp_decode((const uint8_t *)"\x12\x05"
	                                                       "ab",
	                     4, &r),
	    -1);
	chan_free(c);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_golden),
	    cmocka_unit_test(test_bytewise_input),
	    cmocka_unit_test(test_host_rejects),
	    cmocka_unit_test(test_host_rejects_bad_response),
	    cmocka_unit_test(test_host_enforces_credit),
	    cmocka_unit_test(test_credit_beyond_window),
	    cmocka_unit_test(test_guest_tolerates_late_frames),
	    cmocka_unit_test(test_release_discards),
	    cmocka_unit_test(test_pair_flow_control),
	    cmocka_unit_test(test_stream_ids),
	    cmocka_unit_test(test_rpc_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

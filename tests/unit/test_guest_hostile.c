/*
 * A hostile guest against shim/guest_client, byte by byte on a socketpair:
 * a frame longer than its type's cap, a truncated frame then EOF, garbage
 * where a ttrpc Response or the method's response message belongs, DATA
 * and CLOSE on stream ids never opened, an endless stream and an event
 * flood. Every violation must end in exactly one on_dead, pending calls
 * completing with QB_E_UNAVAILABLE, no new call accepted; legitimate floods
 * must keep the client's memory bounded. Run under ASan/UBSan (no leak, no
 * overflow). test_guest_client.c covers the answer to a call never made and
 * data beyond credit.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/chan_rpc.h"
#include "tests/unit/fake_guest.h"

/* ASan's allocator statistics (libasan; gcc ships no header for it here). */
size_t __sanitizer_get_current_allocated_bytes(void);

static struct fake_guest G;

static struct {
	int ooms;
	size_t received;
} F;

struct res {
	bool done;
	int code;
};

static void
on_ready(struct guest_client *gc, uint64_t boot_ms, void *arg)
{
	(void)gc;
	(void)boot_ms;
	(void)arg;
}

static void
on_oom(struct guest_client *gc, const char *id, void *arg)
{
	(void)gc;
	(void)id;
	(void)arg;
	F.ooms++;
}

static const struct guest_client_ops ops = {
    .on_ready = on_ready, .on_oom = on_oom, .on_dead = fake_guest_on_dead};

static void
send_ready(void)
{
	fake_guest_send_ready(&G, 0);
	fake_guest_pump(&G, 3);
	assert_true(guest_client_ready(G.gc));
}

static void
done_cb(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	struct res *r = arg;

	(void)gc;
	(void)resp;
	r->done = true;
	r->code = err->code;
}

static void
call_ping_t(struct res *r, uint64_t timeout_ms)
{
	fake_guest_call_ping(&G, 0, timeout_ms, done_cb, r);
}

static void
call_ping(struct res *r)
{
	call_ping_t(r, 0);
}

/* Raw bytes from the guest, bypassing its chan (which would refuse). */
static void
raw(const void *p, size_t n)
{
	assert_int_equal(write(G.sv[1], p, n), (ssize_t)n);
}

static void
raw_hdr(uint32_t len, uint32_t sid, uint8_t type)
{
	uint8_t h[CHAN_HDR_LEN];

	chan_hdr_encode(h, len, sid, type, 0);
	raw(h, sizeof(h));
}

/* The VM is dead once, the pending call failed Unavailable, no new call. */
static void
assert_dead_once(const struct res *r)
{
	struct res r2 = {0};

	fake_guest_pump(&G, 5);
	assert_int_equal(G.dead, 1);
	if (r != NULL) {
		assert_true(r->done);
		assert_int_equal(r->code, QB_E_UNAVAILABLE);
	}
	assert_int_equal(
	    guest_call(G.gc, "Ping", NULL, NULL, 0, done_cb, &r2), -1);
	/* More garbage after death changes nothing (the write may fail:
	 * the client may have closed, or we shut our side down). */
	{
		uint8_t h[CHAN_HDR_LEN];
		chan_hdr_encode(h, 0xffffffffu, 1, 0x7f, 0);
		(void)!write(G.sv[1], h, sizeof(h));
	}
	fake_guest_pump(&G, 5);
	assert_int_equal(G.dead, 1);
	assert_false(r2.done);
}

static int
setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	fake_guest_setup(&G, 5000, 5, &ops, &G);
	send_ready();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fake_guest_teardown(&G);
	return 0;
}

static void
test_response_longer_than_cap(void **state)
{
	struct res r = {0};

	(void)state;
	call_ping(&r);
	/* Only the header: the client must not wait for (or allocate) 4 MiB+1.
	 */
	raw_hdr(CHAN_MAX_RPC + 1, G.last_sid, CHAN_T_RESPONSE);
	assert_dead_once(&r);
}

static void
test_event_and_data_longer_than_cap(void **state)
{
	(void)state;
	raw_hdr(0xfffffff0u, 0, CHAN_T_EVENT);
	assert_dead_once(NULL);
}

static void
test_credit_of_wrong_size(void **state)
{
	uint8_t five[5] = {0, 0, 0, 1, 0};

	(void)state;
	raw_hdr(sizeof(five), 3, CHAN_T_CREDIT);
	raw(five, sizeof(five));
	assert_dead_once(NULL);
}

static void
test_truncated_frame_then_eof(void **state)
{
	struct res r = {0};
	uint8_t part[10] = {0x0a, 0x02};

	(void)state;
	call_ping(&r);
	raw_hdr(100, G.last_sid, CHAN_T_RESPONSE);
	raw(part, sizeof(part));
	fake_guest_pump(&G, 3);
	assert_int_equal(G.dead, 0); /* a partial frame alone is not an error */
	assert_int_equal(shutdown(G.sv[1], SHUT_WR), 0);
	assert_dead_once(&r);
}

static void
test_garbage_ttrpc_response(void **state)
{
	struct res r = {0};
	uint8_t junk[64];
	size_t i;

	(void)state;
	call_ping(&r);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(0xff - i * 7);
	raw_hdr(sizeof(junk), G.last_sid, CHAN_T_RESPONSE);
	raw(junk, sizeof(junk));
	assert_dead_once(&r);
}

static void
test_garbage_method_response(void **state)
{
	struct res r = {0};
	/* A well-formed ttrpc Response whose payload is not a PingResponse
	 * (field 1 as a length-delimited run past the end). */
	uint8_t bad[] = {0x0a, 0x7f, 0x01};

	(void)state;
	/* With a deadline: its timer must not outlive the call. */
	call_ping_t(&r, 40);
	assert_int_equal(
	    chan_rpc_send_response(G.g, G.last_sid, 0, NULL, bad, sizeof(bad)),
	    0);
	assert_dead_once(&r);
	fake_guest_pump(&G, 20); /* past the deadline */
}

static void
test_data_on_unknown_stream(void **state)
{
	uint8_t b[16] = {0};

	(void)state;
	raw_hdr(sizeof(b), 4242, CHAN_T_DATA);
	raw(b, sizeof(b));
	assert_dead_once(NULL);
}

static void
test_close_of_unknown_stream(void **state)
{
	(void)state;
	raw_hdr(0, 4243, CHAN_T_CLOSE);
	assert_dead_once(NULL);
}

static void
test_unknown_frame_type(void **state)
{
	(void)state;
	raw_hdr(0, 0, 0x55);
	assert_dead_once(NULL);
}

static void
h_data(struct chan_stream *s, const uint8_t *p, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	F.received += n;
	chan_stream_grant(s, n); /* a consumer that keeps up */
}

static const struct chan_stream_ops h_ops = {.on_data = h_data};

static void
test_endless_stream_memory_bounded(void **state)
{
	static uint8_t buf[CHAN_MAX_DATA];
	const size_t total = 32u << 20;
	struct chan_stream *gs;
	size_t sent = 0, before, peak = 0, now;
	uint32_t id;

	(void)state;
	id = guest_stream_id(G.gc);
	assert_non_null(chan_stream_open(
	    guest_client_chan(G.gc), id, CHAN_RECV, &h_ops, NULL));
	assert_non_null(gs = chan_stream_open(G.g, id, CHAN_SEND, NULL, NULL));
	before = __sanitizer_get_current_allocated_bytes();
	while (sent < total && G.dead == 0) {
		ssize_t n = chan_stream_send(gs, buf, sizeof(buf));
		assert_true(n >= 0);
		sent += (size_t)n;
		fake_guest_pump(&G, 1);
		now = __sanitizer_get_current_allocated_bytes();
		if (now > peak)
			peak = now;
	}
	fake_guest_pump(&G, 5);
	assert_int_equal(G.dead, 0);
	assert_int_equal(F.received, sent);
	/* 32 MiB went through; the client held at most about one window. */
	assert_true(peak - before < 2 * CHAN_WINDOW + (256u << 10));
}

static void
test_event_flood_memory_bounded(void **state)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__OomEvent oom;
	size_t before, after;
	uint64_t t0, secs;
	int i;

	(void)state;
	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__oom_event__init(&oom);
	oom.id = (char *)(uintptr_t) "c1";
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_OOM;
	ev.oom = &oom;
	fake_guest_pump(&G, 2);
	before = __sanitizer_get_current_allocated_bytes();
	t0 = evloop_now_ns();
	for (i = 0; i < 20000; i++) {
		fake_guest_send_event(&G, &ev);
		if (i % 200 == 199)
			fake_guest_pump(&G, 2);
	}
	fake_guest_pump(&G, 10);
	after = __sanitizer_get_current_allocated_bytes();
	secs = (evloop_now_ns() - t0) / 1000000000ull;
	assert_int_equal(G.dead, 0);
	/* Repeats past the burst are dropped (GUEST_OOM_*), not queued. */
	assert_in_range(F.ooms, GUEST_OOM_BURST,
	    GUEST_OOM_BURST + GUEST_OOM_PER_SEC * (secs + 1));
	assert_true(after < before + (256u << 10));
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as in the shim */
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_response_longer_than_cap),
	    T(test_event_and_data_longer_than_cap),
	    T(test_credit_of_wrong_size),
	    T(test_truncated_frame_then_eof),
	    T(test_garbage_ttrpc_response),
	    T(test_garbage_method_response),
	    T(test_data_on_unknown_stream),
	    T(test_close_of_unknown_stream),
	    T(test_unknown_frame_type),
	    T(test_endless_stream_memory_bounded),
	    T(test_event_flood_memory_bounded),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The fake guest shared by the guest_client unit tests (fake_guest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/chan_rpc.h"
#include "tests/unit/fake_guest.h"

static void
g_request(struct chan *ch, uint32_t sid, const uint8_t *p, size_t n, void *arg)
{
	struct fake_guest *fg = arg;
	struct chan_rpc_req q;

	(void)ch;
	assert_int_equal(chan_rpc_req_decode(p, n, &q), 0);
	fg->last_sid = sid;
	snprintf(fg->last_method, sizeof(fg->last_method), "%.*s",
	    (int)q.method_len, q.method);
	chan_rpc_req_free(&q);
	fg->requests++;
}

static const struct chan_ops g_ops = {.on_request = g_request};

void
fake_guest_setup(struct fake_guest *fg, uint64_t ready_ms, int wait_ms,
    const struct guest_client_ops *ops, void *arg)
{
	memset(fg, 0, sizeof(*fg));
	fg->wait_ms = wait_ms;
	fg->loop = evloop_new();
	assert_non_null(fg->loop);
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fg->sv), 0);
	fg->gc = guest_client_new(fg->loop, fg->sv[0], ready_ms, ops, arg);
	fg->g = chan_new(fg->sv[1], CHAN_GUEST, &g_ops, fg);
	assert_non_null(fg->gc);
	assert_non_null(fg->g);
}

void
fake_guest_teardown(struct fake_guest *fg)
{
	guest_client_free(fg->gc);
	chan_free(fg->g);
	close(fg->sv[0]);
	close(fg->sv[1]);
	evloop_free(fg->loop);
}

void
fake_guest_on_dead(struct guest_client *gc, const char *why, void *arg)
{
	struct fake_guest *fg = arg;

	(void)gc;
	fg->dead++;
	snprintf(fg->why, sizeof(fg->why), "%s", why);
}

void
fake_guest_pump(struct fake_guest *fg, int rounds)
{
	while (rounds-- > 0) {
		evloop_run_once(fg->loop, fg->wait_ms);
		chan_flush(fg->g);
		(void)chan_read(fg->g);
	}
}

void
fake_guest_send_event(
    struct fake_guest *fg, const Qemubox__Guest__V1__Event *ev)
{
	uint8_t buf[256];
	size_t n;

	assert_true(
	    qemubox__guest__v1__event__get_packed_size(ev) <= sizeof(buf));
	n = qemubox__guest__v1__event__pack(ev, buf);
	assert_int_equal(chan_send_frame(fg->g, CHAN_T_EVENT, 0, 0, buf, n), 0);
}

void
fake_guest_send_ready(struct fake_guest *fg, uint64_t boot_ms)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ReadyEvent r;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__ready_event__init(&r);
	r.boot_ms = boot_ms;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_READY;
	ev.ready = &r;
	fake_guest_send_event(fg, &ev);
}

void
fake_guest_call_ping(struct fake_guest *fg, uint64_t nonce, uint64_t timeout_ms,
    guest_call_cb cb, void *arg)
{
	Qemubox__Guest__V1__PingRequest req;

	qemubox__guest__v1__ping_request__init(&req);
	req.nonce = nonce;
	assert_int_equal(guest_call(fg->gc, "Ping", &req.base,
	                     &qemubox__guest__v1__ping_response__descriptor,
	                     timeout_ms, cb, arg),
	    0);
	fake_guest_pump(fg, 3);
}

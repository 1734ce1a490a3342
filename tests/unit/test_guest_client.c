/*
 * shim/guest_client against a fake guest on a socketpair: ready, calls,
 * errors, timeouts, and a hostile guest ending in on_dead.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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

static struct fake_guest G;

static struct {
	bool ready;
	int exits;
	uint32_t exit_status;
} F;

static void
on_ready(struct guest_client *gc, uint64_t boot_ms, void *arg)
{
	(void)gc;
	(void)arg;
	assert_int_equal(boot_ms, 1234);
	F.ready = true;
}

static void
on_exit_cb(struct guest_client *gc, const char *id, const char *exec_id,
    uint32_t pid, uint32_t st, void *arg)
{
	(void)gc;
	(void)pid;
	(void)arg;
	assert_string_equal(id, "c1");
	assert_string_equal(exec_id, "");
	F.exits++;
	F.exit_status = st;
}

static const struct guest_client_ops ops = {
    .on_ready = on_ready, .on_exit = on_exit_cb, .on_dead = fake_guest_on_dead};

static void
send_ready(void)
{
	fake_guest_send_ready(&G, 1234);
}

static int
setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	fake_guest_setup(&G, 2000, 10, &ops, &G);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fake_guest_teardown(&G);
	return 0;
}

struct res {
	bool done;
	int code;
	char msg[1024];
	uint64_t nonce;
};

static void
done_cb(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	struct res *r = arg;

	(void)gc;
	r->done = true;
	r->code = err->code;
	snprintf(r->msg, sizeof(r->msg), "%s", err->msg);
	if (resp != NULL)
		r->nonce =
		    ((const Qemubox__Guest__V1__PingResponse *)resp)->nonce;
}

static void
call_ping(struct res *r, uint64_t timeout_ms)
{
	fake_guest_call_ping(&G, 7, timeout_ms, done_cb, r);
	assert_string_equal(G.last_method, "Ping");
}

static void
answer_ping(uint32_t sid, uint64_t nonce)
{
	Qemubox__Guest__V1__PingResponse resp;
	uint8_t buf[32];
	size_t n;

	qemubox__guest__v1__ping_response__init(&resp);
	resp.nonce = nonce;
	n = qemubox__guest__v1__ping_response__pack(&resp, buf);
	assert_int_equal(chan_rpc_send_response(G.g, sid, 0, NULL, buf, n), 0);
	fake_guest_pump(&G, 3);
}

static void
test_ready_and_call(void **state)
{
	struct res r = {0}, r2 = {0};

	(void)state;
	send_ready();
	fake_guest_pump(&G, 3);
	assert_true(F.ready);
	assert_true(guest_client_ready(G.gc));
	call_ping(&r, 0);
	assert_int_equal(G.last_sid, 1);
	answer_ping(G.last_sid, 7);
	assert_true(r.done);
	assert_int_equal(r.code, 0);
	assert_int_equal(r.nonce, 7);

	/* Error answers carry the guest's code and message. */
	call_ping(&r2, 0);
	assert_int_equal(G.last_sid, 3);
	assert_int_equal(
	    chan_rpc_send_response(G.g, 3, QB_E_NOTFOUND, "no such", NULL, 0),
	    0);
	fake_guest_pump(&G, 3);
	assert_true(r2.done);
	assert_int_equal(r2.code, QB_E_NOTFOUND);
	assert_non_null(strstr(r2.msg, "no such"));
	assert_false(G.dead);
}

static void
test_call_timeout_late_answer(void **state)
{
	struct res r = {0};
	uint64_t end;

	(void)state;
	send_ready();
	fake_guest_pump(&G, 3);
	call_ping(&r, 50);
	end = evloop_now_ns() + 500000000ull;
	while (!r.done && evloop_now_ns() < end)
		fake_guest_pump(&G, 1);
	assert_true(r.done);
	assert_int_equal(r.code, QB_E_DEADLINE);
	/* The late answer is dropped quietly: not a violation. */
	answer_ping(G.last_sid, 7);
	assert_false(G.dead);
}

static void
test_exit_event(void **state)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ExitEvent ex;

	(void)state;
	send_ready();
	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__exit_event__init(&ex);
	ex.id = (char *)(uintptr_t) "c1";
	ex.exit_status = 137;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_EXIT;
	ev.exit = &ex;
	fake_guest_send_event(&G, &ev);
	fake_guest_pump(&G, 3);
	assert_int_equal(F.exits, 1);
	assert_int_equal(F.exit_status, 137);
}

static void
test_hostile_unknown_response(void **state)
{
	struct res r = {0};

	(void)state;
	send_ready();
	fake_guest_pump(&G, 3);
	call_ping(&r, 0);
	/* An answer to a call nobody made: the VM is dead, pending calls fail.
	 */
	assert_int_equal(chan_rpc_send_response(G.g, 99, 0, NULL, NULL, 0), 0);
	fake_guest_pump(&G, 3);
	assert_true(G.dead);
	assert_true(r.done);
	assert_int_equal(r.code, QB_E_UNAVAILABLE);
	assert_int_equal(
	    guest_call(G.gc, "Ping", NULL, NULL, 0, done_cb, &r), -1);
}

static void
test_hostile_data_beyond_credit(void **state)
{
	uint8_t *buf = calloc(1, CHAN_MAX_DATA);
	uint32_t id;
	int i;

	(void)state;
	send_ready();
	fake_guest_pump(&G, 3);
	id = guest_stream_id(G.gc);
	assert_non_null(chan_stream_open(
	    guest_client_chan(G.gc), id, CHAN_RECV, NULL, NULL));
	/* Five 64 KiB frames into a 256 KiB window nobody drains. */
	for (i = 0; i < 5; i++)
		assert_int_equal(chan_send_frame(G.g, CHAN_T_DATA, 0, id, buf,
		                     CHAN_MAX_DATA),
		    0);
	fake_guest_pump(&G, 10);
	assert_true(G.dead);
	assert_string_equal(G.why, "protocol violation: data beyond credit");
	free(buf);
}

static void
test_exit_before_ready(void **state)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ExitEvent ex;

	(void)state;
	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__exit_event__init(&ex);
	ex.id = (char *)(uintptr_t) "c1";
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_EXIT;
	ev.exit = &ex;
	fake_guest_send_event(&G, &ev);
	fake_guest_pump(&G, 3);
	assert_true(G.dead);
	assert_int_equal(F.exits, 0);
}

static void
test_ready_timeout(void **state)
{
	(void)state;
	guest_client_free(G.gc);
	G.gc = guest_client_new(G.loop, G.sv[0], 30, &ops, &G);
	while (!G.dead)
		fake_guest_pump(&G, 1);
	assert_string_equal(G.why, "not ready in time");
}

/*
 * A clone's guest never sends READY to this host: guest_client_restored()
 * stands for it (no ready timeout), and SetIdentity goes out first.
 */
static void
test_restored_set_identity(void **state)
{
	struct res r = {0};
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ExitEvent ex;
	uint64_t end;

	(void)state;
	guest_client_free(G.gc);
	G.gc = guest_client_new(G.loop, G.sv[0], 30, &ops, &G);
	guest_client_restored(G.gc);
	assert_true(guest_client_ready(G.gc));
	end = evloop_now_ns() + 100 * 1000000ull;
	while (evloop_now_ns() < end)
		fake_guest_pump(&G, 1);
	assert_false(G.dead);
	assert_int_equal(guest_client_set_identity(G.gc, 0, done_cb, &r), 0);
	fake_guest_pump(&G, 3);
	assert_string_equal(G.last_method, "SetIdentity");
	assert_int_equal(
	    chan_rpc_send_response(G.g, G.last_sid, 0, NULL, NULL, 0), 0);
	fake_guest_pump(&G, 3);
	assert_true(r.done);
	assert_int_equal(r.code, 0);
	/* Events are accepted as after READY. */
	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__exit_event__init(&ex);
	ex.id = (char *)(uintptr_t) "c1";
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_EXIT;
	ev.exit = &ex;
	fake_guest_send_event(&G, &ev);
	fake_guest_pump(&G, 3);
	assert_false(G.dead);
	assert_int_equal(F.exits, 1);
}

/*
 * Two calls of one caller in flight, the caller gone after the first
 * answer (a failed Create): the second never calls back, whether the guest
 * answers it in the same read or the client dies with it pending.
 */
static struct res *cancel_second;

static void
cancel_cb(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	done_cb(gc, err, resp, arg);
	guest_client_cancel(gc, cancel_second);
}

static void
test_cancel(void **state)
{
	struct res r2 = {0}, r3 = {0};
	uint32_t sid1, sid2;

	(void)state;
	send_ready();
	fake_guest_pump(&G, 3);
	cancel_second = &r2;
	fake_guest_call_ping(&G, 7, 0, cancel_cb, &r2);
	sid1 = G.last_sid;
	fake_guest_call_ping(&G, 7, 0, done_cb, &r2);
	sid2 = G.last_sid;
	fake_guest_call_ping(&G, 7, 0, done_cb, &r3);
	/* Both answers in one write: the first cancels the second. */
	assert_int_equal(
	    chan_rpc_send_response(G.g, sid1, QB_E_INTERNAL, "first", NULL, 0),
	    0);
	assert_int_equal(
	    chan_rpc_send_response(G.g, sid2, 0, NULL, NULL, 0), 0);
	fake_guest_pump(&G, 3);
	assert_true(r2.done);
	assert_int_equal(r2.code, QB_E_INTERNAL); /* the first answer only */
	/* Another caller's call is not touched: the dying client ends it. */
	r2.done = false;
	close(G.sv[1]);
	G.sv[1] = open("/dev/null", O_RDONLY);
	evloop_run_once(G.loop, 50);
	assert_true(G.dead);
	assert_false(r2.done);
	assert_true(r3.done);
	assert_int_equal(r3.code, QB_E_UNAVAILABLE);
}

static void
test_guest_closes(void **state)
{
	(void)state;
	send_ready();
	fake_guest_pump(&G, 3);
	close(G.sv[1]);
	G.sv[1] = open("/dev/null", O_RDONLY);
	evloop_run_once(G.loop, 50);
	assert_true(G.dead);
	assert_string_equal(G.why, "closed by the guest");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_ready_and_call, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_call_timeout_late_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_hostile_unknown_response, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_hostile_data_beyond_credit, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_exit_before_ready, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_ready_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restored_set_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guest_closes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The QMP client against a fake QEMU on a socketpair: handshake, commands
 * held until qmp_capabilities is answered, id matching (out of order too),
 * events, errors, timeouts, EOF; and a hostile QEMU: garbage, replies to
 * commands never sent, ids of the wrong type, an endless line, events before
 * the handshake. Each must end the connection with EBADMSG, never crash.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmmon/qmp.h"

#define GREETING                                                            \
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, " \
	"\"major\": 7}, \"package\": \"Debian\"}, \"capabilities\": "       \
	"[\"oob\"]}}\r\n"

struct fx {
	int qemu; /* the fake QEMU's end */
	struct qmp *q;
	int ready;
	int nevents;
	char last_event[64];
	int ndone;
	struct qmp_result last;
	char last_ret[256];
};

static void
on_ready(void *arg)
{
	((struct fx *)arg)->ready++;
}

static void
on_event(void *arg, const char *name, json_object *data)
{
	struct fx *f = arg;

	(void)data;
	f->nevents++;
	snprintf(f->last_event, sizeof(f->last_event), "%s", name);
}

static void
on_done(void *arg, const struct qmp_result *r)
{
	struct fx *f = arg;

	f->ndone++;
	f->last = *r;
	f->last.ret = NULL;
	f->last.err_class = NULL;
	f->last.err_desc = NULL;
	snprintf(f->last_ret, sizeof(f->last_ret), "%s",
	    r->ok
	        ? json_object_to_json_string_ext(r->ret, JSON_C_TO_STRING_PLAIN)
	        : (r->err_class ? r->err_class : ""));
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct qmp_callbacks cb = {on_ready, on_event, NULL};
	int sp[2];

	if (f == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return -1;
	cb.arg = f;
	f->qemu = sp[1];
	f->q = qmp_new(sp[0], &cb);
	*state = f;
	return f->q == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	qmp_free(f->q);
	close(f->qemu);
	free(f);
	return 0;
}

static void
qemu_send(struct fx *f, const char *s)
{
	assert_int_equal(write(f->qemu, s, strlen(s)), (ssize_t)strlen(s));
}

/* Runs the client until nothing is left to read or write; its result. */
static int
pump(struct fx *f)
{
	struct pollfd p;

	for (;;) {
		p.fd = qmp_fd(f->q);
		p.events = qmp_poll_events(f->q);
		p.revents = 0;
		if (poll(&p, 1, 50) <= 0)
			return 0;
		if (qmp_dispatch(f->q, p.revents) == -1)
			return -1;
	}
}

/* Reads what the client sent to the fake QEMU. */
static void
qemu_read(struct fx *f, char *buf, size_t len)
{
	struct pollfd p = {f->qemu, POLLIN, 0};
	ssize_t n;

	buf[0] = '\0';
	if (poll(&p, 1, 200) != 1)
		return;
	n = read(f->qemu, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
}

static void
handshake(struct fx *f)
{
	char buf[4096];

	qemu_send(f, GREETING);
	assert_int_equal(pump(f), 0);
	qemu_read(f, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"execute\":\"qmp_capabilities\""));
	assert_non_null(strstr(buf, "\"id\":1"));
	assert_false(qmp_is_ready(f->q));
	qemu_send(f, "{\"return\": {}, \"id\": 1}\r\n");
	assert_int_equal(pump(f), 0);
	assert_true(qmp_is_ready(f->q));
	assert_int_equal(f->ready, 1);
}

static void
test_handshake_and_held_command(void **state)
{
	struct fx *f = *state;
	char buf[4096];

	/* Queued before the greeting: must wait for the handshake. */
	assert_int_equal(
	    qmp_execute(f->q, "query-status", NULL, 5000, on_done, f), 0);
	qemu_send(f, GREETING);
	assert_int_equal(pump(f), 0);
	qemu_read(f, buf, sizeof(buf));
	/* Only the handshake goes out (id 2: query-status took id 1). */
	assert_null(strstr(buf, "query-status"));
	assert_non_null(strstr(buf, "\"id\":2"));
	qemu_send(f, "{\"return\": {}, \"id\": 2}\r\n");
	assert_int_equal(pump(f), 0);
	assert_true(qmp_is_ready(f->q));
	qemu_read(f, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"execute\":\"query-status\""));
	qemu_send(f, "{\"return\": {\"status\": \"running\"}, \"id\": 1}\n");
	assert_int_equal(pump(f), 0);
	assert_int_equal(f->ndone, 1);
	assert_true(f->last.ok);
}

static void
test_hostile_reply_to_unsent(void **state)
{
	struct fx *f = *state;

	/* A reply before any command exists, during the handshake. */
	qemu_send(f, GREETING);
	assert_int_equal(pump(f), 0);
	qemu_send(f, "{\"return\": {}, \"id\": 7}\n");
	assert_int_equal(pump(f), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_execute_reply_and_event(void **state)
{
	struct fx *f = *state;
	char buf[4096];

	handshake(f);
	assert_int_equal(
	    qmp_execute(f->q, "query-status", NULL, 5000, on_done, f), 0);
	assert_int_equal(pump(f), 0);
	qemu_read(f, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"execute\":\"query-status\""));
	qemu_send(f,
	    "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
	    "\"event\": \"STOP\"}\r\n"
	    "{\"return\": {\"status\": \"paused\", \"running\": false},"
	    " \"id\": 2}\r\n");
	assert_int_equal(pump(f), 0);
	assert_int_equal(f->nevents, 1);
	assert_string_equal(f->last_event, "STOP");
	assert_int_equal(f->ndone, 1);
	assert_true(f->last.ok);
	assert_non_null(strstr(f->last_ret, "\"paused\""));
}

static void
test_out_of_order_and_error(void **state)
{
	struct fx *f = *state;

	handshake(f);
	assert_int_equal(qmp_execute(f->q, "stop", NULL, 5000, on_done, f), 0);
	assert_int_equal(qmp_execute(f->q, "bogus", NULL, 5000, on_done, f), 0);
	assert_int_equal(pump(f), 0);
	qemu_send(f, "{\"id\": 3, \"error\": {\"class\": \"CommandNotFound\", "
	             "\"desc\": \"The command bogus has not been found\"}}\n");
	assert_int_equal(pump(f), 0);
	assert_int_equal(f->ndone, 1);
	assert_false(f->last.ok);
	assert_string_equal(f->last_ret, "CommandNotFound");
	qemu_send(f, "{\"return\": {}, \"id\": 2}\n");
	assert_int_equal(pump(f), 0);
	assert_int_equal(f->ndone, 2);
	assert_true(f->last.ok);
}

static void
test_timeout_then_late_reply(void **state)
{
	struct fx *f = *state;

	handshake(f);
	assert_int_equal(qmp_execute(f->q, "stop", NULL, 10, on_done, f), 0);
	assert_int_equal(pump(f), 0);
	assert_true(qmp_next_timeout(f->q, qmp_now_ms()) >= 0);
	usleep(20000);
	qmp_expire(f->q, qmp_now_ms());
	assert_int_equal(f->ndone, 1);
	assert_true(f->last.timed_out);
	assert_int_equal(qmp_next_timeout(f->q, qmp_now_ms()), -1);
	/* The late reply to a timed-out command is dropped, not fatal. */
	qemu_send(f, "{\"return\": {}, \"id\": 2}\n");
	assert_int_equal(pump(f), 0);
	assert_int_equal(f->ndone, 1);
}

static void
test_eof_fails_pending(void **state)
{
	struct fx *f = *state;

	handshake(f);
	assert_int_equal(qmp_execute(f->q, "quit", NULL, 5000, on_done, f), 0);
	assert_int_equal(pump(f), 0);
	close(f->qemu);
	f->qemu = -1;
	/* EOF (EPIPE) or ECONNRESET, depending on unread data. */
	assert_int_equal(pump(f), -1);
	assert_true(errno == EPIPE || errno == ECONNRESET);
	qmp_free(f->q);
	f->q = NULL;
	assert_int_equal(f->ndone, 1);
	assert_true(f->last.closed);
}

static void
hostile(struct fx *f, const char *line, bool after_handshake)
{
	if (after_handshake)
		handshake(f);
	qemu_send(f, line);
	assert_int_equal(pump(f), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_hostile_garbage(void **state)
{
	hostile(*state, "this is not json\n", true);
}

static void
test_hostile_unknown_id(void **state)
{
	hostile(*state, "{\"return\": {}, \"id\": 99}\n", true);
}

static void
test_hostile_string_id(void **state)
{
	hostile(*state, "{\"return\": {}, \"id\": \"1\"}\n", true);
}

static void
test_hostile_reply_without_id(void **state)
{
	hostile(*state, "{\"return\": {}}\n", true);
}

static void
test_hostile_event_before_handshake(void **state)
{
	hostile(*state, "{\"event\": \"SHUTDOWN\"}\n", false);
}

static void
test_hostile_second_greeting(void **state)
{
	hostile(*state, GREETING, true);
}

static void
test_hostile_trailing_bytes(void **state)
{
	hostile(*state, "{\"event\": \"STOP\"} {\"event\": \"STOP\"}\n", true);
}

static void
test_hostile_endless_line(void **state)
{
	struct fx *f = *state;
	static char chunk[65536];
	size_t sent = 0;
	int rc = 0;

	handshake(f);
	memset(chunk, 'a', sizeof(chunk));
	/* No newline ever: the client must give up past QMP_MAX_LINE. */
	while (sent <= QMP_MAX_LINE + sizeof(chunk) && rc == 0) {
		assert_int_equal(write(f->qemu, chunk, sizeof(chunk)),
		    (ssize_t)sizeof(chunk));
		sent += sizeof(chunk);
		rc = pump(f);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_hostile_deep_nesting(void **state)
{
	char line[512];
	size_t i, n = 0;

	n += (size_t)snprintf(line, sizeof(line), "{\"event\":\"X\",\"data\":");
	for (i = 0; i < 40; i++)
		line[n++] = '[';
	for (i = 0; i < 40; i++)
		line[n++] = ']';
	line[n++] = '}';
	line[n++] = '\n';
	line[n] = '\0';
	hostile(*state, line, true);
}

static void
test_decode(void **state)
{
	struct qmp_msg m;

	(void)state;
	assert_int_equal(qmp_decode(GREETING, strlen(GREETING) - 2, &m), 0);
	assert_int_equal(m.kind, QMP_MSG_GREETING);
	assert_int_equal(m.major, 7);
	assert_int_equal(m.minor, 2);
	qmp_msg_release(&m);
	{
		const char *ev =
		    "{\"event\":\"SHUTDOWN\",\"data\":"
		    "{\"guest\":true,\"reason\":\"guest-shutdown\"}}";

		assert_int_equal(qmp_decode(ev, strlen(ev), &m), 0);
	}
	assert_int_equal(m.kind, QMP_MSG_EVENT);
	assert_string_equal(m.event, "SHUTDOWN");
	assert_non_null(m.data);
	qmp_msg_release(&m);
	assert_int_equal(
	    qmp_decode("{\"error\":{\"class\":\"GenericError\"}}", 34, &m), 0);
	assert_int_equal(m.kind, QMP_MSG_ERROR);
	assert_false(m.has_id);
	qmp_msg_release(&m);
	/* Wrong shapes. */
	assert_int_equal(qmp_decode("[1,2]", 5, &m), -1);
	assert_int_equal(qmp_decode("{\"event\":5}", 11, &m), -1);
	assert_int_equal(
	    qmp_decode("{\"event\":\"A\",\"data\":[]}", 23, &m), -1);
	assert_int_equal(qmp_decode("{\"error\":\"x\"}", 13, &m), -1);
	assert_int_equal(qmp_decode("{\"return\":{},\"id\":-1}", 21, &m), -1);
	assert_int_equal(qmp_decode("{\"QMP\":{}}", 10, &m), -1);
	assert_int_equal(qmp_decode("{}", 2, &m), -1);
	assert_int_equal(qmp_decode("", 0, &m), -1);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_handshake_and_held_command),
	    T(test_execute_reply_and_event),
	    T(test_out_of_order_and_error),
	    T(test_timeout_then_late_reply),
	    T(test_eof_fails_pending),
	    T(test_hostile_reply_to_unsent),
	    T(test_hostile_garbage),
	    T(test_hostile_unknown_id),
	    T(test_hostile_string_id),
	    T(test_hostile_reply_without_id),
	    T(test_hostile_event_before_handshake),
	    T(test_hostile_second_greeting),
	    T(test_hostile_trailing_bytes),
	    T(test_hostile_endless_line),
	    T(test_hostile_deep_nesting),
	    cmocka_unit_test(test_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * shim/imsg_client (the one imsg client core under the privnet and vmmon
 * stubs) against a fake peer on a socketpair: a table of two requests, one
 * answered with an fd. Wrong reply type, wrong size, missing or surplus fd,
 * out-of-order answers and malformed IMSG_ERRORs kill the connection and
 * fail what is pending; IMSG_ERROR codes and messages come through, with
 * codes outside the gRPC range read as Unknown; staged fd messages go out
 * under the request's peerid; a request whose row says req_fd carries a
 * duplicate of the caller's fd and is refused without one (and the others
 * with one); blocking calls poll (unattached) or run the
 * loop (attached) and give up at the peer's bound.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"
#include "lib/evloop.h"
#include "shim/imsg_client.h"

enum {
	T_PING_REQ = 900, /* 4 bytes -> PONG, 8 bytes */
	T_PONG = 901,
	T_OPEN_REQ = 902, /* empty -> OPENED, 4 bytes + an fd */
	T_OPENED = 903,
	T_STAGE = 904,   /* staged under OPEN */
	T_PUT_REQ = 905, /* 4 bytes + an fd -> PUT_RES, 4 bytes */
	T_PUT_RES = 906,
	T_EVENT = 950, /* unsolicited, 4 bytes */
};

static int check_pong(const void *res);

static const struct imsg_client_rpc rpcs[] = {
    {.req_type = T_PING_REQ,
        .req_len = 4,
        .res_type = T_PONG,
        .res_len = 8,
        .res_check = check_pong},
    {.req_type = T_OPEN_REQ,
        .res_type = T_OPENED,
        .res_len = 4,
        .res_fd = true,
        .staged_type = T_STAGE},
    {.req_type = T_PUT_REQ,
        .req_len = 4,
        .req_fd = true,
        .res_type = T_PUT_RES,
        .res_len = 4},
};

struct fake {
	int sp[2];
	struct imsgbuf ib; /* the peer's end */
	struct imsg_client *c;
	struct evloop *loop;
	int events;
	uint32_t last_event;
	int lost;
};

/* What a callback saw. */
struct got {
	int calls;
	int ok;
	int code;
	char msg[1024];
	unsigned char res[8];
	size_t len;
	int fd;
};

/* A PONG whose first byte is 0xff is "bad content". */
static int
check_pong(const void *res)
{
	return ((const unsigned char *)res)[0] == 0xff ? -1 : 0;
}

static int
dispatch(struct imsg_client *c, struct imsg *imsg, void *arg)
{
	struct fake *f = arg;

	if (imsg_get_type(imsg) == T_EVENT) {
		if (qb_imsg_get_struct(imsg, &f->last_event, 4) == -1)
			return -1;
		f->events++;
		return 0;
	}
	return imsg_client_answer(c, imsg);
}

static void
lost(void *arg, const char *why)
{
	struct fake *f = arg;

	(void)why;
	f->lost++;
}

static void
got_cb(
    void *arg, const void *res, size_t len, int fd, const struct qb_error *err)
{
	struct got *g = arg;

	g->calls++;
	g->fd = fd;
	if (res == NULL) {
		assert_int_equal(fd, -1);
		g->code = err->code;
		snprintf(g->msg, sizeof(g->msg), "%s", err->msg);
		return;
	}
	g->ok = 1;
	g->len = len;
	if (len > 0)
		memcpy(g->res, res, len);
}

static struct fake *
fake_new(bool in_order, uint64_t timeout_ms)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct imsg_client_peer peer = {
	    .name = "fakepeer",
	    .rpcs = rpcs,
	    .n_rpcs = sizeof(rpcs) / sizeof(rpcs[0]),
	    .in_order = in_order,
	    .call_timeout_ms = timeout_ms,
	    .dispatch = dispatch,
	    .lost = lost,
	};

	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sp), 0);
	imsg_init(&f->ib, f->sp[1]);
	peer.arg = f;
	assert_non_null(f->c = imsg_client_new(f->sp[0], &peer));
	return f;
}

static void
fake_free(struct fake *f)
{
	imsg_client_free(f->c, false);
	if (f->loop != NULL)
		evloop_free(f->loop);
	imsg_clear(&f->ib);
	close(f->sp[1]);
	free(f);
}

/* Next message the client sent. */
static uint32_t
fake_recv(struct fake *f, struct imsg *imsg)
{
	ssize_t n;

	for (;;) {
		assert_int_not_equal(n = imsg_get(&f->ib, imsg), -1);
		if (n > 0)
			return imsg_get_type(imsg);
		assert_true(imsg_read(&f->ib) > 0);
	}
}

static void
fake_send(
    struct fake *f, uint32_t type, uint32_t id, int fd, const void *d, size_t n)
{
	assert_int_not_equal(imsg_compose(&f->ib, type, id, 0, fd, d, n), -1);
	assert_int_equal(imsg_flush(&f->ib), 0);
}

static void
fake_error(
    struct fake *f, uint32_t id, uint32_t req_type, int code, const char *msg)
{
	assert_int_not_equal(
	    qb_imsg_compose_error(&f->ib, id, req_type, EINVAL, code, msg), -1);
	assert_int_equal(imsg_flush(&f->ib), 0);
}

/* Send a PING; its peerid as the fake saw it. */
static uint32_t
ping(struct fake *f, struct got *g)
{
	struct qb_error err;
	struct imsg imsg;
	uint32_t id, v = 7;

	assert_int_equal(imsg_client_request(f->c, T_PING_REQ, &v, sizeof(v),
	                     NULL, 0, got_cb, g, &err),
	    0);
	assert_int_equal(fake_recv(f, &imsg), T_PING_REQ);
	assert_int_equal(imsg_get_len(&imsg), 4);
	id = imsg_get_id(&imsg);
	imsg_free(&imsg);
	return id;
}

static uint32_t
open_req(struct fake *f, struct got *g)
{
	struct qb_error err;
	struct imsg imsg;
	uint32_t id;

	assert_int_equal(imsg_client_request(f->c, T_OPEN_REQ, NULL, 0, NULL, 0,
	                     got_cb, g, &err),
	    0);
	assert_int_equal(fake_recv(f, &imsg), T_OPEN_REQ);
	id = imsg_get_id(&imsg);
	imsg_free(&imsg);
	return id;
}

static int
count_fds(void)
{
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/* The connection is dead: the pending request failed UNAVAILABLE, the
 * peer's lost hook ran once, and new requests fail at once. */
static void
assert_killed(struct fake *f, const struct got *g)
{
	struct qb_error err;
	struct got g2 = {0};
	uint32_t v = 1;

	assert_int_equal(g->calls, 1);
	assert_int_equal(g->ok, 0);
	assert_int_equal(g->code, QB_E_UNAVAILABLE);
	assert_non_null(strstr(g->msg, "fakepeer: "));
	assert_int_equal(f->lost, 1);
	assert_true(imsg_client_dead(f->c));
	assert_int_equal(imsg_client_request(f->c, T_PING_REQ, &v, sizeof(v),
	                     NULL, 0, got_cb, &g2, &err),
	    -1);
	assert_int_equal(err.code, QB_E_UNAVAILABLE);
	assert_int_equal(g2.calls, 0);
}

static void
test_answer(void **state)
{
	struct fake *f = fake_new(true, 0);
	unsigned char pong[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct got g = {0};

	(void)state;
	fake_send(f, T_PONG, ping(f, &g), -1, pong, sizeof(pong));
	assert_int_equal(imsg_client_read(f->c), 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.ok, 1);
	assert_int_equal(g.len, 8);
	assert_memory_equal(g.res, pong, 8);
	assert_int_equal(g.fd, -1);
	assert_int_equal(f->lost, 0);
	fake_free(f);
}

static void
test_answer_with_fd(void **state)
{
	struct fake *f = fake_new(true, 0);
	uint32_t v = 42;
	struct got g = {0};
	struct stat a, b;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &a), 0);
	fake_send(f, T_OPENED, open_req(f, &g), fd, &v, sizeof(v));
	assert_int_equal(imsg_client_read(f->c), 0);
	assert_int_equal(g.ok, 1);
	assert_true(g.fd >= 0);
	assert_int_equal(fstat(g.fd, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	close(g.fd);
	fake_free(f);
}

static void
test_wrong_type(void **state)
{
	struct fake *f = fake_new(true, 0);
	uint32_t v = 1;
	struct got g = {0};

	(void)state;
	/* An OPENED (with an fd, right size for it) answering a PING. */
	fake_send(f, T_OPENED, ping(f, &g), -1, &v, sizeof(v));
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	fake_free(f);
}

static void
test_wrong_size(void **state)
{
	struct fake *f = fake_new(true, 0);
	unsigned char pong[9] = {0};
	struct got g = {0};

	(void)state;
	fake_send(f, T_PONG, ping(f, &g), -1, pong, sizeof(pong));
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	fake_free(f);
}

static void
test_bad_content(void **state)
{
	struct fake *f = fake_new(true, 0);
	unsigned char pong[8] = {0xff};
	struct got g = {0};

	(void)state;
	fake_send(f, T_PONG, ping(f, &g), -1, pong, sizeof(pong));
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	fake_free(f);
}

static void
test_missing_fd(void **state)
{
	struct fake *f = fake_new(true, 0);
	uint32_t v = 1;
	struct got g = {0};

	(void)state;
	fake_send(f, T_OPENED, open_req(f, &g), -1, &v, sizeof(v));
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	fake_free(f);
}

/* An fd where none belongs: refused, and not leaked. */
static void
test_surplus_fd(void **state)
{
	struct fake *f = fake_new(true, 0);
	unsigned char pong[8] = {0};
	struct got g = {0};
	int before, fd;
	uint32_t id;

	(void)state;
	id = ping(f, &g);
	assert_true((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	before = count_fds();
	fake_send(f, T_PONG, id, fd, pong, sizeof(pong)); /* imsg closes fd */
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	assert_int_equal(count_fds(), before - 1);
	fake_free(f);
}

static void
test_error_decoded(void **state)
{
	struct fake *f = fake_new(true, 0);
	struct got g = {0};

	(void)state;
	fake_error(f, ping(f, &g), T_PING_REQ, QB_E_PRECONDITION,
	    "the VM is not running");
	assert_int_equal(imsg_client_read(f->c), 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.code, QB_E_PRECONDITION);
	assert_string_equal(g.msg, "the VM is not running");
	assert_int_equal(f->lost, 0);
	assert_false(imsg_client_dead(f->c));
	fake_free(f);
}

/* One clamp for every peer: outside 1..14 is Unknown. */
static void
test_error_code_clamped(void **state)
{
	const int32_t codes[] = {0, -3, 15, 99};
	struct qb_imsg_error e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		struct fake *f = fake_new(true, 0);
		struct got g = {0};

		memset(&e, 0, sizeof(e));
		e.req_type = T_PING_REQ;
		e.code = codes[i];
		strcpy(e.msg, "odd code");
		fake_send(f, IMSG_ERROR, ping(f, &g), -1, &e, sizeof(e));
		assert_int_equal(imsg_client_read(f->c), 0);
		assert_int_equal(g.code, QB_E_UNKNOWN);
		assert_string_equal(g.msg, "odd code");
		fake_free(f);
	}
}

static void
test_error_malformed(void **state)
{
	struct qb_imsg_error e;
	struct fake *f;
	struct got g;

	(void)state;
	/* msg without a NUL inside its field */
	f = fake_new(true, 0);
	memset(&g, 0, sizeof(g));
	memset(&e, 'A', sizeof(e));
	e.req_type = T_PING_REQ;
	e.code = QB_E_INVALID;
	fake_send(f, IMSG_ERROR, ping(f, &g), -1, &e, sizeof(e));
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	fake_free(f);

	/* short */
	f = fake_new(true, 0);
	memset(&g, 0, sizeof(g));
	memset(&e, 0, sizeof(e));
	e.req_type = T_PING_REQ;
	fake_send(f, IMSG_ERROR, ping(f, &g), -1, &e, sizeof(e) - 1);
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	fake_free(f);

	/* naming another request */
	f = fake_new(true, 0);
	memset(&g, 0, sizeof(g));
	fake_error(f, ping(f, &g), T_OPEN_REQ, QB_E_INVALID, "not yours");
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	fake_free(f);
}

/* An error for a staged message answers the request it was staged for. */
static void
test_staged(void **state)
{
	struct fake *f = fake_new(false, 0);
	struct imsg_client_staged st[2];
	uint32_t a = 1, b = 2, got_v, id;
	struct qb_error err;
	struct imsg imsg;
	struct got g = {0};
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), rfd;

	(void)state;
	assert_true(fd >= 0);
	st[0] = (struct imsg_client_staged){.data = &a, .len = 4, .fd = fd};
	st[1] = (struct imsg_client_staged){.data = &b, .len = 4, .fd = fd};
	assert_int_equal(imsg_client_request(f->c, T_OPEN_REQ, NULL, 0, st, 2,
	                     got_cb, &g, &err),
	    0);
	/* One fd per sendmsg: unattached, the caller writes while asked. */
	while (imsg_client_want_write(f->c))
		assert_int_equal(imsg_client_write(f->c), 0);
	assert_int_equal(fake_recv(f, &imsg), T_STAGE);
	id = imsg_get_id(&imsg);
	assert_int_equal(qb_imsg_get_struct(&imsg, &got_v, 4), 0);
	assert_int_equal(got_v, 1);
	assert_true((rfd = qb_imsg_take_fd(&imsg)) >= 0);
	close(rfd);
	imsg_free(&imsg);
	assert_int_equal(fake_recv(f, &imsg), T_STAGE);
	assert_int_equal(imsg_get_id(&imsg), id);
	assert_true((rfd = qb_imsg_take_fd(&imsg)) >= 0);
	close(rfd);
	imsg_free(&imsg);
	assert_int_equal(fake_recv(f, &imsg), T_OPEN_REQ);
	assert_int_equal(imsg_get_id(&imsg), id);
	imsg_free(&imsg);
	/* The caller's fd is still its own. */
	assert_int_not_equal(fcntl(fd, F_GETFD), -1);
	close(fd);

	fake_error(f, id, T_STAGE, QB_E_INVALID, "bad fd role");
	/* A second error for the same request is ignored (not in order). */
	fake_error(f, id, T_OPEN_REQ, QB_E_INVALID, "late");
	assert_int_equal(imsg_client_read(f->c), 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.code, QB_E_INVALID);
	assert_string_equal(g.msg, "bad fd role");
	assert_int_equal(f->lost, 0);

	/* Staged messages on a request whose table row has none: refused. */
	assert_int_equal(imsg_client_request(
	                     f->c, T_PING_REQ, &a, 4, st, 1, got_cb, &g, &err),
	    -1);
	assert_int_equal(err.code, QB_E_INTERNAL);
	fake_free(f);
}

/* A request that carries its own fd: a duplicate goes, the caller keeps its. */
static void
test_request_fd(void **state)
{
	struct fake *f = fake_new(true, 0);
	struct stat st_sent, st_got;
	uint32_t v = 42, got_v, res = 0;
	unsigned char reply[4] = {1, 2, 3, 4};
	struct qb_error err;
	struct imsg imsg;
	struct got g = {0};
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), rfd;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st_sent), 0);
	assert_int_equal(imsg_client_request_fd(f->c, T_PUT_REQ, &v, sizeof(v),
	                     fd, got_cb, &g, &err),
	    0);
	assert_int_equal(fake_recv(f, &imsg), T_PUT_REQ);
	assert_int_equal(qb_imsg_get_struct(&imsg, &got_v, 4), 0);
	assert_int_equal(got_v, 42);
	assert_true((rfd = qb_imsg_take_fd(&imsg)) >= 0);
	assert_int_not_equal(rfd, fd);
	assert_int_equal(fstat(rfd, &st_got), 0);
	assert_true(
	    st_got.st_ino == st_sent.st_ino && st_got.st_dev == st_sent.st_dev);
	close(rfd);
	fake_send(f, T_PUT_RES, imsg_get_id(&imsg), -1, reply, sizeof(reply));
	imsg_free(&imsg);
	assert_int_equal(imsg_client_read(f->c), 0);
	assert_int_equal(g.ok, 1);
	assert_int_equal(g.len, 4);
	assert_int_not_equal(fcntl(fd, F_GETFD), -1);

	/* Without its fd, or an fd on a row without one: refused, unsent. */
	g = (struct got){0};
	assert_int_equal(imsg_client_request(f->c, T_PUT_REQ, &v, sizeof(v),
	                     NULL, 0, got_cb, &g, &err),
	    -1);
	assert_int_equal(err.code, QB_E_INTERNAL);
	assert_int_equal(imsg_client_request_fd(f->c, T_PUT_REQ, &v, sizeof(v),
	                     -1, got_cb, &g, &err),
	    -1);
	assert_int_equal(imsg_client_request_fd(f->c, T_PING_REQ, &v, sizeof(v),
	                     fd, got_cb, &g, &err),
	    -1);
	assert_int_equal(err.code, QB_E_INTERNAL);
	assert_int_equal(g.calls, 0);
	assert_false(imsg_client_want_write(f->c));

	/* Blocking: the answer is already waiting (second peerid). */
	fake_send(f, T_PUT_RES, 2, -1, reply, sizeof(reply));
	assert_int_equal(imsg_client_call_fd(f->c, T_PUT_REQ, &v, sizeof(v), fd,
	                     &res, sizeof(res), &err),
	    0);
	assert_memory_equal(&res, reply, 4);
	assert_int_equal(fake_recv(f, &imsg), T_PUT_REQ);
	assert_true((rfd = qb_imsg_take_fd(&imsg)) >= 0);
	close(rfd);
	imsg_free(&imsg);
	assert_int_equal(f->lost, 0);
	close(fd);
	fake_free(f);
}

static void
test_out_of_order(void **state)
{
	struct fake *f = fake_new(true, 0);
	unsigned char pong[8] = {0};
	struct got g1 = {0}, g2 = {0};
	uint32_t id2;

	(void)state;
	(void)ping(f, &g1);
	id2 = ping(f, &g2);
	fake_send(f, T_PONG, id2, -1, pong, sizeof(pong));
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g1);
	assert_int_equal(g2.calls, 1);
	assert_int_equal(g2.code, QB_E_UNAVAILABLE);
	fake_free(f);
}

/* By peerid when not in order; an unknown one is ignored. */
static void
test_by_peerid(void **state)
{
	struct fake *f = fake_new(false, 0);
	unsigned char pong[8] = {9};
	struct got g1 = {0}, g2 = {0};
	uint32_t id1, id2;

	(void)state;
	id1 = ping(f, &g1);
	id2 = ping(f, &g2);
	fake_send(f, T_PONG, id2, -1, pong, sizeof(pong));
	fake_send(f, T_PONG, id2 + 100, -1, pong, sizeof(pong));
	fake_send(f, T_PONG, id1, -1, pong, sizeof(pong));
	assert_int_equal(imsg_client_read(f->c), 0);
	assert_int_equal(g1.ok + g2.ok, 2);
	assert_int_equal(f->lost, 0);
	fake_free(f);
}

static void
test_events_and_unknown(void **state)
{
	struct fake *f = fake_new(true, 0);
	uint32_t ev = 5;
	struct got g = {0};

	(void)state;
	fake_send(f, T_EVENT, 0, -1, &ev, sizeof(ev));
	assert_int_equal(imsg_client_read(f->c), 0);
	assert_int_equal(f->events, 1);
	assert_int_equal(f->last_event, 5);
	/* A malformed event: the dispatcher says no, the core cuts. */
	(void)ping(f, &g);
	fake_send(f, T_EVENT, 0, -1, &ev, 2);
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	fake_free(f);
}

static void
test_bad_request(void **state)
{
	struct fake *f = fake_new(true, 0);
	struct qb_error err;
	struct got g = {0};
	uint64_t v = 0;

	(void)state;
	assert_int_equal(imsg_client_request(f->c, T_PING_REQ, &v, 8, NULL, 0,
	                     got_cb, &g, &err),
	    -1);
	assert_int_equal(err.code, QB_E_INTERNAL);
	assert_int_equal(imsg_client_request(
	                     f->c, 12345, NULL, 0, NULL, 0, got_cb, &g, &err),
	    -1);
	assert_int_equal(g.calls, 0);
	assert_false(imsg_client_want_write(f->c));
	fake_free(f);
}

static void
test_eof(void **state)
{
	struct fake *f = fake_new(true, 0);
	struct got g = {0};

	(void)state;
	(void)ping(f, &g);
	shutdown(f->sp[1], SHUT_WR);
	assert_int_equal(imsg_client_read(f->c), -1);
	assert_killed(f, &g);
	assert_non_null(strstr(g.msg, "fakepeer: closed the channel"));
	fake_free(f);
}

/* Blocking, unattached: the answer is already in the socket. */
static void
test_call_poll(void **state)
{
	struct fake *f = fake_new(true, 0);
	unsigned char pong[8] = {4, 3, 2, 1}, res[8];
	struct qb_error err;
	uint32_t v = 3, ev = 8;
	struct imsg imsg;
	int fd = -2;

	(void)state;
	fake_send(f, T_EVENT, 0, -1, &ev, sizeof(ev));
	fake_send(f, T_PONG, 1, -1, pong, sizeof(pong)); /* first peerid */
	assert_int_equal(imsg_client_call(f->c, T_PING_REQ, &v, sizeof(v), NULL,
	                     0, res, sizeof(res), &fd, &err),
	    0);
	assert_memory_equal(res, pong, 8);
	assert_int_equal(fd, -1);
	assert_int_equal(f->events, 1);
	assert_int_equal(fake_recv(f, &imsg), T_PING_REQ);
	imsg_free(&imsg);

	fake_error(f, 2, T_PING_REQ, QB_E_NOTFOUND, "no such thing");
	assert_int_equal(imsg_client_call(f->c, T_PING_REQ, &v, sizeof(v), NULL,
	                     0, res, sizeof(res), NULL, &err),
	    -1);
	assert_int_equal(err.code, QB_E_NOTFOUND);
	assert_string_equal(err.msg, "no such thing");
	/* A reply buffer that does not fit the table. */
	assert_int_equal(imsg_client_call(f->c, T_PING_REQ, &v, sizeof(v), NULL,
	                     0, res, 4, NULL, &err),
	    -1);
	assert_int_equal(err.code, QB_E_INTERNAL);
	fake_free(f);
}

/* Blocking, attached: the loop runs, the bound holds, nothing dangles. */
static void
test_call_timeout(void **state)
{
	struct fake *f = fake_new(true, 300);
	unsigned char res[8], pong[8] = {0};
	struct qb_error err;
	uint64_t t0;
	uint32_t v = 3;

	(void)state;
	assert_non_null(f->loop = evloop_new());
	assert_int_equal(imsg_client_attach(f->c, f->loop), 0);
	t0 = evloop_now_ns();
	assert_int_equal(imsg_client_call(f->c, T_PING_REQ, &v, sizeof(v), NULL,
	                     0, res, sizeof(res), NULL, &err),
	    -1);
	assert_int_equal(err.code, QB_E_DEADLINE);
	assert_true(evloop_now_ns() - t0 >= 300ull * 1000 * 1000);
	/* The late answer finds nothing pending: in order, so it is cut. */
	fake_send(f, T_PONG, 1, -1, pong, sizeof(pong));
	assert_true(evloop_run_once(f->loop, 1000) >= 0);
	assert_int_equal(f->lost, 1);
	fake_free(f);
}

static void
test_free_cancel(void **state)
{
	struct fake *f = fake_new(true, 0);
	struct got g1 = {0}, g2 = {0};
	struct imsg_client_peer peer = {
	    .name = "fakepeer",
	    .rpcs = rpcs,
	    .n_rpcs = 2,
	    .in_order = true,
	    .dispatch = dispatch,
	};
	int sp[2];
	struct imsg_client *c2;
	struct qb_error err;
	uint32_t v = 1;

	(void)state;
	(void)ping(f, &g1);
	imsg_client_free(f->c, true);
	f->c = NULL;
	assert_int_equal(g1.calls, 1);
	assert_int_equal(g1.code, QB_E_CANCELED);
	imsg_clear(&f->ib);
	close(f->sp[1]);
	free(f);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	peer.arg = NULL;
	assert_non_null(c2 = imsg_client_new(sp[0], &peer));
	assert_int_equal(imsg_client_request(c2, T_PING_REQ, &v, sizeof(v),
	                     NULL, 0, got_cb, &g2, &err),
	    0);
	imsg_client_free(c2, false);
	assert_int_equal(g2.calls, 0);
	close(sp[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answer),
	    cmocka_unit_test(test_answer_with_fd),
	    cmocka_unit_test(test_wrong_type),
	    cmocka_unit_test(test_wrong_size),
	    cmocka_unit_test(test_bad_content),
	    cmocka_unit_test(test_missing_fd),
	    cmocka_unit_test(test_surplus_fd),
	    cmocka_unit_test(test_error_decoded),
	    cmocka_unit_test(test_error_code_clamped),
	    cmocka_unit_test(test_error_malformed),
	    cmocka_unit_test(test_staged),
	    cmocka_unit_test(test_request_fd),
	    cmocka_unit_test(test_out_of_order),
	    cmocka_unit_test(test_by_peerid),
	    cmocka_unit_test(test_events_and_unknown),
	    cmocka_unit_test(test_bad_request),
	    cmocka_unit_test(test_eof),
	    cmocka_unit_test(test_call_poll),
	    cmocka_unit_test(test_call_timeout),
	    cmocka_unit_test(test_free_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * lib/chan_pump: the stream -> fd pump writes through, credits the sender
 * back in quarter-window steps, and holds no more than the window when the
 * fd's reader stalls (the sender then breaks the credit rule, EPROTO); the
 * fd -> stream pump moves a pipe's content in window-sized reads, or by
 * splice (chan_splice_enable) in whole frames that keep their order with
 * frames queued while one waits.
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
#include "lib/chan_pump.h"
#include "lib/evloop.h"

#define CREDIT_FRAME (CHAN_HDR_LEN + 4)

static const struct chan_ops no_ops = {0};

/* Feed one DATA frame of n bytes of value v on stream sid. */
static int
feed(struct chan *ch, uint32_t sid, size_t n, uint8_t v)
{
	uint8_t *b = malloc(CHAN_HDR_LEN + n);
	int rc;

	assert_non_null(b);
	chan_hdr_encode(b, (uint32_t)n, sid, CHAN_T_DATA, 0);
	memset(b + CHAN_HDR_LEN, v, n);
	rc = chan_input(ch, b, CHAN_HDR_LEN + n);
	free(b);
	return rc;
}

static size_t
drain(int fd)
{
	static uint8_t buf[1 << 16];
	size_t total = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	return total;
}

/* Write-through and credit in quarter-window steps. */
static void
test_to_fd_grant_steps(void **state)
{
	struct evloop *loop = evloop_new();
	struct chan *ch = chan_new(-1, CHAN_HOST, &no_ops, NULL);
	struct chan_pump *p;
	int pfd[2];
	size_t i;

	(void)state;
	assert_int_equal(pipe2(pfd, O_NONBLOCK), 0);
	p = chan_pump_to_fd(loop, ch, 5, pfd[1], NULL, NULL);
	assert_non_null(p);
	/* 4 KiB frames: each reaches the pipe at once, no CREDIT yet. */
	for (i = 1; i < CHAN_WINDOW / 4 / 4096; i++) {
		assert_int_equal(feed(ch, 5, 4096, 'a'), 0);
		assert_int_equal(drain(pfd[0]), 4096);
		assert_int_equal(chan_queued(ch), 0);
	}
	/* The frame that completes a quarter window: one CREDIT of it. */
	assert_int_equal(feed(ch, 5, 4096, 'a'), 0);
	assert_int_equal(drain(pfd[0]), 4096);
	assert_int_equal(chan_queued(ch), CREDIT_FRAME);
	chan_pump_free(p);
	chan_free(ch);
	evloop_free(loop);
	close(pfd[0]);
}

/*
 * A reader that never reads: the pump holds what the fd did not take, up
 * to the window; the sender has no credit left, and one byte more is a
 * violation.
 */
static void
test_to_fd_stalled_reader_bounded(void **state)
{
	struct evloop *loop = evloop_new();
	struct chan *ch = chan_new(-1, CHAN_HOST, &no_ops, NULL);
	struct chan_pump *p;
	int sv[2], small = 4096;
	size_t sent = 0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(
	    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	p = chan_pump_to_fd(loop, ch, 9, sv[1], NULL, NULL);
	assert_non_null(p);
	while (sent < CHAN_WINDOW) {
		assert_int_equal(feed(ch, 9, CHAN_MAX_DATA, 'b'), 0);
		sent += CHAN_MAX_DATA;
	}
	/* The socket took less than a grant step: no credit went back, the
	 * rest waits in the pump, and the sender's window is spent. */
	assert_int_equal(chan_queued(ch), 0);
	assert_int_equal(feed(ch, 9, 1, 'c'), -1);
	assert_int_equal(errno, EPROTO);
	assert_string_equal(chan_violation(ch), "data beyond credit");
	chan_pump_free(p);
	chan_free(ch);
	evloop_free(loop);
	close(sv[0]);
}

/* Small writes to a pipe leave as few window-sized frames. */
static void
test_from_fd_window_reads(void **state)
{
	struct evloop *loop = evloop_new();
	struct chan *ch = chan_new(-1, CHAN_GUEST, &no_ops, NULL);
	struct chan_pump *p;
	static uint8_t chunk[4096];
	int pfd[2], i;

	(void)state;
	assert_int_equal(pipe2(pfd, O_NONBLOCK), 0);
	p = chan_pump_from_fd(loop, ch, 3, pfd[0], false, NULL, NULL);
	assert_non_null(p);
	/* The pump made the pipe a window deep: 64 writes of 4 KiB fit. */
	for (i = 0; i < (int)(CHAN_WINDOW / sizeof(chunk)); i++)
		assert_int_equal(write(pfd[1], chunk, sizeof(chunk)),
		    (ssize_t)sizeof(chunk));
	assert_true(evloop_run_once(loop, 1000) >= 1);
	/* One read of the whole window: CHAN_WINDOW / CHAN_MAX_DATA frames. */
	assert_int_equal(chan_queued(ch),
	    CHAN_WINDOW + (CHAN_WINDOW / CHAN_MAX_DATA) * CHAN_HDR_LEN);
	/* Out of credit, bytes still in the pipe, the writer gone: the
	 * hang-up does not wake the pump over and over. */
	assert_int_equal(
	    write(pfd[1], chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
	close(pfd[1]);
	assert_int_equal(evloop_run_once(loop, 50), 0);
	assert_int_equal(evloop_run_once(loop, 50), 0);
	chan_pump_free(p);
	chan_free(ch);
	evloop_free(loop);
}

struct sink {
	uint8_t buf[2 * CHAN_WINDOW];
	size_t len;
	int credits; /* CREDIT frames seen after all DATA */
};

static void
sink_data(struct chan_stream *s, const uint8_t *p, size_t n, void *arg)
{
	struct sink *k = arg;

	assert_true(k->len + n <= sizeof(k->buf));
	assert_int_equal(k->credits, 0);
	memcpy(k->buf + k->len, p, n);
	k->len += n;
	(void)chan_stream_grant(s, n);
}

static void
sink_credit(struct chan_stream *s, void *arg)
{
	struct sink *k = arg;

	(void)s;
	k->credits++;
}

static const struct chan_stream_ops sink_ops = {.on_data = sink_data};
static const struct chan_stream_ops sink_send_ops = {.on_credit = sink_credit};

/* Read everything the guest end wrote and hand it to the host chan. */
static void
deliver(int fd, struct chan *host)
{
	static uint8_t buf[1 << 16];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		assert_int_equal(chan_input(host, buf, (size_t)n), 0);
}

/*
 * Splice: the pipe's bytes reach the host intact as DATA frames; while part
 * of a staged frame waits for the socket, a CREDIT the guest sends meanwhile
 * is queued behind it and arrives after it.
 */
static void
test_from_fd_splice(void **state)
{
	struct evloop *loop = evloop_new();
	struct chan *g, *h;
	struct chan_pump *p;
	struct chan_stream *hin, *hout, *gin;
	static struct sink k;
	static uint8_t pattern[CHAN_WINDOW];
	int pfd[2], sv[2], small = 4096;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + i / 251);
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	g = chan_new(sv[0], CHAN_GUEST, &no_ops, NULL);
	h = chan_new(-1, CHAN_HOST, &no_ops, NULL);
	assert_int_equal(chan_splice_enable(g), 0);
	hin = chan_stream_open(h, 3, CHAN_RECV, &sink_ops, &k);
	hout = chan_stream_open(h, 4, CHAN_SEND, &sink_send_ops, &k);
	gin = chan_stream_open(g, 4, CHAN_RECV, NULL, NULL);
	assert_non_null(hin);
	assert_non_null(hout);
	assert_non_null(gin);
	assert_int_equal(pipe2(pfd, O_NONBLOCK), 0);
	p = chan_pump_from_fd(loop, g, 3, pfd[0], false, NULL, NULL);
	assert_non_null(p);
	assert_int_equal(
	    write(pfd[1], pattern, CHAN_MAX_DATA), (ssize_t)CHAN_MAX_DATA);
	assert_true(evloop_run_once(loop, 1000) >= 1);
	/* The socket took part of the frame; a CREDIT now waits behind it
	 * (for 100 bytes the host sent on stream 4). */
	assert_int_equal(chan_queued(g), 0);
	assert_int_equal(chan_stream_send(hout, pattern, 100), 100);
	assert_int_equal(feed(g, 4, 100, 'x'), 0);
	assert_int_equal(chan_stream_grant(gin, 100), 0);
	assert_int_equal(chan_queued(g), CREDIT_FRAME);
	while (chan_queued(g) > 0) {
		deliver(sv[1], h);
		assert_int_equal(chan_flush(g), 0);
	}
	deliver(sv[1], h);
	assert_int_equal(k.len, CHAN_MAX_DATA);
	assert_int_equal(k.credits, 1);
	/* More data after the credit: spliced again, all of it in order. */
	k.credits = 0;
	assert_int_equal(write(pfd[1], pattern + CHAN_MAX_DATA,
	                     sizeof(pattern) - CHAN_MAX_DATA),
	    (ssize_t)(sizeof(pattern) - CHAN_MAX_DATA));
	close(pfd[1]);
	for (i = 0; i < 1000 && k.len < sizeof(pattern); i++) {
		(void)evloop_run_once(loop, 100);
		assert_int_equal(chan_flush(g), 0);
		deliver(sv[1], h);
	}
	assert_int_equal(k.len, sizeof(pattern));
	assert_memory_equal(k.buf, pattern, sizeof(pattern));
	chan_pump_free(p);
	chan_free(g);
	chan_free(h);
	evloop_free(loop);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_to_fd_grant_steps),
	    cmocka_unit_test(test_to_fd_stalled_reader_bounded),
	    cmocka_unit_test(test_from_fd_window_reads),
	    cmocka_unit_test(test_from_fd_splice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

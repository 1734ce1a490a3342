/*
 * lib/chan_pump: the stream -> fd pump writes through, credits the sender
 * back in quarter-window steps, and holds no more than the window when the
 * fd's reader stalls (the sender then breaks the credit rule, EPROTO); the
 * fd -> stream pump moves a pipe's content in window-sized reads.
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
	chan_pump_free(p);
	chan_free(ch);
	evloop_free(loop);
	close(pfd[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_to_fd_grant_steps),
	    cmocka_unit_test(test_to_fd_stalled_reader_bounded),
	    cmocka_unit_test(test_from_fd_window_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

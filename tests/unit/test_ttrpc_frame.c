/* Unit tests for lib/ttrpc_frame: header codec, reader, writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ttrpc_frame.h"

static void
test_hdr_golden(void **state)
{
	/* WIRE.md §1.4: a unary request of N bytes on stream 1. */
	/* clang-format off */
	static const uint8_t want[TTRPC_HDR_LEN] = { 0x00, 0x00, 0x01, 0x2c,
		0x00, 0x00, 0x00, 0x01, 0x01, 0x00 };
	/* clang-format on */
	struct ttrpc_hdr h = {.len = 300,
	                     .stream_id = 1,
	                     .type = TTRPC_T_REQUEST,
	                     .flags = 0},
	                 back;
	uint8_t out[TTRPC_HDR_LEN];

	(void)state;
	ttrpc_hdr_encode(&h, out);
	assert_memory_equal(out, want, sizeof(want));

	/* clang-format off */
	static const uint8_t big[TTRPC_HDR_LEN] = { 0xfe, 0xdc, 0xba, 0x98,
		0x80, 0x00, 0x00, 0x03, 0x02, 0x05 };
	/* clang-format on */
	ttrpc_hdr_decode(big, &back);
	assert_int_equal(back.len, 0xfedcba98u);
	assert_int_equal(back.stream_id, 0x80000003u);
	assert_int_equal(back.type, TTRPC_T_RESPONSE);
	assert_int_equal(back.flags, 5);
}

static void
test_reader_bytewise(void **state)
{
	/* Two frames (one empty) fed one byte at a time. */
	/* clang-format off */
	static const uint8_t in[] = { 0, 0, 0, 3, 0, 0, 0, 1, 1, 0, 'a', 'b',
		'c', 0, 0, 0, 0, 0, 0, 0, 3, 2, 0 };
	/* clang-format on */
	struct ttrpc_reader r;
	struct ttrpc_frame f;
	size_t i;
	int got = 0;

	(void)state;
	ttrpc_reader_init(&r, 0);
	for (i = 0; i < sizeof(in); i++) {
		assert_int_equal(ttrpc_reader_feed(&r, in + i, 1), 0);
		while (ttrpc_reader_next(&r, &f) == 1) {
			if (got == 0) {
				assert_int_equal(i, 12);
				assert_int_equal(f.hdr.len, 3);
				assert_int_equal(f.hdr.stream_id, 1);
				assert_int_equal(f.hdr.type, TTRPC_T_REQUEST);
				assert_memory_equal(f.data, "abc", 3);
			} else {
				assert_int_equal(i, sizeof(in) - 1);
				assert_int_equal(f.hdr.len, 0);
				assert_int_equal(f.hdr.stream_id, 3);
				assert_int_equal(f.hdr.type, TTRPC_T_RESPONSE);
			}
			assert_false(f.oversized);
			got++;
		}
	}
	assert_int_equal(got, 2);
	assert_int_equal(ttrpc_reader_pending(&r), 0);
	ttrpc_reader_free(&r);
}

static void
test_reader_oversized(void **state)
{
	struct ttrpc_reader r;
	struct ttrpc_frame f;
	struct ttrpc_hdr h = {
	    .len = 100, .stream_id = 7, .type = TTRPC_T_REQUEST};
	uint8_t hdr[TTRPC_HDR_LEN], junk[64];
	uint8_t next[TTRPC_HDR_LEN + 2];

	(void)state;
	memset(junk, 0xaa, sizeof(junk));
	ttrpc_reader_init(&r, 50);
	ttrpc_hdr_encode(&h, hdr);
	ttrpc_reader_feed(&r, hdr, sizeof(hdr));
	/* Reported as soon as the header is in, before any data. */
	assert_int_equal(ttrpc_reader_next(&r, &f), 1);
	assert_true(f.oversized);
	assert_null(f.data);
	assert_int_equal(f.hdr.stream_id, 7);
	assert_int_equal(f.hdr.len, 100);
	ttrpc_reader_feed(&r, junk, 64);
	assert_int_equal(ttrpc_reader_next(&r, &f), 0);
	assert_int_equal(ttrpc_reader_pending(&r), 36);
	/* The rest of the junk and the next frame arrive together. */
	ttrpc_reader_feed(&r, junk, 36);
	h.len = 2;
	h.stream_id = 9;
	ttrpc_hdr_encode(&h, next);
	next[10] = 'o';
	next[11] = 'k';
	ttrpc_reader_feed(&r, next, sizeof(next));
	assert_int_equal(ttrpc_reader_next(&r, &f), 1);
	assert_false(f.oversized);
	assert_int_equal(f.hdr.stream_id, 9);
	assert_memory_equal(f.data, "ok", 2);
	assert_int_equal(ttrpc_reader_next(&r, &f), 0);
	ttrpc_reader_free(&r);

	/* Exactly the maximum is accepted. */
	ttrpc_reader_init(&r, 50);
	h.len = 50;
	ttrpc_hdr_encode(&h, hdr);
	ttrpc_reader_feed(&r, hdr, sizeof(hdr));
	ttrpc_reader_feed(&r, junk, 50);
	assert_int_equal(ttrpc_reader_next(&r, &f), 1);
	assert_false(f.oversized);
	ttrpc_reader_free(&r);
}

/* A 4 MiB frame (the containerd maximum) through a real socket, read
 * incrementally with non-blocking reads; then one byte more is refused. */
static void
test_socket_max_frame(void **state)
{
	struct ttrpc_writer w;
	struct ttrpc_reader r;
	struct ttrpc_frame f;
	uint8_t *big;
	int sv[2], wdone = 0, got = 0, over = 0;
	size_t i;

	(void)state;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	big = malloc(TTRPC_MAX_DATA + 1);
	assert_non_null(big);
	for (i = 0; i < TTRPC_MAX_DATA + 1; i++)
		big[i] = (uint8_t)(i * 7);
	ttrpc_writer_init(&w, 0);
	ttrpc_reader_init(&r, 0);
	assert_int_equal(
	    ttrpc_writer_queue(&w, 1, TTRPC_T_REQUEST, 0, big, TTRPC_MAX_DATA),
	    0);
	assert_int_equal(ttrpc_writer_queue(&w, 3, TTRPC_T_REQUEST, 0, big,
	                     TTRPC_MAX_DATA + 1),
	    -1);
	assert_int_equal(errno, EMSGSIZE);
	/* An empty frame right behind it must come out intact too. */
	assert_int_equal(ttrpc_writer_queue(&w, 0, 0, 0, NULL, 0), 0);
	while (!wdone || got < 2) {
		if (!wdone) {
			int rc = ttrpc_writer_flush(&w, sv[0]);
			assert_true(rc >= 0);
			if (rc == 1)
				wdone = 1;
		}
		ssize_t n = ttrpc_reader_fill(&r, sv[1]);
		assert_true(n > 0 || (n == -1 && errno == EAGAIN));
		while (ttrpc_reader_next(&r, &f) == 1) {
			if (got == 0) {
				assert_int_equal(f.hdr.len, TTRPC_MAX_DATA);
				assert_memory_equal(
				    f.data, big, TTRPC_MAX_DATA);
			} else {
				assert_int_equal(f.hdr.len, 0);
				assert_int_equal(f.hdr.stream_id, 0);
			}
			got++;
		}
	}
	/* Now one byte over the limit, forged on the raw socket. */
	{
		uint8_t hdr[TTRPC_HDR_LEN];
		struct ttrpc_hdr h = {.len = TTRPC_MAX_DATA + 1,
		    .stream_id = 5,
		    .type = TTRPC_T_REQUEST};
		size_t off = 0, tot = TTRPC_MAX_DATA + 1;
		ttrpc_hdr_encode(&h, hdr);
		assert_int_equal(write(sv[0], hdr, sizeof(hdr)), sizeof(hdr));
		while (off < tot || over == 0) {
			if (off < tot) {
				ssize_t n = write(sv[0], big + off, tot - off);
				if (n > 0)
					off += (size_t)n;
			}
			ssize_t n = ttrpc_reader_fill(&r, sv[1]);
			assert_true(n > 0 || (n == -1 && errno == EAGAIN));
			while (ttrpc_reader_next(&r, &f) == 1) {
				assert_true(f.oversized);
				assert_int_equal(f.hdr.stream_id, 5);
				over++;
			}
		}
		/* Drain the skipped data; the buffer stays small. */
		while (ttrpc_reader_pending(&r) > 0) {
			ssize_t n = ttrpc_reader_fill(&r, sv[1]);
			assert_true(n > 0 || (n == -1 && errno == EAGAIN));
			assert_int_equal(ttrpc_reader_next(&r, &f), 0);
		}
		assert_int_equal(over, 1);
		assert_true(r.cap <= TTRPC_MAX_DATA + 2 * 65536);
	}
	ttrpc_writer_free(&w);
	ttrpc_reader_free(&r);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

static void
test_writer_bound_and_order(void **state)
{
	struct ttrpc_writer w;
	struct ttrpc_reader r;
	struct ttrpc_frame f;
	uint8_t buf[64];
	int sv[2];
	uint32_t id;

	(void)state;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	ttrpc_writer_init(&w, 3 * (TTRPC_HDR_LEN + 4));
	for (id = 1; id <= 5; id += 2)
		assert_int_equal(
		    ttrpc_writer_queue(&w, id, TTRPC_T_RESPONSE, 0, "data", 4),
		    0);
	assert_int_equal(ttrpc_writer_queue(&w, 7, 2, 0, "data", 4), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(ttrpc_writer_queued(&w), 42);
	assert_int_equal(ttrpc_writer_flush(&w, sv[0]), 1);
	assert_int_equal(ttrpc_writer_queued(&w), 0);
	ttrpc_reader_init(&r, 0);
	assert_int_equal(ttrpc_reader_fill(&r, sv[1]), 42);
	for (id = 1; id <= 5; id += 2) {
		assert_int_equal(ttrpc_reader_next(&r, &f), 1);
		assert_int_equal(f.hdr.stream_id, id);
		assert_memory_equal(f.data, "data", 4);
	}
	/* A closed peer is an error, not SIGPIPE. */
	close(sv[1]);
	assert_int_equal(ttrpc_writer_queue(&w, 9, 2, 0, "x", 1), 0);
	assert_int_equal(ttrpc_writer_flush(&w, sv[0]), -1);
	assert_int_equal(errno, EPIPE);
	/* A pipe (not a socket) works too, as a virtio-serial port would. */
	{
		int p[2];
		struct ttrpc_writer w2;
		assert_int_equal(pipe2(p, O_NONBLOCK), 0);
		ttrpc_writer_init(&w2, 0);
		assert_int_equal(ttrpc_writer_queue(&w2, 1, 1, 0, "pp", 2), 0);
		assert_int_equal(ttrpc_writer_flush(&w2, p[1]), 1);
		assert_int_equal(read(p[0], buf, sizeof(buf)), 12);
		assert_memory_equal(buf + 10, "pp", 2);
		ttrpc_writer_free(&w2);
		close(p[0]);
		close(p[1]);
	}
	ttrpc_writer_free(&w);
	ttrpc_reader_free(&r);
	close(sv[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hdr_golden),
	    cmocka_unit_test(test_reader_bytewise),
	    cmocka_unit_test(test_reader_oversized),
	    cmocka_unit_test(test_socket_max_frame),
	    cmocka_unit_test(test_writer_bound_and_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

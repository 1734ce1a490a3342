/*
 * imsg library: wire format, framing across partial reads and writes, fd
 * passing (the fd that arrives is the very file that was sent), limits, and
 * the qemubox typed readers.
 */
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imsg/imsg.h"
#include "lib/proc_spawn.h"

struct pair {
	int nfds_before;
	int fd[2];
	struct imsgbuf a; /* side 0 */
	struct imsgbuf b; /* side 1 */
};

/* Open fds of this process: every test must end with as many as it began. */
static int
count_fds(void)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	assert_non_null(d = opendir("/proc/self/fd"));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static int
pair_setup(void **state)
{
	struct pair *p;

	p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->nfds_before = count_fds();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
	imsg_init(&p->a, p->fd[0]);
	imsg_init(&p->b, p->fd[1]);
	*state = p;
	return 0;
}

static int
pair_teardown(void **state)
{
	struct pair *p = *state;

	imsg_clear(&p->a);
	imsg_clear(&p->b);
	if (p->fd[0] != -1)
		close(p->fd[0]);
	if (p->fd[1] != -1)
		close(p->fd[1]);
	/* No fd leaked by the library (queued, received or sent ones). */
	assert_int_equal(count_fds(), p->nfds_before);
	free(p);
	return 0;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_int_not_equal(fl, -1);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* Reads until one message is complete; the test fails if the peer closes. */
static void
get_one(struct imsgbuf *ib, struct imsg *imsg)
{
	ssize_t n;

	for (;;) {
		n = imsg_get(ib, imsg);
		assert_true(n >= 0);
		if (n > 0)
			return;
		n = imsg_read(ib);
		assert_true(n > 0);
	}
}

static void
raw_write(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void
test_header_layout(void **state)
{
	struct pair *p = *state;
	unsigned char raw[64];
	struct imsg_hdr hdr;
	uint32_t payload = 0xdeadbeef;

	(void)state;
	assert_int_equal(IMSG_HEADER_SIZE, 16);
	assert_int_equal(offsetof(struct imsg_hdr, type), 0);
	assert_int_equal(offsetof(struct imsg_hdr, len), 4);
	assert_int_equal(offsetof(struct imsg_hdr, flags), 6);
	assert_int_equal(offsetof(struct imsg_hdr, peerid), 8);
	assert_int_equal(offsetof(struct imsg_hdr, pid), 12);

	/* What goes on the wire, byte for byte, in host order. */
	assert_int_equal(
	    imsg_compose(&p->a, 7, 42, 1234, -1, &payload, sizeof(payload)), 1);
	assert_int_equal(imsg_flush(&p->a), 0);
	assert_int_equal(read(p->fd[1], raw, sizeof(raw)), 20);
	memcpy(&hdr, raw, sizeof(hdr));
	assert_int_equal(hdr.type, 7);
	assert_int_equal(hdr.len, 20);
	assert_int_equal(hdr.flags, 0);
	assert_int_equal(hdr.peerid, 42);
	assert_int_equal(hdr.pid, 1234);
	assert_memory_equal(raw + 16, &payload, 4);
}

static void
test_roundtrip(void **state)
{
	struct pair *p = *state;
	struct imsg imsg;
	const char data[] = "hello, vmmon";
	char got[sizeof(data)];

	assert_int_equal(
	    imsg_compose(&p->a, 200, 9, 0, -1, data, sizeof(data)), 1);
	assert_int_equal(msgbuf_queuelen(&p->a.w), 1);
	assert_int_equal(imsg_flush(&p->a), 0);
	assert_int_equal(msgbuf_queuelen(&p->a.w), 0);

	get_one(&p->b, &imsg);
	assert_int_equal(imsg_get_type(&imsg), 200);
	assert_int_equal(imsg_get_id(&imsg), 9);
	assert_int_equal(imsg_get_pid(&imsg), getpid());
	assert_int_equal(imsg_get_len(&imsg), sizeof(data));
	assert_int_equal(imsg.fd, -1);
	assert_int_equal(imsg_get_data(&imsg, got, sizeof(got)), 0);
	assert_string_equal(got, data);
	imsg_free(&imsg);
	assert_int_equal(imsg_get(&p->b, &imsg), 0);
}

static void
test_empty_payload(void **state)
{
	struct pair *p = *state;
	struct imsg imsg;
	char c;

	assert_int_equal(imsg_compose(&p->a, 3, 0, 0, -1, NULL, 0), 1);
	assert_int_equal(imsg_flush(&p->a), 0);
	get_one(&p->b, &imsg);
	assert_int_equal(imsg_get_len(&imsg), 0);
	assert_null(imsg.data);
	/* Exact-size reads: nothing to read, and len 0 is a caller bug. */
	assert_int_equal(imsg_get_data(&imsg, &c, 1), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(imsg_get_data(&imsg, &c, 0), -1);
	assert_int_equal(errno, EINVAL);
	imsg_free(&imsg);
}

static void
test_many_in_one_read(void **state)
{
	struct pair *p = *state;
	struct imsg imsg;
	uint32_t i, v;
	ssize_t n;

	for (i = 0; i < 100; i++)
		assert_int_equal(
		    imsg_compose(&p->a, 1, i, 0, -1, &i, sizeof(i)), 1);
	assert_int_equal(imsg_flush(&p->a), 0);

	/* 100 * 20 bytes arrive in one read; get must be called in a loop. */
	for (i = 0; i < 100;) {
		n = imsg_get(&p->b, &imsg);
		assert_true(n >= 0);
		if (n == 0) {
			assert_true(imsg_read(&p->b) > 0);
			continue;
		}
		assert_int_equal(n, 20);
		assert_int_equal(imsg_get_id(&imsg), i);
		assert_int_equal(imsg_get_data(&imsg, &v, sizeof(v)), 0);
		assert_int_equal(v, i);
		imsg_free(&imsg);
		i++;
	}
}

static void
test_partial_read(void **state)
{
	struct pair *p = *state;
	unsigned char raw[16 + 100];
	struct imsg_hdr hdr = {.type = 77, .len = sizeof(raw), .peerid = 5};
	struct imsg imsg;
	size_t i;

	memcpy(raw, &hdr, sizeof(hdr));
	for (i = 0; i < 100; i++)
		raw[16 + i] = (unsigned char)i;

	/* Byte by byte: no message until the last byte is in. */
	for (i = 0; i < sizeof(raw); i++) {
		assert_int_equal(imsg_get(&p->b, &imsg), 0);
		raw_write(p->fd[0], raw + i, 1);
		assert_int_equal(imsg_read(&p->b), 1);
	}
	assert_int_equal(imsg_get(&p->b, &imsg), (ssize_t)sizeof(raw));
	assert_int_equal(imsg_get_type(&imsg), 77);
	assert_int_equal(imsg_get_len(&imsg), 100);
	assert_memory_equal(imsg.data, raw + 16, 100);
	imsg_free(&imsg);
}

static void
test_partial_write(void **state)
{
	struct pair *p = *state;
	static unsigned char big[MAX_IMSGSIZE - IMSG_HEADER_SIZE];
	struct imsg imsg;
	struct ibuf *first;
	int sndbuf = 4096, i, got = 0, partial = 0, r;
	size_t j;

	for (j = 0; j < sizeof(big); j++)
		big[j] = (unsigned char)(j * 7);
	assert_int_equal(setsockopt(p->fd[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	                     sizeof(sndbuf)),
	    0);
	set_nonblock(p->fd[0]);
	set_nonblock(p->fd[1]);

	for (i = 0; i < 20; i++) {
		big[0] = (unsigned char)i;
		assert_int_equal(
		    imsg_compose(&p->a, 2, i, 0, -1, big, sizeof(big)), 1);
	}
	/* Fill the socket first: nobody reads yet, so the writer blocks. */
	while ((r = msgbuf_write(&p->a.w)) == 1)
		;
	assert_int_equal(r, -1);
	assert_int_equal(errno, EAGAIN);
	/* Then alternate sends and reads until all 20 arrived intact. */
	while (got < 20) {
		if (msgbuf_queuelen(&p->a.w) > 0) {
			r = msgbuf_write(&p->a.w);
			if (r == -1)
				assert_int_equal(errno, EAGAIN);
			else
				assert_int_equal(r, 1);
			first = TAILQ_FIRST(&p->a.w.bufs);
			if (first != NULL && first->rpos > 0)
				partial++;
		}
		if (imsg_read(&p->b) == -1)
			assert_int_equal(errno, EAGAIN);
		while (imsg_get(&p->b, &imsg) > 0) {
			assert_int_equal(imsg_get_id(&imsg), got);
			big[0] = (unsigned char)got;
			assert_int_equal(imsg_get_len(&imsg), sizeof(big));
			assert_memory_equal(imsg.data, big, sizeof(big));
			imsg_free(&imsg);
			got++;
		}
	}
	/* 320 KiB through a small buffer: some message went out in pieces. */
	assert_true(partial > 0);
	assert_int_equal(msgbuf_queuelen(&p->a.w), 0);
}

static void
test_partial_write_keeps_offset(void **state)
{
	struct pair *p = *state;
	struct imsg imsg;
	struct ibuf *first;
	char data[1000];

	memset(data, 'x', sizeof(data));
	assert_int_equal(
	    imsg_compose(&p->a, 1, 1, 0, -1, data, sizeof(data)), 1);
	/* Pretend the kernel took 10 bytes: the rest must resume from there. */
	first = TAILQ_FIRST(&p->a.w.bufs);
	raw_write(p->fd[0], ibuf_data(first), 10);
	first->rpos += 10;
	assert_int_equal(imsg_flush(&p->a), 0);
	get_one(&p->b, &imsg);
	assert_int_equal(imsg_get_len(&imsg), sizeof(data));
	assert_memory_equal(imsg.data, data, sizeof(data));
	imsg_free(&imsg);
}

static void
test_fd_passing_file(void **state)
{
	struct pair *p = *state;
	struct stat st_sent, st_got;
	struct imsg imsg;
	int fd, sendfd, got;
	char buf[16];

	assert_true((fd = memfd_create("test_imsg", 0)) != -1);
	assert_int_equal(fstat(fd, &st_sent), 0);
	assert_true((sendfd = dup(fd)) != -1);

	assert_int_equal(imsg_compose(&p->a, 10, 0, 0, sendfd, "f", 2), 1);
	assert_int_equal(imsg_flush(&p->a), 0);
	/* The library owned sendfd and closed it once it was sent. */
	assert_false(fd_is_open(sendfd));

	get_one(&p->b, &imsg);
	assert_int_equal(imsg.hdr.flags & IMSGF_HASFD, IMSGF_HASFD);
	got = imsg_get_fd(&imsg);
	assert_true(got >= 0);
	assert_int_equal(imsg_get_fd(&imsg), -1); /* ownership moved */
	imsg_free(&imsg);

	assert_int_equal(fstat(got, &st_got), 0);
	assert_int_equal(st_got.st_dev, st_sent.st_dev);
	assert_int_equal(st_got.st_ino, st_sent.st_ino);
	/* Same open file description: the offset is shared. */
	assert_int_equal(write(got, "abc", 3), 3);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);
	assert_int_equal(pread(fd, buf, 3, 0), 3);
	assert_memory_equal(buf, "abc", 3);
	close(got);
	close(fd);
}

static void
test_fd_passing_pipe_order(void **state)
{
	struct pair *p = *state;
	struct imsg imsg;
	int pipes[3][2], i, got;
	char c;

	/* fd, no fd, fd, fd: each message gets its own fd, in order. */
	for (i = 0; i < 3; i++)
		assert_int_equal(pipe(pipes[i]), 0);
	assert_int_equal(imsg_compose(&p->a, 1, 0, 0, pipes[0][1], NULL, 0), 1);
	assert_int_equal(imsg_compose(&p->a, 1, 1, 0, -1, NULL, 0), 1);
	assert_int_equal(imsg_compose(&p->a, 1, 2, 0, pipes[1][1], NULL, 0), 1);
	assert_int_equal(imsg_compose(&p->a, 1, 3, 0, pipes[2][1], NULL, 0), 1);
	assert_int_equal(imsg_flush(&p->a), 0);

	for (i = 0; i < 4; i++) {
		get_one(&p->b, &imsg);
		assert_int_equal(imsg_get_id(&imsg), i);
		got = imsg_get_fd(&imsg);
		imsg_free(&imsg);
		if (i == 1) {
			assert_int_equal(got, -1);
			continue;
		}
		assert_true(got >= 0);
		c = (char)('0' + i);
		assert_int_equal(write(got, &c, 1), 1);
		close(got);
		/* Read from the pipe whose write end should have been got. */
		c = 0;
		assert_int_equal(read(pipes[i == 0 ? 0 : i - 1][0], &c, 1), 1);
		assert_int_equal(c, '0' + i);
	}
	for (i = 0; i < 3; i++)
		close(pipes[i][0]);
}

static void
test_hasfd_without_fd(void **state)
{
	struct pair *p = *state;
	struct imsg_hdr hdr = {.type = 5, .len = 16, .flags = IMSGF_HASFD};
	struct imsg imsg;

	raw_write(p->fd[0], &hdr, sizeof(hdr));
	get_one(&p->b, &imsg);
	assert_int_equal(imsg.fd, -1);
	assert_int_equal(qb_imsg_take_fd(&imsg), -1);
	assert_int_equal(errno, EBADMSG);
	imsg_free(&imsg);
}

static void
test_oversized_compose(void **state)
{
	struct pair *p = *state;
	static char big[MAX_IMSGSIZE];
	struct iovec iov[2];

	assert_int_equal(imsg_compose(&p->a, 1, 0, 0, -1, big,
	                     MAX_IMSGSIZE - IMSG_HEADER_SIZE + 1),
	    -1);
	assert_int_equal(errno, ERANGE);
	assert_null(imsg_create(&p->a, 1, 0, 0, MAX_IMSGSIZE));
	assert_int_equal(errno, ERANGE);
	iov[0].iov_base = big;
	iov[0].iov_len = 10000;
	iov[1].iov_base = big;
	iov[1].iov_len = 10000;
	assert_int_equal(imsg_composev(&p->a, 1, 0, 0, -1, iov, 2), -1);
	assert_int_equal(errno, ERANGE);
	/* The largest legal message is fine. */
	assert_int_equal(imsg_compose(&p->a, 1, 0, 0, -1, big,
	                     MAX_IMSGSIZE - IMSG_HEADER_SIZE),
	    1);
	assert_int_equal(msgbuf_queuelen(&p->a.w), 1);
}

/* A header whose length field is out of range is refused (ERANGE). */
static void
bad_len_receive(struct pair *p, uint16_t len)
{
	struct imsg_hdr hdr = {.type = 1, .len = len};
	struct imsg imsg;

	raw_write(p->fd[0], &hdr, sizeof(hdr));
	assert_int_equal(imsg_read(&p->b), 16);
	assert_int_equal(imsg_get(&p->b, &imsg), -1);
	assert_int_equal(errno, ERANGE);
}

static void
test_oversized_receive(void **state)
{
	bad_len_receive(*state, MAX_IMSGSIZE + 1);
}

static void
test_short_len_receive(void **state)
{
	bad_len_receive(*state, 15);
}

static void
test_truncated_then_close(void **state)
{
	struct pair *p = *state;
	unsigned char raw[16 + 50];
	struct imsg_hdr hdr = {.type = 1, .len = 16 + 100};
	struct imsg imsg;

	memset(raw, 'z', sizeof(raw));
	memcpy(raw, &hdr, sizeof(hdr));
	raw_write(p->fd[0], raw, sizeof(raw));
	close(p->fd[0]);
	p->fd[0] = -1;
	assert_int_equal(imsg_read(&p->b), (ssize_t)sizeof(raw));
	/* Half a message is no message; then the peer is gone. */
	assert_int_equal(imsg_get(&p->b, &imsg), 0);
	assert_int_equal(imsg_read(&p->b), 0);
	assert_int_equal(imsg_get(&p->b, &imsg), 0);
}

static void
test_peer_close(void **state)
{
	struct pair *p = *state;
	struct imsg imsg;

	assert_int_equal(imsg_compose(&p->a, 1, 0, 0, -1, "x", 1), 1);
	assert_int_equal(imsg_flush(&p->a), 0);
	close(p->fd[0]);
	p->fd[0] = -1;
	/* Buffered messages are still delivered before EOF shows. */
	get_one(&p->b, &imsg);
	imsg_free(&imsg);
	assert_int_equal(imsg_read(&p->b), 0);

	/* Writing to a closed peer: EPIPE, not a SIGPIPE that kills us. */
	assert_int_equal(imsg_compose(&p->b, 1, 0, 0, -1, "x", 1), 1);
	assert_int_equal(imsg_flush(&p->b), -1);
	assert_int_equal(errno, EPIPE);
}

static void
test_eagain_read(void **state)
{
	struct pair *p = *state;

	set_nonblock(p->fd[1]);
	assert_int_equal(imsg_read(&p->b), -1);
	assert_int_equal(errno, EAGAIN);
}

static void
test_eagain_fd_table_full(void **state)
{
	struct pair *p = *state;
	struct rlimit saved, rl;
	int top;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	top = fcntl(0, F_DUPFD, 0);
	if (top == -1)
		top = open("/dev/null", O_RDONLY);
	assert_true(top >= 0);
	close(top);
	/* Room for exactly two more fds: overhead 5 cannot be met. */
	rl = saved;
	rl.rlim_cur = (rlim_t)top + 2;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	imsg_fd_overhead = 5;
	assert_int_equal(imsg_read(&p->b), -1);
	assert_int_equal(errno, EAGAIN);
	imsg_fd_overhead = 0;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

	/* With room, the same buffer reads normally. */
	assert_int_equal(imsg_compose(&p->a, 1, 0, 0, -1, "x", 1), 1);
	assert_int_equal(imsg_flush(&p->a), 0);
	assert_int_equal(imsg_read(&p->b), 17);
}

static void
test_eagain_flush(void **state)
{
	struct pair *p = *state;
	static char big[8000];
	int i, r = 1, sndbuf = 4096;

	assert_int_equal(setsockopt(p->fd[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	                     sizeof(sndbuf)),
	    0);
	set_nonblock(p->fd[0]);
	for (i = 0; i < 100; i++)
		assert_int_equal(
		    imsg_compose(&p->a, 1, 0, 0, -1, big, sizeof(big)), 1);
	/* Nobody reads: the queue cannot drain and flush must say so. */
	for (i = 0; i < 1000 && r != -1; i++)
		r = msgbuf_write(&p->a.w);
	assert_int_equal(r, -1);
	assert_int_equal(errno, EAGAIN);
	assert_true(msgbuf_queuelen(&p->a.w) > 0);
	assert_int_equal(imsg_flush(&p->a), -1);
	assert_int_equal(errno, EAGAIN);
}

static void
test_create_add_close_with_fd(void **state)
{
	struct pair *p = *state;
	struct ibuf *wbuf;
	struct imsg imsg;
	struct iovec iov[2];
	int pfd[2], got;
	char buf[8];

	assert_int_equal(pipe(pfd), 0);
	assert_non_null(wbuf = imsg_create(&p->a, 11, 22, 33, 4));
	assert_int_equal(imsg_add(wbuf, "ab", 2), 2);
	assert_int_equal(imsg_add(wbuf, "cd", 2), 2);
	ibuf_fd_set(wbuf, pfd[1]);
	imsg_close(&p->a, wbuf);

	iov[0].iov_base = (void *)(uintptr_t) "12";
	iov[0].iov_len = 2;
	iov[1].iov_base = (void *)(uintptr_t) "345";
	iov[1].iov_len = 3;
	assert_int_equal(imsg_composev(&p->a, 12, 0, 0, -1, iov, 2), 1);
	assert_int_equal(imsg_flush(&p->a), 0);

	get_one(&p->b, &imsg);
	assert_int_equal(imsg_get_type(&imsg), 11);
	assert_int_equal(imsg_get_id(&imsg), 22);
	assert_int_equal(imsg_get_pid(&imsg), 33);
	assert_int_equal(imsg_get_data(&imsg, buf, 4), 0);
	assert_memory_equal(buf, "abcd", 4);
	/* Wrong size either way is rejected. */
	assert_int_equal(imsg_get_data(&imsg, buf, 3), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(imsg_get_data(&imsg, buf, 5), -1);
	assert_int_equal(errno, EBADMSG);
	got = imsg_get_fd(&imsg);
	assert_true(got >= 0);
	imsg_free(&imsg);
	assert_int_equal(write(got, "!", 1), 1);
	assert_int_equal(read(pfd[0], buf, 1), 1);
	assert_int_equal(buf[0], '!');
	close(got);
	close(pfd[0]);

	get_one(&p->b, &imsg);
	assert_int_equal(imsg_get_type(&imsg), 12);
	assert_int_equal(imsg_get_data(&imsg, buf, 5), 0);
	assert_memory_equal(buf, "12345", 5);
	assert_int_equal(imsg.fd, -1);
	imsg_free(&imsg);
}

static void
test_compose_ibuf_and_forward(void **state)
{
	struct pair *p = *state;
	struct ibuf *body;
	struct imsg imsg, fwd;
	uint32_t v;

	assert_non_null(body = ibuf_dynamic(0, 64));
	assert_int_equal(ibuf_add_h32(body, 0x01020304), 0);
	assert_int_equal(imsg_compose_ibuf(&p->a, 50, 60, 70, body), 1);
	assert_int_equal(imsg_flush(&p->a), 0);
	get_one(&p->b, &imsg);
	assert_int_equal(imsg_get_type(&imsg), 50);
	assert_int_equal(imsg_get_data(&imsg, &v, sizeof(v)), 0);
	assert_int_equal(v, 0x01020304);

	/* Forward it back: same header values and data. */
	assert_int_equal(imsg_forward(&p->b, &imsg), 1);
	imsg_free(&imsg);
	assert_int_equal(imsg_flush(&p->b), 0);
	get_one(&p->a, &fwd);
	assert_int_equal(imsg_get_type(&fwd), 50);
	assert_int_equal(imsg_get_id(&fwd), 60);
	assert_int_equal(imsg_get_pid(&fwd), 70);
	assert_int_equal(imsg_get_data(&fwd, &v, sizeof(v)), 0);
	assert_int_equal(v, 0x01020304);
	imsg_free(&fwd);

	/* Too big: the ibuf is freed (ASan would see a leak otherwise). */
	assert_non_null(body = ibuf_dynamic(MAX_IMSGSIZE, MAX_IMSGSIZE));
	assert_int_equal(ibuf_add_zero(body, MAX_IMSGSIZE), 0);
	assert_int_equal(imsg_compose_ibuf(&p->a, 1, 0, 0, body), -1);
	assert_int_equal(errno, ERANGE);
}

static void
test_clear_closes_fds(void **state)
{
	struct pair *p = *state;
	int p1[2], p2[2];
	char c;

	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	/* One fd received but never taken, one queued but never sent. */
	assert_int_equal(imsg_compose(&p->a, 1, 0, 0, p1[1], NULL, 0), 1);
	assert_int_equal(imsg_flush(&p->a), 0);
	assert_true(imsg_read(&p->b) > 0);
	assert_int_equal(imsg_compose(&p->a, 1, 0, 0, p2[1], NULL, 0), 1);
	imsg_clear(&p->a);
	imsg_clear(&p->b);
	/* Every write end is closed now, so both pipes read EOF. */
	assert_int_equal(read(p1[0], &c, 1), 0);
	assert_int_equal(read(p2[0], &c, 1), 0);
	close(p1[0]);
	close(p2[0]);
}

static void
test_ibuf(void **state)
{
	struct ibuf *b, view;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;
	uint8_t v8;
	unsigned char *raw;

	(void)state;
	assert_null(ibuf_open(0));
	assert_int_equal(errno, EINVAL);
	assert_null(ibuf_dynamic(10, 5));
	assert_int_equal(errno, EINVAL);

	assert_non_null(b = ibuf_dynamic(0, 16));
	assert_int_equal(ibuf_add_n8(b, 0x1ff), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(ibuf_add_n8(b, 0xab), 0);
	assert_int_equal(ibuf_add_n16(b, 0x1234), 0);
	assert_int_equal(ibuf_add_n32(b, 0x56789abc), 0);
	assert_int_equal(ibuf_add_n64(b, 1), 0);
	assert_int_equal(ibuf_size(b), 15);
	assert_int_equal(ibuf_left(b), 1);
	raw = ibuf_data(b);
	assert_int_equal(raw[1], 0x12); /* network order */
	assert_int_equal(raw[2], 0x34);
	assert_int_equal(ibuf_add_n16(b, 1), -1);
	assert_int_equal(errno, ERANGE);

	assert_int_equal(ibuf_set_n16(b, 1, 0x4321), 0);
	assert_int_equal(ibuf_set_n16(b, 14, 1), -1);
	assert_int_equal(errno, ERANGE);

	assert_int_equal(ibuf_get_n8(b, &v8), 0);
	assert_int_equal(v8, 0xab);
	assert_int_equal(ibuf_get_n16(b, &v16), 0);
	assert_int_equal(v16, 0x4321);
	assert_int_equal(ibuf_get_n32(b, &v32), 0);
	assert_int_equal(v32, 0x56789abc);
	assert_int_equal(ibuf_get_ibuf(b, 8, &view), 0);
	assert_int_equal(ibuf_get_n64(&view, &v64), 0);
	assert_int_equal(v64, 1);
	assert_int_equal(ibuf_get_n8(b, &v8), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(ibuf_skip(b, 1), -1);
	assert_int_equal(errno, EBADMSG);
	ibuf_rewind(b);
	assert_int_equal(ibuf_size(b), 15);
	assert_int_equal(ibuf_truncate(b, 3), 0);
	assert_int_equal(ibuf_size(b), 3);
	assert_int_equal(ibuf_truncate(b, 5), 0);
	assert_int_equal(ibuf_size(b), 5);
	ibuf_free(b);

	/* Fixed buffers do not grow. */
	assert_non_null(b = ibuf_open(4));
	assert_int_equal(ibuf_add_h32(b, 7), 0);
	assert_int_equal(ibuf_add_zero(b, 1), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(ibuf_get_h32(b, &v32), 0);
	assert_int_equal(v32, 7);
	ibuf_free(b);
}

static void
test_qb_get_str(void **state)
{
	struct pair *p = *state;
	struct imsg imsg;
	char dst[8];

	/* good, too long, no NUL, embedded NUL, empty */
	assert_int_equal(qb_imsg_compose_str(&p->a, 1, 0, -1, "abc"), 1);
	assert_int_equal(qb_imsg_compose_str(&p->a, 1, 1, -1, "abcdefgh"), 1);
	assert_int_equal(imsg_compose(&p->a, 1, 2, 0, -1, "abc", 3), 1);
	assert_int_equal(imsg_compose(&p->a, 1, 3, 0, -1, "a\0b", 4), 1);
	assert_int_equal(imsg_compose(&p->a, 1, 4, 0, -1, NULL, 0), 1);
	assert_int_equal(imsg_flush(&p->a), 0);

	get_one(&p->b, &imsg);
	assert_int_equal(qb_imsg_get_str(&imsg, dst, sizeof(dst)), 0);
	assert_string_equal(dst, "abc");
	imsg_free(&imsg);

	get_one(&p->b, &imsg);
	assert_int_equal(qb_imsg_get_str(&imsg, dst, sizeof(dst)), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_string_equal(dst, "");
	imsg_free(&imsg);

	get_one(&p->b, &imsg);
	assert_int_equal(qb_imsg_get_str(&imsg, dst, sizeof(dst)), -1);
	assert_int_equal(errno, EBADMSG);
	imsg_free(&imsg);

	get_one(&p->b, &imsg);
	assert_int_equal(qb_imsg_get_str(&imsg, dst, sizeof(dst)), -1);
	assert_int_equal(errno, EBADMSG);
	imsg_free(&imsg);

	get_one(&p->b, &imsg);
	assert_int_equal(qb_imsg_get_str(&imsg, dst, sizeof(dst)), -1);
	assert_int_equal(errno, EBADMSG);
	imsg_free(&imsg);
}

static void
test_qb_get_struct_and_strfield(void **state)
{
	struct pair *p = *state;
	struct req {
		uint32_t n;
		char name[8];
	} in, out;
	struct imsg imsg;
	char big[sizeof(in) + 1];

	memset(&in, 0, sizeof(in));
	in.n = 3;
	memcpy(in.name, "eth0", 5);
	memset(big, 0, sizeof(big));
	assert_int_equal(imsg_compose(&p->a, 1, 0, 0, -1, &in, sizeof(in)), 1);
	assert_int_equal(imsg_compose(&p->a, 1, 0, 0, -1, big, sizeof(big)), 1);
	assert_int_equal(imsg_flush(&p->a), 0);

	get_one(&p->b, &imsg);
	assert_int_equal(qb_imsg_get_struct(&imsg, &out, sizeof(out)), 0);
	assert_int_equal(out.n, 3);
	assert_int_equal(qb_imsg_check_strfield(out.name, sizeof(out.name)), 4);
	memset(out.name, 'A', sizeof(out.name));
	assert_int_equal(
	    qb_imsg_check_strfield(out.name, sizeof(out.name)), -1);
	assert_int_equal(errno, EBADMSG);
	imsg_free(&imsg);

	/* One byte too many: rejected, and out is not half-filled. */
	get_one(&p->b, &imsg);
	out.n = 99;
	assert_int_equal(qb_imsg_get_struct(&imsg, &out, sizeof(out)), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(out.n, 0);
	imsg_free(&imsg);
}

/*
 * The helper side of test_helper_over_proc_spawn, run as this same binary
 * with --imsg-echo: the shape of qemubox-privnet/vmmon's main loop.
 */
static int
echo_helper(void)
{
	struct imsgbuf ib;
	struct imsg imsg;
	char payload[64];
	ssize_t n;
	int fd, mfd;

	imsg_init(&ib, PROC_SPAWN_IMSG_FD);
	for (;;) {
		if ((n = imsg_read(&ib)) == -1)
			return 2;
		if (n == 0)
			return 0; /* the parent closed: normal shutdown */
		while ((n = imsg_get(&ib, &imsg)) > 0) {
			if (qb_imsg_get_str(&imsg, payload, sizeof(payload)) ==
			        -1 ||
			    (fd = qb_imsg_take_fd(&imsg)) == -1)
				return 3;
			/* Answer through the fd we got, and send one back. */
			if (write(fd, "pong", 4) != 4)
				return 4;
			close(fd);
			if ((mfd = memfd_create("reply", 0)) == -1 ||
			    write(mfd, payload, strlen(payload)) !=
			        (ssize_t)strlen(payload))
				return 5;
			if (qb_imsg_compose_str(&ib, imsg_get_type(&imsg) + 1,
			        imsg_get_id(&imsg), mfd, "done") == -1 ||
			    imsg_flush(&ib) == -1)
				return 6;
			imsg_free(&imsg);
		}
		if (n == -1)
			return 7;
	}
}

static void
test_helper_over_proc_spawn(void **state)
{
	struct pair *p = *state;
	char *argv[] = {"test_imsg", "--imsg-echo", NULL};
	struct imsgbuf ib;
	struct imsg imsg;
	char buf[64];
	int pfd[2], got, status;
	pid_t pid;

	/* p's socketpair carries the conversation; the helper gets fd[1]. */
	pid = proc_spawn("/proc/self/exe", argv, p->fd[1], PROC_SPAWN_IMSG_FD);
	assert_true(pid > 0);
	close(p->fd[1]);
	p->fd[1] = -1;
	imsg_init(&ib, p->fd[0]);

	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(qb_imsg_compose_str(&ib, 300, 7, pfd[1], "ping"), 1);
	assert_int_equal(imsg_flush(&ib), 0);
	get_one(&ib, &imsg);
	assert_int_equal(imsg_get_type(&imsg), 301);
	assert_int_equal(imsg_get_id(&imsg), 7);
	assert_int_equal(imsg_get_pid(&imsg), pid);
	assert_int_equal(qb_imsg_get_str(&imsg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "done");
	got = qb_imsg_take_fd(&imsg);
	assert_true(got >= 0);
	imsg_free(&imsg);

	assert_int_equal(read(pfd[0], buf, 4), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_int_equal(pread(got, buf, 4, 0), 4);
	assert_memory_equal(buf, "ping", 4);
	close(got);
	close(pfd[0]);

	imsg_clear(&ib);
	close(p->fd[0]);
	p->fd[0] = -1;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(int argc, char *argv[])
{
	if (argc == 2 && strcmp(argv[1], "--imsg-echo") == 0)
		return echo_helper();

	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, pair_setup, pair_teardown)
	    T(test_header_layout),
	    T(test_roundtrip),
	    T(test_empty_payload),
	    T(test_many_in_one_read),
	    T(test_partial_read),
	    T(test_partial_write),
	    T(test_partial_write_keeps_offset),
	    T(test_fd_passing_file),
	    T(test_fd_passing_pipe_order),
	    T(test_hasfd_without_fd),
	    T(test_oversized_compose),
	    T(test_oversized_receive),
	    T(test_short_len_receive),
	    T(test_truncated_then_close),
	    T(test_peer_close),
	    T(test_eagain_read),
	    T(test_eagain_fd_table_full),
	    T(test_eagain_flush),
	    T(test_create_add_close_with_fd),
	    T(test_compose_ibuf_and_forward),
	    T(test_clear_closes_fds),
	    T(test_ibuf),
	    T(test_qb_get_str),
	    T(test_qb_get_struct_and_strfield),
	    T(test_helper_over_proc_spawn),
#undef T
	};

	return cmocka_run_group_tests_name("imsg", tests, NULL, NULL);
}

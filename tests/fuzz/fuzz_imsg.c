/*
 * libFuzzer target for the imsg reader: bytes a peer could send.
 *
 * Byte 0 picks the read size (1..128) and the path: even = bytes copied
 * straight into the read buffer (the framing parser alone), odd = bytes sent
 * through a real socketpair with imsg_read(), an fd attached to some chunks
 * (byte 1's bits say which), so the fd FIFO and its pairing with IMSGF_HASFD
 * are exercised too. Every message goes through the typed readers. After
 * each input no fd may be left open (the set of open fds must not change).
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
consume(struct imsg *imsg)
{
	char str[256];
	unsigned char fixed[24];
	struct ibuf view;
	uint32_t v;
	int fd;

	(void)imsg_get_type(imsg);
	(void)imsg_get_id(imsg);
	(void)imsg_get_pid(imsg);
	(void)qb_imsg_get_str(imsg, str, sizeof(str));
	if (qb_imsg_get_struct(imsg, fixed, sizeof(fixed)) == 0)
		(void)qb_imsg_check_strfield((const char *)fixed + 8, 16);
	if (imsg_get_ibuf(imsg, &view) == 0)
		while (ibuf_get_n32(&view, &v) == 0)
			;
	if ((fd = imsg_get_fd(imsg)) != -1)
		close(fd);
	imsg_free(imsg);
}

/* Cuts every complete message; -1 when the stream is broken. */
static int
drain(struct imsgbuf *ib)
{
	struct imsg imsg;
	ssize_t r;

	while ((r = imsg_get(ib, &imsg)) > 0)
		consume(&imsg);
	return r == -1 ? -1 : 0;
}

static void
feed_buffer(struct imsgbuf *ib, const uint8_t *data, size_t size, size_t chunk)
{
	size_t n;

	while (size > 0) {
		n = size < chunk ? size : chunk;
		if (n > sizeof(ib->r.buf) - ib->r.wpos)
			break;
		memcpy(ib->r.buf + ib->r.wpos, data, n);
		ib->r.wpos += n;
		data += n;
		size -= n;
		if (drain(ib) == -1)
			break; /* a real reader drops the connection here */
	}
}

static void
send_chunk(int sock, const uint8_t *data, size_t n, int with_fd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct msghdr msg;
	struct cmsghdr *cmsg;
	struct iovec iov;
	int fd = -1;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = n;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (with_fd && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)n)
		__builtin_trap();
	if (fd != -1)
		close(fd);
}

static void
feed_socket(struct imsgbuf *ib, int sock, const uint8_t *data, size_t size,
    size_t chunk, unsigned fdbits)
{
	size_t n;
	unsigned i = 0;

	while (size > 0) {
		n = size < chunk ? size : chunk;
		send_chunk(sock, data, n, (fdbits >> (i++ % 8)) & 1);
		data += n;
		size -= n;
		if (imsg_read(ib) <= 0)
			break;
		if (drain(ib) == -1)
			break;
	}
}

/* Which of the first 64 fds are open: one bit each, cheap enough per run. */
static uint64_t
open_fds(void)
{
	uint64_t mask = 0;
	int fd;

	for (fd = 0; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			mask |= 1ULL << fd;
	return mask;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct imsgbuf ib;
	size_t chunk;
	int sv[2], use_socket;
	uint64_t before;
	unsigned fdbits;

	if (size < 2)
		return 0;
	before = open_fds();
	chunk = (size_t)(data[0] >> 1) + 1;
	use_socket = data[0] & 1;
	fdbits = data[1];
	data += 2;
	size -= 2;

	if (use_socket) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		    -1)
			__builtin_trap();
		imsg_init(&ib, sv[1]);
		feed_socket(&ib, sv[0], data, size, chunk, fdbits);
		imsg_clear(&ib);
		close(sv[0]);
		close(sv[1]);
	} else {
		imsg_init(&ib, -1);
		feed_buffer(&ib, data, size, chunk);
		imsg_clear(&ib);
	}
	/* Received, paired, dropped or cleared: every fd is closed again. */
	if (open_fds() != before)
		__builtin_trap();
	return 0;
}

/*
 * imsg framing on top of ibuf/msgbuf: OpenBSD 7.5 API and wire format
 * (WIRE.md 5). Read side: one recvmsg per imsg_read() into a 64 KiB buffer,
 * received fds go to a FIFO; imsg_get() cuts one message at a time and pairs
 * it with the next fd when the header says IMSGF_HASFD.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"

struct imsg_fd {
	TAILQ_ENTRY(imsg_fd) entry;
	int fd;
};

int imsg_fd_overhead = 0;

static int imsg_dequeue_fd(struct imsgbuf *);
static int imsg_fdtable_has_room(int, int);

void
imsg_init(struct imsgbuf *imsgbuf, int fd)
{
	msgbuf_init(&imsgbuf->w);
	/*
	 * Not a memset of r: its buffer is 64 KiB that only reads fill (wpos
	 * says how far), and clearing it touched 16 pages per imsgbuf at
	 * each helper's start, 15-20 us of CPU each on this host.
	 */
	imsgbuf->r.wpos = 0;
	imsgbuf->r.rptr = imsgbuf->r.buf;
	imsgbuf->fd = fd;
	imsgbuf->w.fd = fd;
	imsgbuf->pid = getpid();
	TAILQ_INIT(&imsgbuf->fds);
}

/*
 * OpenBSD checks getdtablecount() against getdtablesize() so that an fd the
 * peer sends is never dropped for lack of a slot. Linux has no
 * getdtablecount() and /proc may be absent in a jail, so ask the kernel
 * directly: can it still hand out `need` descriptors? Two syscalls per slot,
 * and it also sees holes in the table that a count would not.
 */
static int
imsg_fdtable_has_room(int sock, int need)
{
	int fds[64];
	int i, n = 0, room = 1;

	if (need > (int)(sizeof(fds) / sizeof(fds[0])))
		need = (int)(sizeof(fds) / sizeof(fds[0]));
	for (i = 0; i < need; i++) {
		/* Duplicate the socket itself: the one fd known to be open. */
		if ((fds[n] = fcntl(sock, F_DUPFD_CLOEXEC, 0)) == -1) {
			if (errno != EBADF)
				room = 0;
			break;
		}
		n++;
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	return room;
}

ssize_t
imsg_read(struct imsgbuf *imsgbuf)
{
	struct msghdr msg;
	struct cmsghdr *cmsg;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec iov;
	struct imsg_fd *ifd;
	ssize_t n;
	size_t i, nfds;
	int fd;

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));

	iov.iov_base = imsgbuf->r.buf + imsgbuf->r.wpos;
	iov.iov_len = sizeof(imsgbuf->r.buf) - imsgbuf->r.wpos;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);

	/* Allocated before reading: after recvmsg an fd must not be lost. */
	if ((ifd = calloc(1, sizeof(*ifd))) == NULL)
		return -1;

	if (!imsg_fdtable_has_room(imsgbuf->fd, imsg_fd_overhead + 1)) {
		free(ifd);
		errno = EAGAIN;
		return -1;
	}

again:
	if ((n = recvmsg(imsgbuf->fd, &msg, 0)) == -1) {
		if (errno == EINTR)
			goto again;
		free(ifd);
		return -1;
	}

	imsgbuf->r.wpos += (size_t)n;

	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	     cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (ifd != NULL) {
				ifd->fd = fd;
				TAILQ_INSERT_TAIL(&imsgbuf->fds, ifd, entry);
				ifd = NULL;
			} else {
				/* A well-behaved peer sends one per call. */
				close(fd);
			}
		}
	}
	free(ifd);

	/*
	 * Linux drops fds it could not install and says so with MSG_CTRUNC.
	 * The fd queue can then no longer be paired with messages by order,
	 * so the stream is unusable: fail rather than hand out wrong fds.
	 */
	if (msg.msg_flags & MSG_CTRUNC) {
		errno = EBADMSG;
		return -1;
	}
	return n;
}

ssize_t
imsg_get(struct imsgbuf *imsgbuf, struct imsg *imsg)
{
	struct imsg m;
	size_t av, left, datalen;

	av = imsgbuf->r.wpos;
	if (av < IMSG_HEADER_SIZE)
		return 0;
	memcpy(&m.hdr, imsgbuf->r.buf, sizeof(m.hdr));
	if (m.hdr.len < IMSG_HEADER_SIZE || m.hdr.len > MAX_IMSGSIZE) {
		errno = ERANGE;
		return -1;
	}
	if (m.hdr.len > av)
		return 0;

	m.fd = -1;
	m.buf = NULL;
	m.data = NULL;
	datalen = m.hdr.len - IMSG_HEADER_SIZE;
	if (datalen > 0) {
		if ((m.buf = ibuf_open(datalen)) == NULL)
			return -1;
		if (ibuf_add(m.buf, imsgbuf->r.buf + IMSG_HEADER_SIZE,
		        datalen) == -1) {
			ibuf_free(m.buf);
			return -1;
		}
		m.data = ibuf_data(m.buf);
	}
	if (m.hdr.flags & IMSGF_HASFD)
		m.fd = imsg_dequeue_fd(imsgbuf);

	left = av - m.hdr.len;
	if (left > 0)
		memmove(imsgbuf->r.buf, imsgbuf->r.buf + m.hdr.len, left);
	imsgbuf->r.wpos = left;

	*imsg = m;
	return m.hdr.len;
}

int
imsg_get_ibuf(struct imsg *imsg, struct ibuf *ibuf)
{
	if (imsg->buf == NULL) {
		errno = EBADMSG;
		return -1;
	}
	ibuf_from_ibuf(ibuf, imsg->buf);
	return 0;
}

int
imsg_get_data(struct imsg *imsg, void *data, size_t len)
{
	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (imsg->buf == NULL || ibuf_size(imsg->buf) != len) {
		errno = EBADMSG;
		return -1;
	}
	memcpy(data, ibuf_data(imsg->buf), len);
	return 0;
}

int
imsg_get_fd(struct imsg *imsg)
{
	int fd = imsg->fd;

	imsg->fd = -1;
	return fd;
}

uint32_t
imsg_get_id(struct imsg *imsg)
{
	return imsg->hdr.peerid;
}

size_t
imsg_get_len(struct imsg *imsg)
{
	if (imsg->buf == NULL)
		return 0;
	return ibuf_size(imsg->buf);
}

pid_t
imsg_get_pid(struct imsg *imsg)
{
	return (pid_t)imsg->hdr.pid;
}

uint32_t
imsg_get_type(struct imsg *imsg)
{
	return imsg->hdr.type;
}

int
imsg_compose(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    int fd, const void *data, size_t datalen)
{
	struct ibuf *wbuf;

	/* On failure the fd is still the caller's, as on OpenBSD. */
	if ((wbuf = imsg_create(imsgbuf, type, id, pid, datalen)) == NULL)
		return -1;
	if (imsg_add(wbuf, data, datalen) == -1)
		return -1;
	ibuf_fd_set(wbuf, fd);
	imsg_close(imsgbuf, wbuf);
	return 1;
}

int
imsg_composev(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    int fd, const struct iovec *iov, int iovcnt)
{
	struct ibuf *wbuf;
	size_t datalen = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > MAX_IMSGSIZE - datalen) {
			errno = ERANGE;
			return -1;
		}
		datalen += iov[i].iov_len;
	}
	if ((wbuf = imsg_create(imsgbuf, type, id, pid, datalen)) == NULL)
		return -1;
	for (i = 0; i < iovcnt; i++)
		if (imsg_add(wbuf, iov[i].iov_base, iov[i].iov_len) == -1)
			return -1;
	ibuf_fd_set(wbuf, fd);
	imsg_close(imsgbuf, wbuf);
	return 1;
}

int
imsg_compose_ibuf(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id,
    pid_t pid, struct ibuf *buf)
{
	struct ibuf *hdrbuf = NULL;
	struct imsg_hdr hdr;
	int saved_errno;

	if (ibuf_size(buf) + IMSG_HEADER_SIZE > MAX_IMSGSIZE) {
		errno = ERANGE;
		goto fail;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = (uint16_t)(ibuf_size(buf) + IMSG_HEADER_SIZE);
	hdr.peerid = id;
	hdr.pid = (uint32_t)(pid == 0 ? imsgbuf->pid : pid);
	if ((hdrbuf = ibuf_open(IMSG_HEADER_SIZE)) == NULL)
		goto fail;
	if (ibuf_add(hdrbuf, &hdr, sizeof(hdr)) == -1)
		goto fail;
	ibuf_close(&imsgbuf->w, hdrbuf);
	ibuf_close(&imsgbuf->w, buf);
	return 1;
fail:
	saved_errno = errno;
	ibuf_free(buf);
	ibuf_free(hdrbuf);
	errno = saved_errno;
	return -1;
}

int
imsg_forward(struct imsgbuf *imsgbuf, struct imsg *imsg)
{
	struct ibuf *wbuf;
	size_t len;

	/* The fd stays behind: forwarding it would break the fd pairing. */
	if (imsg->fd != -1) {
		close(imsg->fd);
		imsg->fd = -1;
	}
	len = imsg_get_len(imsg);
	if ((wbuf = imsg_create(imsgbuf, imsg->hdr.type, imsg->hdr.peerid,
	         (pid_t)imsg->hdr.pid, len)) == NULL)
		return -1;
	if (len > 0 && imsg_add(wbuf, ibuf_data(imsg->buf), len) == -1)
		return -1;
	imsg_close(imsgbuf, wbuf);
	return 1;
}

struct ibuf *
imsg_create(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    size_t datalen)
{
	struct ibuf *wbuf;
	struct imsg_hdr hdr;

	if (datalen > MAX_IMSGSIZE - IMSG_HEADER_SIZE) {
		errno = ERANGE;
		return NULL;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.peerid = id;
	hdr.pid = (uint32_t)(pid == 0 ? imsgbuf->pid : pid);
	if ((wbuf = ibuf_dynamic(datalen + IMSG_HEADER_SIZE, MAX_IMSGSIZE)) ==
	    NULL)
		return NULL;
	if (imsg_add(wbuf, &hdr, sizeof(hdr)) == -1)
		return NULL;
	return wbuf;
}

int
imsg_add(struct ibuf *msg, const void *data, size_t datalen)
{
	if (datalen > 0 && ibuf_add(msg, data, datalen) == -1) {
		ibuf_free(msg);
		return -1;
	}
	return (int)datalen;
}

void
imsg_close(struct imsgbuf *imsgbuf, struct ibuf *msg)
{
	struct imsg_hdr hdr;

	/* The header is the first 16 bytes written; fill in len and flags. */
	memcpy(&hdr, msg->buf, sizeof(hdr));
	hdr.flags &= (uint16_t)~IMSGF_HASFD;
	if (ibuf_fd_avail(msg))
		hdr.flags |= IMSGF_HASFD;
	hdr.len = (uint16_t)ibuf_size(msg);
	memcpy(msg->buf, &hdr, sizeof(hdr));
	ibuf_close(&imsgbuf->w, msg);
}

void
imsg_free(struct imsg *imsg)
{
	ibuf_free(imsg->buf);
	imsg->buf = NULL;
	imsg->data = NULL;
}

static int
imsg_dequeue_fd(struct imsgbuf *imsgbuf)
{
	struct imsg_fd *ifd;
	int fd;

	if ((ifd = TAILQ_FIRST(&imsgbuf->fds)) == NULL)
		return -1;
	fd = ifd->fd;
	TAILQ_REMOVE(&imsgbuf->fds, ifd, entry);
	free(ifd);
	return fd;
}

int
imsg_flush(struct imsgbuf *imsgbuf)
{
	while (imsgbuf->w.queued > 0)
		if (msgbuf_write(&imsgbuf->w) <= 0)
			return -1;
	return 0;
}

void
imsg_clear(struct imsgbuf *imsgbuf)
{
	int fd;

	msgbuf_clear(&imsgbuf->w);
	while ((fd = imsg_dequeue_fd(imsgbuf)) != -1)
		close(fd);
}

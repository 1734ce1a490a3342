/*
 * Host<->guest channel framing, stdio streams and credit (lib/chan.h).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/chan.h"
#include "lib/log.h"

/* Bytes one chan_read() call consumes before yielding to other fds. */
#define CHAN_READ_BUDGET (256u << 10)
/*
 * Read buffer of chan_read(), taken as iovecs of this size: a virtio-serial
 * port returns at most one of its receive buffers (a page) per read call,
 * and the kernel fills consecutive iovecs while each read comes back full,
 * so one readv() takes many pages.
 */
#define CHAN_READ_BUF (64u << 10)
#define CHAN_READ_IOV 4096u

/*
 * Splice staging pipes: the payload pipe takes whatever fits of one frame
 * (64 buffers at most); the frame pipe (256 buffers) holds the header's
 * buffer plus the payload's of CHAN_SPLICE_FRAMES frames whatever their
 * buffers hold, so staging never stops half-way through a frame.
 */
#define CHAN_SPLICE_DATA_PIPE  (256 << 10)
#define CHAN_SPLICE_FRAME_PIPE (1 << 20)
#define CHAN_SPLICE_FRAMES     3

struct chan_stream {
	struct chan *ch;
	struct chan_stream *next;
	uint32_t id;
	enum chan_dir dir;
	/* SEND: bytes we may still send. RECV: bytes the peer may still send.
	 */
	uint32_t credit;
	bool closed;   /* SEND: we queued CLOSE. RECV: the peer sent CLOSE. */
	bool released; /* RECV: nobody consumes; discard until CLOSE */
	const struct chan_stream_ops *ops;
	void *arg;
};

struct chan {
	int fd;
	enum chan_role role;
	const struct chan_ops *ops;
	void *arg;
	int err;               /* nonzero once failed */
	const char *violation; /* the first rule the peer broke */

	/* Frame being read. */
	uint8_t hdr[CHAN_HDR_LEN];
	size_t hdr_have;
	struct ttrpc_hdr f;
	uint8_t *body;
	size_t body_have;

	struct ttrpc_writer wr;
	bool want_write;

	/* Splice (chan_splice_enable): payload pipe, frame pipe, bytes of a
	 * staged frame not yet written to fd (they go before the queue). */
	int spd[2], spf[2];
	size_t sp_pending;
	bool splice_on;
	bool splice_proven; /* fd took a splice once: EINVAL is not "no" */

	struct chan_stream *streams;
};

void
chan_hdr_encode(uint8_t out[CHAN_HDR_LEN], uint32_t len, uint32_t sid,
    uint8_t type, uint8_t flags)
{
	struct ttrpc_hdr h = {
	    .len = len, .stream_id = sid, .type = type, .flags = flags};

	ttrpc_hdr_encode(&h, out);
}

struct chan *
chan_new(int fd, enum chan_role role, const struct chan_ops *ops, void *arg)
{
	struct chan *ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return NULL;
	ch->fd = fd;
	ch->role = role;
	ch->ops = ops;
	ch->arg = arg;
	ch->spd[0] = ch->spd[1] = ch->spf[0] = ch->spf[1] = -1;
	ttrpc_writer_init(&ch->wr, CHAN_MAX_QUEUE);
	return ch;
}

static void
splice_close(struct chan *ch)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (ch->spd[i] >= 0)
			close(ch->spd[i]);
		if (ch->spf[i] >= 0)
			close(ch->spf[i]);
		ch->spd[i] = ch->spf[i] = -1;
	}
	ch->splice_on = false;
	ch->sp_pending = 0;
}

void
chan_free(struct chan *ch)
{
	struct chan_stream *s, *ns;

	if (ch == NULL)
		return;
	ttrpc_writer_free(&ch->wr);
	splice_close(ch);
	for (s = ch->streams; s != NULL; s = ns) {
		ns = s->next;
		free(s);
	}
	free(ch->body);
	free(ch);
}

int
chan_fd(const struct chan *ch)
{
	return ch->fd;
}

void
chan_fail(struct chan *ch, int err)
{
	if (ch->err == 0)
		ch->err = err ? err : EPROTO;
}

bool
chan_failed(const struct chan *ch)
{
	return ch->err != 0;
}

const char *
chan_violation(const struct chan *ch)
{
	return ch->violation;
}

size_t
chan_queued(const struct chan *ch)
{
	return ttrpc_writer_queued(&ch->wr);
}

static void
set_want_write(struct chan *ch, bool on)
{
	if (ch->want_write == on)
		return;
	ch->want_write = on;
	if (ch->ops != NULL && ch->ops->want_write != NULL)
		ch->ops->want_write(ch, on, ch->arg);
}

/* ---- splice ---- */

int
chan_splice_enable(struct chan *ch)
{
	if (ch->splice_on)
		return 0;
	if (pipe2(ch->spd, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    pipe2(ch->spf, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    fcntl(ch->spd[1], F_SETPIPE_SZ, CHAN_SPLICE_DATA_PIPE) == -1 ||
	    fcntl(ch->spf[1], F_SETPIPE_SZ, CHAN_SPLICE_FRAME_PIPE) == -1) {
		int saved = errno;

		splice_close(ch);
		errno = saved;
		return -1;
	}
	ch->splice_on = true;
	return 0;
}

/*
 * The fd refused the first spliced frame (EINVAL: no splice_write): take the
 * staged frame back and queue it like any other; splicing stays off.
 */
static int
splice_unstage(struct chan *ch)
{
	struct ttrpc_hdr h;
	uint8_t *f;
	size_t got = 0, len = ch->sp_pending;
	ssize_t n;
	int rc = -1;

	log_info("%s: the channel fd does not take splice; copying", __func__);
	if ((f = malloc(len)) == NULL)
		return -1;
	while (got < len) {
		n = read(ch->spf[0], f + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n == 0 ? EIO : errno;
			goto out;
		}
		got += (size_t)n;
	}
	ttrpc_hdr_decode(f, &h);
	splice_close(ch);
	rc = ttrpc_writer_queue(&ch->wr, h.stream_id, h.type, h.flags,
	    f + CHAN_HDR_LEN, len - CHAN_HDR_LEN);
out:
	free(f);
	return rc;
}

/* Write the staged frame to fd as far as it takes it. -1 on failure. */
static int
splice_drain(struct chan *ch)
{
	ssize_t n;

	while (ch->sp_pending > 0) {
		n = splice(ch->spf[0], NULL, ch->fd, NULL, ch->sp_pending,
		    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n == -1 && errno == EINVAL && !ch->splice_proven)
			return splice_unstage(ch);
		if (n == -1)
			return -1;
		if (n == 0) {
			/* Bytes wait in the pipe and the fd took none. */
			errno = EIO;
			return -1;
		}
		ch->splice_proven = true;
		ch->sp_pending -= (size_t)n;
	}
	return 0;
}

/*
 * Stage one DATA frame of up to want bytes from pipe fd behind what is
 * staged already. Returns the payload size, 0 at EOF, -1 with errno (EAGAIN:
 * nothing in fd); a failure on our own pipes fails the channel.
 */
static ssize_t
splice_stage(struct chan_stream *s, int fd, size_t want)
{
	struct chan *ch = s->ch;
	uint8_t hdr[CHAN_HDR_LEN];
	ssize_t m, k;
	size_t moved;

	do
		m = splice(fd, NULL, ch->spd[1], NULL, want,
		    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
	while (m == -1 && errno == EINTR);
	if (m <= 0)
		return m; /* EINVAL: fd is no pipe; the caller reads it */
	chan_hdr_encode(hdr, (uint32_t)m, s->id, CHAN_T_DATA, 0);
	if (write(ch->spf[1], hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		goto broken;
	for (moved = 0; moved < (size_t)m; moved += (size_t)k) {
		k = splice(ch->spd[0], NULL, ch->spf[1], NULL,
		    (size_t)m - moved, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (k == -1 && errno == EINTR) {
			k = 0;
			continue;
		}
		if (k <= 0)
			goto broken;
	}
	s->credit -= (uint32_t)m;
	ch->sp_pending += CHAN_HDR_LEN + (size_t)m;
	return m;
broken:
	/* Our own pipes, sized for this: cannot happen short of a bug. */
	log_warn("%s: stream %u: staging a frame", __func__, s->id);
	chan_fail(ch, EIO);
	errno = EIO;
	return -1;
}

ssize_t
chan_stream_splice(struct chan_stream *s, int fd, size_t max)
{
	struct chan *ch = s->ch;
	size_t total = 0, want;
	ssize_t m = -1;
	int i;

	if (s->dir != CHAN_SEND || s->closed) {
		errno = EINVAL;
		return -1;
	}
	if (ch->err) {
		errno = ch->err;
		return -1;
	}
	/* Frames already queued go first, and they are written from the
	 * queue: copy this one behind them. */
	if (!ch->splice_on || ch->sp_pending > 0 || chan_queued(ch) > 0) {
		errno = ENOTSUP;
		return -1;
	}
	if (max > s->credit)
		max = s->credit;
	if (max == 0) {
		errno = EAGAIN;
		return -1;
	}
	/*
	 * Several frames go to fd in one splice: one virtio-serial buffer,
	 * one notification of the host, instead of one per frame.
	 */
	for (i = 0; i < CHAN_SPLICE_FRAMES && total < max; i++) {
		want = max - total;
		if (want > CHAN_MAX_DATA)
			want = CHAN_MAX_DATA;
		if ((m = splice_stage(s, fd, want)) <= 0)
			break;
		total += (size_t)m;
		if ((size_t)m < want)
			break; /* fd is drained */
	}
	if (ch->err)
		return -1;
	if (total == 0)
		return m;
	/* What fd does not take now waits for writability, before the queue.
	 */
	if (chan_flush(ch) == -1)
		return -1;
	return (ssize_t)total;
}

int
chan_flush(struct chan *ch)
{
	int rc;

	if (ch->err) {
		errno = ch->err;
		return -1;
	}
	if (ch->sp_pending > 0 && splice_drain(ch) == -1) {
		chan_fail(ch, errno);
		return -1;
	}
	if (ch->sp_pending > 0) {
		set_want_write(ch, true);
		return 0;
	}
	if ((rc = ttrpc_writer_flush(&ch->wr, ch->fd)) == -1) {
		chan_fail(ch, errno);
		return -1;
	}
	set_want_write(ch, rc == 0);
	return 0;
}

int
chan_send_frame(struct chan *ch, uint8_t type, uint8_t flags, uint32_t sid,
    const void *p, size_t n)
{
	if (ch->err) {
		errno = ch->err;
		return -1;
	}
	if (ttrpc_writer_queue(&ch->wr, sid, type, flags, p, n) == -1) {
		if (errno == ENOBUFS)
			log_warnx("%s: write queue full (%zu bytes)", __func__,
			    chan_queued(ch));
		return -1;
	}
	/* Write-through when nothing waits: saves a loop iteration per frame.
	 */
	if (ch->fd >= 0 && !ch->want_write)
		return chan_flush(ch);
	return 0;
}

/* ---- streams ---- */

struct chan_stream *
chan_stream_find(struct chan *ch, uint32_t id)
{
	struct chan_stream *s;

	for (s = ch->streams; s != NULL; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

struct chan_stream *
chan_stream_open(struct chan *ch, uint32_t id, enum chan_dir dir,
    const struct chan_stream_ops *ops, void *arg)
{
	struct chan_stream *s;

	if (id == 0 || chan_stream_find(ch, id) != NULL) {
		errno = EEXIST;
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->ch = ch;
	s->id = id;
	s->dir = dir;
	s->credit = CHAN_WINDOW;
	s->ops = ops;
	s->arg = arg;
	s->next = ch->streams;
	ch->streams = s;
	return s;
}

static void
stream_unlink_free(struct chan_stream *s)
{
	struct chan_stream **pp;

	for (pp = &s->ch->streams; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	free(s);
}

uint32_t
chan_stream_id(const struct chan_stream *s)
{
	return s->id;
}

size_t
chan_stream_credit(const struct chan_stream *s)
{
	return s->dir == CHAN_SEND && !s->closed ? s->credit : 0;
}

bool
chan_stream_peer_closed(const struct chan_stream *s)
{
	return s->dir == CHAN_RECV && s->closed;
}

ssize_t
chan_stream_send(struct chan_stream *s, const void *p, size_t n)
{
	const uint8_t *cp = p;
	size_t done = 0, chunk;

	if (s->dir != CHAN_SEND || s->closed) {
		errno = EINVAL;
		return -1;
	}
	if (n > s->credit)
		n = s->credit;
	while (done < n) {
		chunk = n - done;
		if (chunk > CHAN_MAX_DATA)
			chunk = CHAN_MAX_DATA;
		if (chan_send_frame(
		        s->ch, CHAN_T_DATA, 0, s->id, cp + done, chunk) == -1)
			return done > 0 ? (ssize_t)done : -1;
		s->credit -= (uint32_t)chunk;
		done += chunk;
	}
	return (ssize_t)done;
}

int
chan_stream_close(struct chan_stream *s)
{
	if (s->dir != CHAN_SEND) {
		errno = EINVAL;
		return -1;
	}
	if (s->closed)
		return 0;
	s->closed = true;
	return chan_send_frame(s->ch, CHAN_T_CLOSE, 0, s->id, NULL, 0);
}

int
chan_stream_grant(struct chan_stream *s, size_t n)
{
	uint32_t be;

	if (s->dir != CHAN_RECV) {
		errno = EINVAL;
		return -1;
	}
	if (n > CHAN_WINDOW - s->credit)
		n = CHAN_WINDOW - s->credit;
	if (n == 0 || s->closed)
		return 0;
	s->credit += (uint32_t)n;
	be = htobe32((uint32_t)n);
	return chan_send_frame(s->ch, CHAN_T_CREDIT, 0, s->id, &be, sizeof(be));
}

void
chan_stream_release(struct chan_stream *s)
{
	if (s->dir == CHAN_SEND) {
		(void)chan_stream_close(s);
		stream_unlink_free(s);
		return;
	}
	if (s->closed) {
		stream_unlink_free(s);
		return;
	}
	s->released = true;
	s->ops = NULL;
	/* Whatever the peer may still send is discarded: let it all come. */
	(void)chan_stream_grant(s, CHAN_WINDOW);
}

/* ---- input ---- */

static int
violation(struct chan *ch, const char *what)
{
	log_warnx(
	    "chan_input: protocol violation: %s (type 0x%02x stream %u len %u)",
	    what, ch->f.type, ch->f.stream_id, ch->f.len);
	if (ch->err == 0)
		ch->violation = what;
	chan_fail(ch, EPROTO);
	errno = EPROTO;
	return -1;
}

/*
 * Header checks: the largest payload each type may carry, and which types
 * each side may receive. Returns -1 on a violation.
 */
static int
check_header(struct chan *ch)
{
	uint32_t max;
	bool ok_dir;

	switch (ch->f.type) {
	case CHAN_T_REQUEST:
		max = CHAN_MAX_RPC;
		ok_dir = ch->role == CHAN_GUEST;
		break;
	case CHAN_T_RESPONSE:
		max = CHAN_MAX_RPC;
		ok_dir = ch->role == CHAN_HOST;
		break;
	case CHAN_T_DATA:
		max = CHAN_MAX_DATA;
		ok_dir = true;
		break;
	case CHAN_T_CREDIT:
		max = 4;
		ok_dir = true;
		break;
	case CHAN_T_CLOSE:
		max = 0;
		ok_dir = true;
		break;
	case CHAN_T_EVENT:
		max = CHAN_MAX_EVENT;
		ok_dir = ch->role == CHAN_HOST;
		break;
	default:
		return violation(ch, "unknown frame type");
	}
	if (!ok_dir)
		return violation(ch, "frame type not expected on this side");
	if (ch->f.len > max)
		return violation(ch, "frame too long");
	if (ch->f.type == CHAN_T_CREDIT && ch->f.len != 4)
		return violation(ch, "credit frame length");
	if ((ch->f.type == CHAN_T_DATA || ch->f.type == CHAN_T_CREDIT ||
	        ch->f.type == CHAN_T_CLOSE) &&
	    ch->f.stream_id == 0)
		return violation(ch, "stream id 0");
	if (ch->f.type == CHAN_T_EVENT && ch->f.stream_id != 0)
		return violation(ch, "event on a stream");
	if (ch->f.type == CHAN_T_DATA && ch->role == CHAN_HOST) {
		/* Check credit before buffering the body: a guest cannot make
		 * us hold more than it was granted. */
		struct chan_stream *s = chan_stream_find(ch, ch->f.stream_id);

		if (s == NULL || s->dir != CHAN_RECV || s->closed)
			return violation(ch,
			    "data on a stream that is not open for receiving");
		if (ch->f.len > s->credit)
			return violation(ch, "data beyond credit");
	}
	return 0;
}

static int
dispatch_data(struct chan *ch, const uint8_t *p, size_t n)
{
	struct chan_stream *s = chan_stream_find(ch, ch->f.stream_id);

	if (s == NULL || s->dir != CHAN_RECV || s->closed) {
		if (ch->role == CHAN_GUEST)
			return 0; /* the host raced a stream we dropped */
		return violation(
		    ch, "data on a stream that is not open for receiving");
	}
	if (n > s->credit) {
		if (ch->role == CHAN_GUEST) {
			log_warnx("%s: stream %u: data beyond credit, dropped",
			    __func__, s->id);
			return 0;
		}
		return violation(ch, "data beyond credit");
	}
	s->credit -= (uint32_t)n;
	if (s->released) {
		(void)chan_stream_grant(s, n);
		return 0;
	}
	if (n > 0 && s->ops != NULL && s->ops->on_data != NULL)
		s->ops->on_data(s, p, n, s->arg);
	return 0;
}

static int
dispatch_credit(struct chan *ch, const uint8_t *p)
{
	struct chan_stream *s = chan_stream_find(ch, ch->f.stream_id);
	uint32_t inc;

	memcpy(&inc, p, sizeof(inc));
	inc = be32toh(inc);

	/* Credit for a stream we already closed and dropped is harmless. */
	if (s == NULL || s->closed)
		return 0;
	if (s->dir != CHAN_SEND)
		return violation(ch, "credit for a receiving stream");
	if (inc > CHAN_WINDOW - s->credit)
		return violation(ch, "credit beyond the window");
	s->credit += inc;
	if (inc > 0 && s->ops != NULL && s->ops->on_credit != NULL)
		s->ops->on_credit(s, s->arg);
	return 0;
}

static int
dispatch_close(struct chan *ch)
{
	struct chan_stream *s = chan_stream_find(ch, ch->f.stream_id);

	if (s == NULL || s->dir != CHAN_RECV || s->closed) {
		if (ch->role == CHAN_GUEST)
			return 0;
		return violation(
		    ch, "close of a stream that is not open for receiving");
	}
	s->closed = true;
	if (s->released) {
		stream_unlink_free(s);
		return 0;
	}
	if (s->ops != NULL && s->ops->on_close != NULL)
		s->ops->on_close(s, s->arg);
	return 0;
}

static int
dispatch(struct chan *ch, const uint8_t *p, size_t n)
{
	switch (ch->f.type) {
	case CHAN_T_REQUEST:
		if (ch->ops->on_request != NULL)
			ch->ops->on_request(ch, ch->f.stream_id, p, n, ch->arg);
		return 0;
	case CHAN_T_RESPONSE:
		if (ch->ops->on_response == NULL ||
		    ch->ops->on_response(ch, ch->f.stream_id, p, n, ch->arg) ==
		        -1)
			return violation(
			    ch, "unexpected or undecodable response");
		return 0;
	case CHAN_T_EVENT:
		if (ch->ops->on_event == NULL ||
		    ch->ops->on_event(ch, p, n, ch->arg) == -1)
			return violation(ch, "undecodable event");
		return 0;
	case CHAN_T_DATA:
		return dispatch_data(ch, p, n);
	case CHAN_T_CREDIT:
		return dispatch_credit(ch, p);
	case CHAN_T_CLOSE:
		return dispatch_close(ch);
	}
	return violation(ch, "unknown frame type");
}

int
chan_input(struct chan *ch, const uint8_t *buf, size_t len)
{
	size_t take;
	int rc;

	while (len > 0) {
		if (ch->err) {
			errno = ch->err;
			return -1;
		}
		if (ch->hdr_have < CHAN_HDR_LEN) {
			take = CHAN_HDR_LEN - ch->hdr_have;
			if (take > len)
				take = len;
			memcpy(ch->hdr + ch->hdr_have, buf, take);
			ch->hdr_have += take;
			buf += take;
			len -= take;
			if (ch->hdr_have < CHAN_HDR_LEN)
				break;
			ttrpc_hdr_decode(ch->hdr, &ch->f);
			if (check_header(ch) == -1)
				return -1;
			ch->body_have = 0;
			/* Whole frame already in buf: dispatch without copying.
			 */
			if (len >= ch->f.len) {
				rc = dispatch(ch, buf, ch->f.len);
				buf += ch->f.len;
				len -= ch->f.len;
				ch->hdr_have = 0;
				if (rc == -1)
					return -1;
				continue;
			}
			if ((ch->body = malloc(ch->f.len)) == NULL) {
				chan_fail(ch, ENOMEM);
				return -1;
			}
		}
		take = ch->f.len - ch->body_have;
		if (take > len)
			take = len;
		memcpy(ch->body + ch->body_have, buf, take);
		ch->body_have += take;
		buf += take;
		len -= take;
		if (ch->body_have == ch->f.len) {
			uint8_t *body = ch->body;

			ch->body = NULL;
			ch->hdr_have = 0;
			rc = dispatch(ch, body, ch->f.len);
			free(body);
			if (rc == -1)
				return -1;
		}
	}
	if (ch->err) {
		errno = ch->err;
		return -1;
	}
	return 0;
}

int
chan_read(struct chan *ch)
{
	uint8_t buf[CHAN_READ_BUF];
	struct iovec iov[CHAN_READ_BUF / CHAN_READ_IOV];
	size_t total = 0, i;
	ssize_t n;

	if (ch->err) {
		errno = ch->err;
		return -1;
	}
	for (i = 0; i < CHAN_READ_BUF / CHAN_READ_IOV; i++) {
		iov[i].iov_base = buf + i * CHAN_READ_IOV;
		iov[i].iov_len = CHAN_READ_IOV;
	}
	while (total < CHAN_READ_BUDGET) {
		n = readv(ch->fd, iov, (int)(CHAN_READ_BUF / CHAN_READ_IOV));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			chan_fail(ch, errno);
			return -1;
		}
		if (n == 0) {
			/* Not a permanent failure: a virtio-serial port reads
			 * EOF until the host connects; the caller decides. */
			errno = EPIPE;
			return -1;
		}
		if (chan_input(ch, buf, (size_t)n) == -1)
			return -1;
		total += (size_t)n;
	}
	return 0;
}

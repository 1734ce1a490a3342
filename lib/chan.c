/*
 * Host<->guest channel framing, stdio streams and credit (lib/chan.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/chan.h"
#include "lib/log.h"

/* Bytes one chan_read() call consumes before yielding to other fds. */
#define CHAN_READ_BUDGET (256u << 10)
#define CHAN_IOV_MAX     32

struct chan_buf {
	struct chan_buf *next;
	size_t len;
	size_t off;
	uint8_t data[];
};

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
	int err; /* nonzero once failed */

	/* Frame being read. */
	uint8_t hdr[CHAN_HDR_LEN];
	size_t hdr_have;
	uint32_t f_len;
	uint32_t f_sid;
	uint8_t f_type;
	uint8_t f_flags;
	uint8_t *body;
	size_t body_have;

	struct chan_buf *wq_head;
	struct chan_buf *wq_tail;
	size_t queued;
	bool want_write;

	struct chan_stream *streams;
};

void
chan_hdr_encode(uint8_t out[CHAN_HDR_LEN], uint32_t len, uint32_t sid,
    uint8_t type, uint8_t flags)
{
	out[0] = len >> 24;
	out[1] = len >> 16;
	out[2] = len >> 8;
	out[3] = len;
	out[4] = sid >> 24;
	out[5] = sid >> 16;
	out[6] = sid >> 8;
	out[7] = sid;
	out[8] = type;
	out[9] = flags;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
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
	return ch;
}

void
chan_free(struct chan *ch)
{
	struct chan_buf *b, *nb;
	struct chan_stream *s, *ns;

	if (ch == NULL)
		return;
	for (b = ch->wq_head; b != NULL; b = nb) {
		nb = b->next;
		free(b);
	}
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

size_t
chan_queued(const struct chan *ch)
{
	return ch->queued;
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

int
chan_flush(struct chan *ch)
{
	struct iovec iov[CHAN_IOV_MAX];
	struct chan_buf *b;
	ssize_t n;
	int cnt;

	if (ch->err) {
		errno = ch->err;
		return -1;
	}
	while (ch->wq_head != NULL) {
		cnt = 0;
		for (b = ch->wq_head; b != NULL && cnt < CHAN_IOV_MAX;
		     b = b->next) {
			iov[cnt].iov_base = b->data + b->off;
			iov[cnt].iov_len = b->len - b->off;
			cnt++;
		}
		n = writev(ch->fd, iov, cnt);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				set_want_write(ch, true);
				return 0;
			}
			chan_fail(ch, errno);
			return -1;
		}
		ch->queued -= (size_t)n;
		while (n > 0) {
			b = ch->wq_head;
			if ((size_t)n < b->len - b->off) {
				b->off += (size_t)n;
				break;
			}
			n -= (ssize_t)(b->len - b->off);
			ch->wq_head = b->next;
			if (ch->wq_head == NULL)
				ch->wq_tail = NULL;
			free(b);
		}
	}
	set_want_write(ch, false);
	return 0;
}

int
chan_send_frame(struct chan *ch, uint8_t type, uint8_t flags, uint32_t sid,
    const void *p, size_t n)
{
	struct chan_buf *b;

	if (ch->err) {
		errno = ch->err;
		return -1;
	}
	if (n > CHAN_MAX_RPC) {
		errno = EMSGSIZE;
		return -1;
	}
	if (ch->queued + CHAN_HDR_LEN + n > CHAN_MAX_QUEUE) {
		log_warnx(
		    "%s: write queue full (%zu bytes)", __func__, ch->queued);
		errno = ENOBUFS;
		return -1;
	}
	if ((b = malloc(sizeof(*b) + CHAN_HDR_LEN + n)) == NULL)
		return -1;
	b->next = NULL;
	b->len = CHAN_HDR_LEN + n;
	b->off = 0;
	chan_hdr_encode(b->data, (uint32_t)n, sid, type, flags);
	if (n > 0)
		memcpy(b->data + CHAN_HDR_LEN, p, n);
	if (ch->wq_tail != NULL)
		ch->wq_tail->next = b;
	else
		ch->wq_head = b;
	ch->wq_tail = b;
	ch->queued += b->len;
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
	uint8_t p[4];

	if (s->dir != CHAN_RECV) {
		errno = EINVAL;
		return -1;
	}
	if (n > CHAN_WINDOW - s->credit)
		n = CHAN_WINDOW - s->credit;
	if (n == 0 || s->closed)
		return 0;
	s->credit += (uint32_t)n;
	p[0] = n >> 24;
	p[1] = n >> 16;
	p[2] = n >> 8;
	p[3] = n;
	return chan_send_frame(s->ch, CHAN_T_CREDIT, 0, s->id, p, sizeof(p));
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
	    what, ch->f_type, ch->f_sid, ch->f_len);
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

	switch (ch->f_type) {
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
	if (ch->f_len > max)
		return violation(ch, "frame too long");
	if (ch->f_type == CHAN_T_CREDIT && ch->f_len != 4)
		return violation(ch, "credit frame length");
	if ((ch->f_type == CHAN_T_DATA || ch->f_type == CHAN_T_CREDIT ||
	        ch->f_type == CHAN_T_CLOSE) &&
	    ch->f_sid == 0)
		return violation(ch, "stream id 0");
	if (ch->f_type == CHAN_T_EVENT && ch->f_sid != 0)
		return violation(ch, "event on a stream");
	if (ch->f_type == CHAN_T_DATA && ch->role == CHAN_HOST) {
		/* Check credit before buffering the body: a guest cannot make
		 * us hold more than it was granted. */
		struct chan_stream *s = chan_stream_find(ch, ch->f_sid);

		if (s == NULL || s->dir != CHAN_RECV || s->closed)
			return violation(ch,
			    "data on a stream that is not open for receiving");
		if (ch->f_len > s->credit)
			return violation(ch, "data beyond credit");
	}
	return 0;
}

static int
dispatch_data(struct chan *ch, const uint8_t *p, size_t n)
{
	struct chan_stream *s = chan_stream_find(ch, ch->f_sid);

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
	struct chan_stream *s = chan_stream_find(ch, ch->f_sid);
	uint32_t inc = be32(p);

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
	struct chan_stream *s = chan_stream_find(ch, ch->f_sid);

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
	switch (ch->f_type) {
	case CHAN_T_REQUEST:
		if (ch->ops->on_request != NULL)
			ch->ops->on_request(ch, ch->f_sid, p, n, ch->arg);
		return 0;
	case CHAN_T_RESPONSE:
		if (ch->ops->on_response == NULL ||
		    ch->ops->on_response(ch, ch->f_sid, p, n, ch->arg) == -1)
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
			ch->f_len = be32(ch->hdr);
			ch->f_sid = be32(ch->hdr + 4);
			ch->f_type = ch->hdr[8];
			ch->f_flags = ch->hdr[9];
			if (check_header(ch) == -1)
				return -1;
			ch->body_have = 0;
			/* Whole frame already in buf: dispatch without copying.
			 */
			if (len >= ch->f_len) {
				rc = dispatch(ch, buf, ch->f_len);
				buf += ch->f_len;
				len -= ch->f_len;
				ch->hdr_have = 0;
				if (rc == -1)
					return -1;
				continue;
			}
			if ((ch->body = malloc(ch->f_len)) == NULL) {
				chan_fail(ch, ENOMEM);
				return -1;
			}
		}
		take = ch->f_len - ch->body_have;
		if (take > len)
			take = len;
		memcpy(ch->body + ch->body_have, buf, take);
		ch->body_have += take;
		buf += take;
		len -= take;
		if (ch->body_have == ch->f_len) {
			uint8_t *body = ch->body;

			ch->body = NULL;
			ch->hdr_have = 0;
			rc = dispatch(ch, body, ch->f_len);
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
	uint8_t buf[64 << 10];
	size_t total = 0;
	ssize_t n;

	if (ch->err) {
		errno = ch->err;
		return -1;
	}
	while (total < CHAN_READ_BUDGET) {
		n = read(ch->fd, buf, sizeof(buf));
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

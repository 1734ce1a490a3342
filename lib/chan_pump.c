/*
 * fd <-> channel stream pumps (lib/chan_pump.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/chan.h"
#include "lib/chan_pump.h"
#include "lib/evloop.h"
#include "lib/log.h"

struct chan_pump {
	struct evloop *loop;
	struct chan_stream *s;
	struct ev_io *io;
	int fd;
	bool from_fd;
	bool done;
	bool ignore_eof;
	bool finish_when_empty;
	int hold_wfd; /* our writer on a FIFO until its real writer showed up */
	chan_pump_cb cb;
	void *arg;
	/* to_fd: bytes received, not yet written to the fd: buf[off..off+len)
	 */
	uint8_t *buf;
	size_t off, len;
	size_t ungranted; /* written (or discarded), not yet credited back */
	bool broken;      /* the fd's reader went away: discard */
	bool splice;      /* from_fd: fd is a pipe, try chan_stream_splice */
	/* Where the bytes waited, logged when the pump ends (docs: README
	 * Performance, the bench's data-path breakdown). */
	uint64_t n_bytes;  /* moved between the fd and the stream */
	uint64_t n_calls;  /* read/splice (from_fd) or write (to_fd) calls that
	                    * moved bytes */
	uint64_t n_wakes;  /* fd readiness or incoming DATA callbacks */
	uint64_t n_stalls; /* from_fd: out of credit; to_fd: fd full (EAGAIN) */
	uint64_t n_spliced; /* from_fd: bytes that went by splice, no copy */
};

/*
 * to_fd credits the sender back in steps of at least this much: one CREDIT
 * frame per quarter window instead of one per write to the fd. The sender
 * never waits on what is held back: while it has no credit, more than
 * GRANT_STEP of its bytes are in flight or buffered here, and they reach a
 * step once written.
 */
#define GRANT_STEP (CHAN_WINDOW / 4)

static void
pump_close_fd(struct chan_pump *p)
{
	evloop_io_del(p->io);
	p->io = NULL;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	if (p->hold_wfd >= 0)
		close(p->hold_wfd);
	p->hold_wfd = -1;
}

/* One line per stream: how many bytes per call and per wake-up. */
static void
pump_log_stats(const struct chan_pump *p)
{
	if (p->s == NULL || p->n_bytes == 0)
		return;
	log_info("chan_pump: stream %u %s: %llu bytes, %llu %s (%llu B each), "
	         "%llu wake-ups, %llu %s, %llu bytes spliced",
	    chan_stream_id(p->s), p->from_fd ? "fd->chan" : "chan->fd",
	    (unsigned long long)p->n_bytes, (unsigned long long)p->n_calls,
	    p->from_fd ? "reads" : "writes",
	    (unsigned long long)(p->n_calls ? p->n_bytes / p->n_calls : 0),
	    (unsigned long long)p->n_wakes, (unsigned long long)p->n_stalls,
	    p->from_fd ? "credit stalls" : "fd-full stalls",
	    (unsigned long long)p->n_spliced);
}

static void
pump_done(struct chan_pump *p)
{
	if (p->done)
		return;
	p->done = true;
	pump_log_stats(p);
	pump_close_fd(p);
	if (p->from_fd)
		(void)chan_stream_close(p->s);
	if (p->cb != NULL)
		p->cb(p, p->arg);
}

/* ---- fd -> stream ---- */

/*
 * Move what the credit allows from the fd to the stream. 1: done. One read
 * takes up to a whole window (the pipe holds that much, see pump_new), so a
 * writer's small writes leave in a few large frames per wake-up.
 */
static int
from_fd_pump(struct chan_pump *p)
{
	static uint8_t buf[CHAN_WINDOW]; /* one loop, one pump at a time */
	size_t want;
	ssize_t n;
	bool spliced;

	while ((want = chan_stream_credit(p->s)) > 0) {
		if (want > sizeof(buf))
			want = sizeof(buf);
		n = -1;
		errno = ENOTSUP;
		if (p->splice) {
			/* A frame straight from the pipe, no copy here. */
			n = chan_stream_splice(p->s, p->fd, want);
			if (n == -1 && errno == EINVAL) {
				p->splice = false;
				errno = ENOTSUP;
			}
		}
		spliced = !(n == -1 && errno == ENOTSUP);
		if (!spliced)
			n = read(p->fd, buf, want);
		if (n == -1 && errno == EINTR)
			continue;
		if ((n == -1 && errno == EAGAIN) || (n == 0 && p->ignore_eof)) {
			if (p->finish_when_empty) {
				pump_done(p);
				return 1;
			}
			/* A FIFO without writers: poll would spin. */
			if (n == 0 && p->io != NULL)
				evloop_io_set(p->io, 0);
			return 0;
		}
		/* EIO: a pty whose last slave closed. */
		if (n <= 0) {
			if (n == -1 && errno != EIO)
				log_warn("%s: stream %u: %s", __func__,
				    chan_stream_id(p->s),
				    spliced ? "splice" : "read");
			pump_done(p);
			return 1;
		}
		p->n_calls++;
		p->n_bytes += (uint64_t)n;
		if (p->hold_wfd >= 0) {
			/* The real writer is attached: from now on a read of
			 * 0 means it closed, which is the end of the input. */
			close(p->hold_wfd);
			p->hold_wfd = -1;
			p->ignore_eof = false;
		}
		if (spliced) {
			p->n_spliced += (uint64_t)n;
			continue;
		}
		if (chan_stream_send(p->s, buf, (size_t)n) != n) {
			log_warn("%s: stream %u: send", __func__,
			    chan_stream_id(p->s));
			pump_done(p);
			return 1;
		}
	}
	p->n_stalls++;
	/*
	 * No credit: stop watching until the peer grants more. The fd leaves
	 * the loop altogether: once the writer closed its end with bytes
	 * still in the pipe, epoll reports the hang-up whatever the interest,
	 * and the loop would spin until credit came (for ever behind a
	 * stalled reader).
	 */
	evloop_io_del(p->io);
	p->io = NULL;
	return 0;
}

static void
from_fd_io(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct chan_pump *p = arg;

	(void)io;
	(void)fd;
	(void)events;
	p->n_wakes++;
	from_fd_pump(p);
}

static void
from_fd_credit(struct chan_stream *s, void *arg)
{
	struct chan_pump *p = arg;

	(void)s;
	if (p->done)
		return;
	if (p->finish_when_empty) {
		(void)from_fd_pump(p);
		return;
	}
	if (p->io == NULL && (p->io = evloop_io_add(p->loop, p->fd, EV_READ,
	                          from_fd_io, p)) == NULL) {
		log_warn("%s: stream %u: watch", __func__, chan_stream_id(s));
		pump_done(p);
		return;
	}
	evloop_io_set(p->io, EV_READ);
}

static const struct chan_stream_ops from_fd_ops = {.on_credit = from_fd_credit};

static struct chan_pump *
pump_new(struct evloop *loop, int fd, bool from_fd)
{
	struct chan_pump *p;
	struct stat st;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		return NULL;
	/*
	 * A pipe or FIFO as large as the window: a whole window moves per
	 * read or write and the process at the other end runs longer between
	 * wake-ups. Best effort: other fds (pty, file) refuse it.
	 */
	(void)fcntl(fd, F_SETPIPE_SZ, (int)CHAN_WINDOW);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->loop = loop;
	p->fd = fd;
	p->hold_wfd = -1;
	p->from_fd = from_fd;
	/* A pipe can be spliced (if the channel does it, chan_splice_enable).
	 */
	p->splice = from_fd && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
	return p;
}

static struct chan_pump *
pump_fail(struct chan_pump *p, int fd)
{
	int saved = errno;

	if (p != NULL && p->s != NULL)
		chan_stream_release(p->s);
	if (p != NULL)
		free(p->buf);
	free(p);
	close(fd);
	errno = saved;
	return NULL;
}

struct chan_pump *
chan_pump_from_fd(struct evloop *loop, struct chan *ch, uint32_t sid, int fd,
    bool ignore_eof, chan_pump_cb done, void *arg)
{
	struct chan_pump *p;

	if ((p = pump_new(loop, fd, true)) == NULL)
		return pump_fail(p, fd);
	p->cb = done;
	p->arg = arg;
	p->ignore_eof = ignore_eof;
	if ((p->s = chan_stream_open(ch, sid, CHAN_SEND, &from_fd_ops, p)) ==
	    NULL)
		return pump_fail(p, fd);
	if ((p->io = evloop_io_add(loop, fd, EV_READ, from_fd_io, p)) == NULL)
		return pump_fail(p, fd);
	return p;
}

/* ---- stream -> fd ---- */

/* Give back what left the buffer, GRANT_STEP at a time (all once broken). */
static void
to_fd_grant(struct chan_pump *p, size_t done)
{
	p->ungranted += done;
	if (p->ungranted == 0 || (p->ungranted < GRANT_STEP && !p->broken))
		return;
	(void)chan_stream_grant(p->s, p->ungranted);
	p->ungranted = 0;
}

/*
 * Write n bytes at d to the fd as far as it accepts them. Returns the count
 * written; on a write error other than EAGAIN the pump turns broken and the
 * whole n counts as done (discarded).
 */
static size_t
to_fd_write(struct chan_pump *p, const uint8_t *d, size_t n)
{
	size_t done = 0;
	ssize_t w;

	while (done < n && !p->broken) {
		w = write(p->fd, d + done, n - done);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN) {
			p->n_stalls++;
			break;
		}
		if (w == -1) {
			/* EPIPE: the reader left; drop the rest from now on. */
			log_debug("%s: stream %u: %s, discarding", __func__,
			    chan_stream_id(p->s), strerror(errno));
			p->broken = true;
			break;
		}
		done += (size_t)w;
		p->n_calls++;
		p->n_bytes += (uint64_t)w;
	}
	return p->broken ? n : done;
}

/* Watch the fd for room while bytes wait; done after CLOSE and the last. */
static void
to_fd_settle(struct chan_pump *p)
{
	if (p->len > 0) {
		if (p->io != NULL)
			evloop_io_set(p->io, EV_WRITE);
		return;
	}
	if (p->io != NULL)
		evloop_io_set(p->io, 0);
	if (chan_stream_peer_closed(p->s))
		pump_done(p);
}

static void
to_fd_flush(struct chan_pump *p)
{
	size_t done;

	done = to_fd_write(p, p->buf + p->off, p->len);
	p->off += done;
	p->len -= done;
	if (p->len == 0)
		p->off = 0;
	to_fd_grant(p, done);
	to_fd_settle(p);
}

static void
to_fd_io(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct chan_pump *p = arg;

	(void)fd;
	p->n_wakes++;
	/*
	 * The reader of our pipe/FIFO is gone (a detached `ctr run` exited).
	 * epoll reports that whatever interest we set, so stop watching the
	 * fd at all, or the loop spins; from now on the output is discarded
	 * and credited.
	 */
	if (events & (EV_ERR | EV_HUP)) {
		p->broken = true;
		evloop_io_del(io);
		p->io = NULL;
	}
	to_fd_flush(p);
}

static void
to_fd_data(struct chan_stream *s, const uint8_t *d, size_t n, void *arg)
{
	struct chan_pump *p = arg;
	size_t done;

	p->n_wakes++;
	if (p->done || p->broken) {
		(void)chan_stream_grant(s, n);
		return;
	}
	if (p->len == 0) {
		/* Nothing waits: write straight from the channel's buffer and
		 * keep only what the fd did not take. */
		done = to_fd_write(p, d, n);
		d += done;
		n -= done;
		to_fd_grant(p, done);
		if (n == 0) {
			to_fd_settle(p);
			return;
		}
	}
	/* chan checked n against the credit we granted, and we grant only
	 * what left this buffer (or is in ungranted): len + n <= CHAN_WINDOW.
	 */
	if (p->off + p->len + n > CHAN_WINDOW) {
		memmove(p->buf, p->buf + p->off, p->len);
		p->off = 0;
	}
	memcpy(p->buf + p->off + p->len, d, n);
	p->len += n;
	to_fd_flush(p);
}

static void
to_fd_close(struct chan_stream *s, void *arg)
{
	struct chan_pump *p = arg;

	(void)s;
	if (p->len == 0 || p->broken)
		pump_done(p);
}

static const struct chan_stream_ops to_fd_ops = {
    .on_data = to_fd_data, .on_close = to_fd_close};

struct chan_pump *
chan_pump_to_fd(struct evloop *loop, struct chan *ch, uint32_t sid, int fd,
    chan_pump_cb done, void *arg)
{
	struct chan_pump *p;

	if ((p = pump_new(loop, fd, false)) == NULL)
		return pump_fail(p, fd);
	p->cb = done;
	p->arg = arg;
	if ((p->buf = malloc(CHAN_WINDOW)) == NULL)
		return pump_fail(p, fd);
	if ((p->s = chan_stream_open(ch, sid, CHAN_RECV, &to_fd_ops, p)) ==
	    NULL)
		return pump_fail(p, fd);
	if ((p->io = evloop_io_add(loop, fd, 0, to_fd_io, p)) == NULL)
		return pump_fail(p, fd);
	return p;
}

bool
chan_pump_done(const struct chan_pump *p)
{
	return p == NULL || p->done;
}

void
chan_pump_hold_writer(struct chan_pump *p, int wfd)
{
	if (p->hold_wfd >= 0)
		close(p->hold_wfd);
	p->hold_wfd = wfd;
}

bool
chan_pump_finish_when_empty(struct chan_pump *p)
{
	if (p == NULL || p->done)
		return true;
	if (!p->from_fd)
		return false;
	p->finish_when_empty = true;
	/* Not p->done afterwards: the done callback may have freed p. */
	if (chan_stream_credit(p->s) > 0)
		return from_fd_pump(p) == 1;
	return false;
}

void
chan_pump_free(struct chan_pump *p)
{
	if (p == NULL)
		return;
	if (!p->done)
		pump_log_stats(p);
	pump_close_fd(p);
	if (p->s != NULL)
		chan_stream_release(p->s);
	free(p->buf);
	free(p);
}

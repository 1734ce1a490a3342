#include "lib/ttrpc_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Read granularity; frames larger than this grow the buffer to fit. */
#define READ_CHUNK (64u * 1024)

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void
ttrpc_hdr_encode(const struct ttrpc_hdr *h, uint8_t out[TTRPC_HDR_LEN])
{
	put_be32(out, h->len);
	put_be32(out + 4, h->stream_id);
	out[8] = h->type;
	out[9] = h->flags;
}

void
ttrpc_hdr_decode(const uint8_t in[TTRPC_HDR_LEN], struct ttrpc_hdr *h)
{
	h->len = get_be32(in);
	h->stream_id = get_be32(in + 4);
	h->type = in[8];
	h->flags = in[9];
}

/* reader */

int
ttrpc_reader_init(struct ttrpc_reader *r, uint32_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max ? max : TTRPC_MAX_DATA;
	return 0;
}

void
ttrpc_reader_free(struct ttrpc_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Make room for `want` more bytes after end, compacting first. */
static int
reserve(struct ttrpc_reader *r, size_t want)
{
	size_t need, ncap;
	uint8_t *nb;

	if (r->cap - r->end >= want)
		return 0;
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
		if (r->cap - r->end >= want)
			return 0;
	}
	need = r->end + want;
	ncap = r->cap ? r->cap : READ_CHUNK;
	while (ncap < need)
		ncap *= 2;
	/* Doubling past the largest frame would waste up to 4 MiB. */
	if (ncap > (size_t)r->max + TTRPC_HDR_LEN + READ_CHUNK &&
	    ncap / 2 < need)
		ncap = need > (size_t)r->max + TTRPC_HDR_LEN + READ_CHUNK
		           ? need
		           : (size_t)r->max + TTRPC_HDR_LEN + READ_CHUNK;
	if ((nb = realloc(r->buf, ncap)) == NULL)
		return -1;
	r->buf = nb;
	r->cap = ncap;
	return 0;
}

/* How many bytes the next read should have room for. */
static size_t
read_want(const struct ttrpc_reader *r)
{
	size_t avail = r->end - r->start;
	uint32_t len;

	if (r->skip == 0 && avail >= TTRPC_HDR_LEN) {
		len = get_be32(r->buf + r->start);
		/* An accepted frame that is partly here: room for all of it,
		 * so it ends up contiguous. */
		if (len <= r->max && avail < TTRPC_HDR_LEN + (size_t)len &&
		    TTRPC_HDR_LEN + (size_t)len - avail > READ_CHUNK)
			return TTRPC_HDR_LEN + (size_t)len - avail;
	}
	return READ_CHUNK;
}

ssize_t
ttrpc_reader_fill(struct ttrpc_reader *r, int fd)
{
	ssize_t n;

	if (reserve(r, read_want(r)) == -1)
		return -1;
	do
		n = read(fd, r->buf + r->end, r->cap - r->end);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		r->end += (size_t)n;
	return n;
}

int
ttrpc_reader_feed(struct ttrpc_reader *r, const void *p, size_t len)
{
	if (len == 0)
		return 0;
	if (reserve(r, len) == -1)
		return -1;
	memcpy(r->buf + r->end, p, len);
	r->end += len;
	return 0;
}

int
ttrpc_reader_next(struct ttrpc_reader *r, struct ttrpc_frame *f)
{
	size_t avail;

	for (;;) {
		avail = r->end - r->start;
		if (r->skip > 0) {
			size_t n = avail < r->skip ? avail : (size_t)r->skip;
			r->start += n;
			r->skip -= n;
			if (r->skip > 0)
				return 0;
			continue;
		}
		if (avail < TTRPC_HDR_LEN) {
			if (avail == 0) {
				r->start = r->end = 0;
				/* Give back the memory of a past large frame.
				 */
				if (r->cap > 4 * READ_CHUNK) {
					free(r->buf);
					r->buf = NULL;
					r->cap = 0;
				}
			}
			return 0;
		}
		memset(f, 0, sizeof(*f));
		ttrpc_hdr_decode(r->buf + r->start, &f->hdr);
		if (f->hdr.len > r->max) {
			r->start += TTRPC_HDR_LEN;
			r->skip = f->hdr.len;
			f->oversized = 1;
			f->data = NULL;
			return 1;
		}
		if (avail < TTRPC_HDR_LEN + (size_t)f->hdr.len)
			return 0;
		f->data = r->buf + r->start + TTRPC_HDR_LEN;
		r->start += TTRPC_HDR_LEN + f->hdr.len;
		return 1;
	}
}

size_t
ttrpc_reader_pending(const struct ttrpc_reader *r)
{
	return r->end - r->start + (size_t)r->skip;
}

/* writer */

struct ttrpc_wbuf {
	struct ttrpc_wbuf *next;
	size_t len, off;
	uint8_t data[];
};

void
ttrpc_writer_init(struct ttrpc_writer *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max ? max : TTRPC_MAX_QUEUE;
}

void
ttrpc_writer_free(struct ttrpc_writer *w)
{
	struct ttrpc_wbuf *b;

	while ((b = w->head) != NULL) {
		w->head = b->next;
		free(b);
	}
	w->tail = NULL;
	w->queued = 0;
}

int
ttrpc_writer_queue(struct ttrpc_writer *w, uint32_t stream_id, uint8_t type,
    uint8_t flags, const void *data, size_t len)
{
	struct ttrpc_hdr h;
	struct ttrpc_wbuf *b;
	size_t total;

	if (len > TTRPC_MAX_DATA) {
		errno = EMSGSIZE;
		return -1;
	}
	total = TTRPC_HDR_LEN + len;
	if (w->queued + total > w->max) {
		errno = ENOBUFS;
		return -1;
	}
	if ((b = malloc(sizeof(*b) + total)) == NULL)
		return -1;
	b->next = NULL;
	b->len = total;
	b->off = 0;
	h.len = (uint32_t)len;
	h.stream_id = stream_id;
	h.type = type;
	h.flags = flags;
	ttrpc_hdr_encode(&h, b->data);
	if (len > 0)
		memcpy(b->data + TTRPC_HDR_LEN, data, len);
	if (w->tail != NULL)
		w->tail->next = b;
	else
		w->head = b;
	w->tail = b;
	w->queued += total;
	return 0;
}

#define FLUSH_IOV 16

int
ttrpc_writer_flush(struct ttrpc_writer *w, int fd)
{
	struct iovec iov[FLUSH_IOV];
	struct ttrpc_wbuf *b;
	struct msghdr mh;
	ssize_t n;
	size_t left;
	int cnt;

	while (w->head != NULL) {
		cnt = 0;
		for (b = w->head; b != NULL && cnt < FLUSH_IOV; b = b->next) {
			iov[cnt].iov_base = b->data + b->off;
			iov[cnt].iov_len = b->len - b->off;
			cnt++;
		}
		if (!w->notsock) {
			/* MSG_NOSIGNAL: a vanished peer is EPIPE, not a
			 * process-wide SIGPIPE. */
			memset(&mh, 0, sizeof(mh));
			mh.msg_iov = iov;
			mh.msg_iovlen = (size_t)cnt;
			n = sendmsg(fd, &mh, MSG_NOSIGNAL);
			if (n == -1 && errno == ENOTSOCK) {
				w->notsock = 1;
				continue;
			}
		} else
			n = writev(fd, iov, cnt);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (n == 0)
			return 0;
		left = (size_t)n;
		w->queued -= left;
		while (left > 0 && (b = w->head) != NULL) {
			size_t rem = b->len - b->off;
			if (left < rem) {
				b->off += left;
				break;
			}
			left -= rem;
			w->head = b->next;
			if (w->head == NULL)
				w->tail = NULL;
			free(b);
		}
	}
	return 1;
}

size_t
ttrpc_writer_queued(const struct ttrpc_writer *w)
{
	return w->queued;
}

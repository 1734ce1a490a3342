/*
 * ttrpc framing (WIRE.md §1.1): a 10-byte big-endian header
 *   u32 length (data only) | u32 stream id | u8 type | u8 flags
 * followed by `length` data bytes.
 *
 * The reader is incremental and never blocks: feed it bytes (from a
 * non-blocking fd or a buffer) and pull whole frames out. A frame longer
 * than the connection's maximum is reported once, as soon as its header is
 * seen (so the server can answer ResourceExhausted on that stream id), and
 * its data is then skipped without being buffered.
 *
 * The writer queues whole frames and drains them with writev() when the fd
 * is writable; the queue is bounded so a peer that never reads cannot make
 * us buffer without limit.
 */
#ifndef QEMUBOX_TTRPC_FRAME_H
#define QEMUBOX_TTRPC_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TTRPC_HDR_LEN  10
#define TTRPC_MAX_DATA (4u << 20) /* containerd's limit, header excluded */
/* Default writer bound: a few maximum frames. */
#define TTRPC_MAX_QUEUE (16u << 20)

enum ttrpc_type {
	TTRPC_T_REQUEST = 0x01,
	TTRPC_T_RESPONSE = 0x02,
	TTRPC_T_DATA = 0x03,
	/* 0x20 and up: qemubox guest-channel frames (stdio, credit, events),
	 * handled by a connection's extra-frame callback. */
	TTRPC_T_EXTRA_MIN = 0x20,
};

#define TTRPC_F_REMOTE_CLOSED 0x01
#define TTRPC_F_REMOTE_OPEN   0x02
#define TTRPC_F_NO_DATA       0x04

struct ttrpc_hdr {
	uint32_t len;
	uint32_t stream_id;
	uint8_t type;
	uint8_t flags;
};

void ttrpc_hdr_encode(const struct ttrpc_hdr *h, uint8_t out[TTRPC_HDR_LEN]);
void ttrpc_hdr_decode(const uint8_t in[TTRPC_HDR_LEN], struct ttrpc_hdr *h);

struct ttrpc_frame {
	struct ttrpc_hdr hdr;
	/* Valid until the next ttrpc_reader_* call; NULL when oversized. */
	const uint8_t *data;
	/* hdr.len exceeded the reader's maximum; data is being discarded. */
	int oversized;
};

struct ttrpc_reader {
	uint32_t max;
	uint8_t *buf;
	size_t cap, start, end; /* unconsumed bytes are buf[start..end) */
	uint64_t skip;          /* data bytes of an oversized frame left */
};

/* max = largest accepted data length (0 means TTRPC_MAX_DATA). */
int ttrpc_reader_init(struct ttrpc_reader *r, uint32_t max);
void ttrpc_reader_free(struct ttrpc_reader *r);
/* One read(2) from fd into the buffer. Returns bytes read (> 0), 0 at EOF,
 * -1 with errno (EAGAIN when nothing is available). */
ssize_t ttrpc_reader_fill(struct ttrpc_reader *r, int fd);
/* Append bytes (tests, fuzzers, other transports). 0 or -1 (ENOMEM). */
int ttrpc_reader_feed(struct ttrpc_reader *r, const void *p, size_t len);
/* 1 with *f filled, 0 when a complete frame is not yet buffered. */
int ttrpc_reader_next(struct ttrpc_reader *r, struct ttrpc_frame *f);
/* Bytes buffered but not yet returned as frames (0 at a frame boundary
 * with nothing pending: EOF there is clean). */
size_t ttrpc_reader_pending(const struct ttrpc_reader *r);

struct ttrpc_wbuf;

struct ttrpc_writer {
	struct ttrpc_wbuf *head, *tail;
	size_t queued; /* bytes not yet written */
	size_t max;
	int notsock; /* fd is not a socket: writev instead of sendmsg */
};

/* max = bound on queued bytes (0 means TTRPC_MAX_QUEUE). */
void ttrpc_writer_init(struct ttrpc_writer *w, size_t max);
void ttrpc_writer_free(struct ttrpc_writer *w);
/* Queue one frame (header + len bytes of data, copied). -1 with EMSGSIZE if
 * len > TTRPC_MAX_DATA, ENOBUFS if the queue bound would be exceeded. */
int ttrpc_writer_queue(struct ttrpc_writer *w, uint32_t stream_id, uint8_t type,
    uint8_t flags, const void *data, size_t len);
/* Write as much as the fd takes. 1 when the queue is empty, 0 when bytes
 * remain (wait for EV_WRITE), -1 with errno on a real error (EPIPE, ...). */
int ttrpc_writer_flush(struct ttrpc_writer *w, int fd);
size_t ttrpc_writer_queued(const struct ttrpc_writer *w);

#endif

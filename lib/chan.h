/*
 * The host<->guest channel: one byte stream (virtio-serial port or vsock)
 * carrying ttrpc frames (10-byte header: length, stream id, type, flags, all
 * big-endian) plus our own frame types for stdio streams and guest events.
 * docs/GUEST-PROTOCOL.md is the specification; this file is shared by both
 * ends (vminitd's agent and the shim's guest client).
 *
 * The guest is untrusted by the host: every frame the host reads is bounded
 * by type (RPC payload 4 MiB, DATA 64 KiB and never beyond the credit the
 * host granted, CREDIT exactly 4 bytes, CLOSE empty, EVENT 64 KiB) and any
 * violation makes chan_input()/chan_read() fail with EPROTO; the caller then
 * treats the VM as dead. The guest trusts the host but still tolerates late
 * frames for streams it already dropped.
 *
 * Flow control is per stream and credit-based: every stream starts with
 * CHAN_WINDOW bytes of credit for its sender; the receiver grants more
 * (CREDIT frames) only as its consumer drains bytes, so a stalled consumer
 * stalls only its own stream and memory per stream stays bounded.
 *
 * No event loop here: the owner feeds readable/writable notifications
 * (chan_read, chan_flush) and is told through ops->want_write when to watch
 * for writability. Callbacks run from chan_read/chan_input and must not
 * free the chan (call chan_fail() instead); a stream callback may release
 * its own stream.
 */
#ifndef QEMUBOX_CHAN_H
#define QEMUBOX_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/ttrpc_frame.h"

/* The ttrpc frame header and limit: lib/ttrpc_frame.c encodes both. */
#define CHAN_HDR_LEN   TTRPC_HDR_LEN
#define CHAN_MAX_RPC   TTRPC_MAX_DATA /* ttrpc Request/Response payload */
#define CHAN_MAX_DATA  (64u << 10)    /* one DATA frame */
#define CHAN_MAX_EVENT (64u << 10)
#define CHAN_WINDOW    (256u << 10) /* initial and maximum credit per stream */
#define CHAN_MAX_QUEUE (64u << 20)  /* bytes waiting to be written */

enum chan_frame_type {
	CHAN_T_REQUEST = TTRPC_T_REQUEST,   /* ttrpc.Request, host -> guest */
	CHAN_T_RESPONSE = TTRPC_T_RESPONSE, /* ttrpc.Response, guest -> host */
	CHAN_T_DATA = 0x20,                 /* stdio bytes on a stream */
	CHAN_T_CREDIT =
	    0x21, /* 4-byte big-endian increment of the sender's credit */
	CHAN_T_CLOSE = 0x22, /* end of a stream (EOF), no payload */
	CHAN_T_EVENT =
	    0x23, /* qemubox.guest.v1.Event, guest -> host, stream id 0 */
};

enum chan_role { CHAN_HOST, CHAN_GUEST };
enum chan_dir { CHAN_SEND, CHAN_RECV };

struct chan;
struct chan_stream;

struct chan_ops {
	/* Guest: a ttrpc Request frame. */
	void (*on_request)(
	    struct chan *, uint32_t sid, const uint8_t *p, size_t n, void *arg);
	/* Host: a ttrpc Response frame; return -1 if sid is not pending. */
	int (*on_response)(
	    struct chan *, uint32_t sid, const uint8_t *p, size_t n, void *arg);
	/* Host: an EVENT frame; return -1 if it does not decode. */
	int (*on_event)(struct chan *, const uint8_t *p, size_t n, void *arg);
	/* Start (on=1) or stop watching the fd for writability. */
	void (*want_write)(struct chan *, int on, void *arg);
};

struct chan_stream_ops {
	/*
	 * RECV: bytes within the granted window. The consumer takes them all
	 * (it has room for CHAN_WINDOW) and calls chan_stream_grant() as it
	 * hands them on.
	 */
	void (*on_data)(
	    struct chan_stream *, const uint8_t *p, size_t n, void *arg);
	/* RECV: the sender closed the stream; no data follows. */
	void (*on_close)(struct chan_stream *, void *arg);
	/* SEND: credit grew; chan_stream_send() may accept more. */
	void (*on_credit)(struct chan_stream *, void *arg);
};

struct chan *chan_new(
    int fd, enum chan_role role, const struct chan_ops *ops, void *arg);
/* Frees every stream and queued buffer; does not close the fd. */
void chan_free(struct chan *);
int chan_fd(const struct chan *);

/* Read what the fd has (bounded per call) and dispatch. -1: EOF (errno
 * EPIPE; not sticky), protocol violation (EPROTO) or read error. */
int chan_read(struct chan *);
/* Dispatch bytes already read (the fuzz and unit-test entry point). */
int chan_input(struct chan *, const uint8_t *buf, size_t len);
/* Write queued frames; -1 on a write error. */
int chan_flush(struct chan *);
/* Mark the channel failed; chan_read/chan_flush return -1 from now on. */
void chan_fail(struct chan *, int err);
bool chan_failed(const struct chan *);
/* After an EPROTO failure: which rule the peer broke (static), else NULL. */
const char *chan_violation(const struct chan *);
size_t chan_queued(const struct chan *);

/* Queue one frame (header + payload). */
int chan_send_frame(struct chan *, uint8_t type, uint8_t flags, uint32_t sid,
    const void *p, size_t n);

/*
 * Streams. Ids are chosen by the host, nonzero, unique on the channel while
 * open. A SEND stream starts with CHAN_WINDOW credit; a RECV stream promises
 * the peer CHAN_WINDOW.
 */
struct chan_stream *chan_stream_open(struct chan *, uint32_t id,
    enum chan_dir dir, const struct chan_stream_ops *ops, void *arg);
struct chan_stream *chan_stream_find(struct chan *, uint32_t id);
uint32_t chan_stream_id(const struct chan_stream *);
/* SEND: bytes that may be sent now. */
size_t chan_stream_credit(const struct chan_stream *);
/* SEND: queue up to min(n, credit) bytes; returns the count queued or -1. */
ssize_t chan_stream_send(struct chan_stream *, const void *p, size_t n);
/* SEND: queue CLOSE (EOF); idempotent. */
int chan_stream_close(struct chan_stream *);
/*
 * Splice (guest side): DATA frames whose payload comes from a pipe can reach
 * the channel fd without passing through user space; a virtio-serial port
 * takes the pipe's pages as they are. chan_splice_enable() makes the two
 * staging pipes (the payload is moved into the first, then header and
 * payload into the second, so a whole frame is staged before any byte of it
 * reaches the fd). -1 with errno if the pipes cannot be made.
 */
int chan_splice_enable(struct chan *);
/*
 * SEND: move up to min(max, credit, one frame) bytes from pipe fd as one
 * DATA frame. Returns the count sent (> 0), 0 at EOF (no writer, empty), -1
 * with errno: EAGAIN nothing buffered in fd; ENOTSUP splice is off or frames
 * wait in the queue, EINVAL fd cannot be spliced (for both: use read(2) and
 * chan_stream_send); else the channel failed.
 */
ssize_t chan_stream_splice(struct chan_stream *, int fd, size_t max);
/* RECV: the consumer drained n bytes; the peer may send n more. */
int chan_stream_grant(struct chan_stream *, size_t n);
bool chan_stream_peer_closed(const struct chan_stream *);
/*
 * Drop interest in a stream. SEND: sends CLOSE if not yet sent, frees now.
 * RECV: freed now if the peer already closed it; otherwise incoming data is
 * discarded (and its credit returned) until the peer's CLOSE frees it, so a
 * late frame never looks like a protocol violation.
 */
void chan_stream_release(struct chan_stream *);

/* The ttrpc frame header (ttrpc_hdr_encode with loose arguments). */
void chan_hdr_encode(uint8_t out[CHAN_HDR_LEN], uint32_t len, uint32_t sid,
    uint8_t type, uint8_t flags);

#endif

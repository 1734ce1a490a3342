/*
 * ttrpc server and client on lib/evloop (WIRE.md §1). One struct ttrpc_conn
 * per byte stream (unix socket, virtio-serial port, ...); a connection
 * serves Requests when it has a server and matches Responses to the calls
 * made on it, so the same connection can be both.
 *
 * Server: register method tables under service names, then hand it
 * listening fds or connected fds. A handler gets a struct ttrpc_call with
 * the decoded request and answers with ttrpc_call_reply*() either before it
 * returns or later (a deferred reply: keep the pointer). Exactly one of
 * ttrpc_call_reply(), ttrpc_call_reply_error(), ttrpc_call_reply_qb() or
 * ttrpc_call_release() must eventually be called for every call; that
 * frees it. If the peer is gone or the deadline passed before then, the
 * reply is dropped quietly and the call's cancel callback (if set) has
 * already run, so a handler parked on a long operation (Wait) can release
 * the call right there.
 *
 * Client: ttrpc_call_start() sends a unary Request with the next odd stream
 * id; the callback runs exactly once: with the Response, with
 * DeadlineExceeded when the per-call timeout expires, or with Unavailable
 * when the connection closes. ttrpc_call_sync() is a blocking one-shot call
 * on a plain fd that needs no loop (e.g. publishing one event).
 *
 * Other protocols can share the stream: frames of type >= 0x20 go to the
 * connection's extra-frame callback and ttrpc_conn_send_frame() sends
 * them.
 */
#ifndef QEMUBOX_TTRPC_H
#define QEMUBOX_TTRPC_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "lib/error.h"
#include "lib/evloop.h"
#include "lib/ttrpc_frame.h"
#include "lib/ttrpc_msg.h"

struct ttrpc_server;
struct ttrpc_conn;
struct ttrpc_call;

/* Server side. */

typedef void (*ttrpc_handler_fn)(
    struct ttrpc_call *call, const ProtobufCMessage *req, void *arg);

struct ttrpc_method {
	const char *name; /* "Create" */
	/* Request type: the server decodes the payload with it and answers
	 * Internal if that fails. NULL: no decoding, req is NULL and the
	 * handler reads ttrpc_call_payload(). */
	const ProtobufCMessageDescriptor *in;
	ttrpc_handler_fn fn;
};

struct ttrpc_server *ttrpc_server_new(struct evloop *loop);
/* Closes every connection (cancelling their calls) and listener. Calls
 * still held by handlers stay valid until released. */
void ttrpc_server_free(struct ttrpc_server *srv);
/* methods must outlive the server; the same table may be registered under
 * several services (containerd.task.v2.Task and containerd.task.v3.Task). */
int ttrpc_server_register(struct ttrpc_server *srv, const char *service,
    const struct ttrpc_method *methods, size_t n, void *arg);
/* Accept on a listening socket (made non-blocking); the server owns it. */
int ttrpc_server_listen_fd(struct ttrpc_server *srv, int lfd);
/* Refuse connections whose SO_PEERCRED euid/egid differ from ours, as
 * containerd's own servers do. Off by default. */
void ttrpc_server_require_same_uid(struct ttrpc_server *srv, int on);
/* Told about every connection the server accepts or is given; on_close
 * runs once, before the connection is freed. */
void ttrpc_server_set_conn_cbs(struct ttrpc_server *srv,
    void (*on_open)(struct ttrpc_conn *, void *),
    void (*on_close)(struct ttrpc_conn *, void *), void *arg);

/* 0 if the peer of unix socket fd has our effective uid and gid, else -1
 * (EPERM, or errno from getsockopt). */
int ttrpc_peercred_check(int fd);

/* Per-call accessors. Strings stay valid for the life of the call. */
const char *ttrpc_call_service(const struct ttrpc_call *call);
const char *ttrpc_call_method(const struct ttrpc_call *call);
uint32_t ttrpc_call_stream_id(const struct ttrpc_call *call);
const uint8_t *ttrpc_call_payload(const struct ttrpc_call *call, size_t *len);
/* First metadata value for key (compared case-insensitively), or NULL. */
const char *ttrpc_call_metadata(const struct ttrpc_call *call, const char *key);
/* The "containerd-namespace-ttrpc" metadata, or NULL. */
const char *ttrpc_call_namespace(const struct ttrpc_call *call);
/* The connection, or NULL once it is closed. */
struct ttrpc_conn *ttrpc_call_conn(const struct ttrpc_call *call);
/* 0 while an answer can still reach the peer; 1 after the connection
 * closed or the deadline answered DeadlineExceeded. */
int ttrpc_call_cancelled(const struct ttrpc_call *call);
/* Called at most once, when the call gets cancelled as above. */
void ttrpc_call_set_cancel(struct ttrpc_call *call,
    void (*fn)(struct ttrpc_call *, void *), void *arg);

/* Answer and free the call. resp NULL = google.protobuf.Empty. Return 0,
 * or -1 if the answer could not be queued (the connection is then closed);
 * the call is freed either way. */
int ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *resp);
int ttrpc_call_reply_error(struct ttrpc_call *call, int code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
/* err->code and err->msg; a code of 0 is sent as Unknown. */
int ttrpc_call_reply_qb(struct ttrpc_call *call, const struct qb_error *err);
/* Raw, already serialized response payload. */
int ttrpc_call_reply_raw(
    struct ttrpc_call *call, const void *payload, size_t len);
/* Free without answering (only sensible after cancellation). */
void ttrpc_call_release(struct ttrpc_call *call);

/* Connections. */

/* Wrap a connected fd (made non-blocking; the connection owns and closes
 * it). srv may be NULL for a client-only connection. A connection the
 * server is given this way is freed with it. */
struct ttrpc_conn *ttrpc_conn_new(
    struct evloop *loop, int fd, struct ttrpc_server *srv);
/* Close now: pending client calls get Unavailable, server calls are
 * cancelled, on_close runs. Safe inside any callback of this connection. */
void ttrpc_conn_close(struct ttrpc_conn *c);
/* For a client-owned connection: told once when it closes (EOF, error or
 * ttrpc_conn_close). */
void ttrpc_conn_set_close_cb(
    struct ttrpc_conn *c, void (*fn)(struct ttrpc_conn *, void *), void *arg);
int ttrpc_conn_fd(const struct ttrpc_conn *c);
/* Largest accepted incoming data length (default TTRPC_MAX_DATA). */
void ttrpc_conn_set_max_frame(struct ttrpc_conn *c, uint32_t max);
void ttrpc_conn_set_user(struct ttrpc_conn *c, void *user);
void *ttrpc_conn_user(const struct ttrpc_conn *c);

/* Frames of type >= TTRPC_T_EXTRA_MIN. Return -1 to close the connection
 * (protocol violation). Without a callback such frames are ignored. */
typedef int (*ttrpc_extra_fn)(struct ttrpc_conn *c, const struct ttrpc_hdr *h,
    const uint8_t *data, void *arg);
void ttrpc_conn_set_extra(struct ttrpc_conn *c, ttrpc_extra_fn fn, void *arg);
/* Queue any frame (e.g. an extra type). -1 with errno as
 * ttrpc_writer_queue. */
int ttrpc_conn_send_frame(struct ttrpc_conn *c, uint32_t stream_id,
    uint8_t type, uint8_t flags, const void *data, size_t len);

/* Client side. */

struct ttrpc_result {
	int code; /* gRPC status code; 0 = OK */
	const char *message;
	const uint8_t *payload; /* serialized response; valid during the cb */
	size_t len;
};

typedef void (*ttrpc_reply_fn)(const struct ttrpc_result *res, void *arg);

/* Start a unary call. timeout_ns 0 = none (it is also sent to the server
 * as timeout_nano). Returns the stream id (> 0), and then cb runs exactly
 * once (already before this returns if the connection broke while
 * sending), or 0 with errno and cb never runs. */
uint32_t ttrpc_call_start(struct ttrpc_conn *c, const char *service,
    const char *method, const ProtobufCMessage *req, uint64_t timeout_ns,
    const struct ttrpc_kv *md, size_t nmd, ttrpc_reply_fn cb, void *arg);
/* Forget a pending call: its callback will not run. */
void ttrpc_call_abandon(struct ttrpc_conn *c, uint32_t stream_id);

/* Blocking unary call on a connected fd, stream id 1 (a fresh
 * connection). On success returns 0 and, if resp != NULL, the decoded
 * response of type out (NULL out: resp untouched); free it with
 * protobuf_c_message_free_unpacked. A non-OK status returns -1 with
 * err->code/msg from the server. */
int ttrpc_call_sync(int fd, const char *service, const char *method,
    const ProtobufCMessage *req, uint64_t timeout_ns, const struct ttrpc_kv *md,
    size_t nmd, const ProtobufCMessageDescriptor *out, ProtobufCMessage **resp,
    struct qb_error *err);

/* Connect to a unix socket path ("unix://" prefix accepted). Returns a
 * blocking, close-on-exec fd or -1. */
int ttrpc_dial_unix(const char *path);

#endif

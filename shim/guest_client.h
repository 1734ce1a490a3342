/*
 * Host-side client of the guest API (docs/GUEST-PROTOCOL.md), asynchronous
 * on the shim's evloop. The VM backend hands it the host end of the channel
 * (the socketpair whose other end QEMU's virtio-serial port uses), waits
 * for on_ready, then calls methods of qemubox.guest.v1.Guest with the
 * messages of proto/guest.proto.
 *
 * The guest is untrusted: every frame is validated by lib/chan, every
 * response payload must decode as the method's response message, and any
 * violation, EOF or the ready timeout ends in on_dead (once) -- treat the
 * VM as dead. Pending calls then complete with QB_E_UNAVAILABLE first.
 *
 * Callbacks must not call guest_client_free(); defer it (evloop_defer).
 */
#ifndef QEMUBOX_SHIM_GUEST_CLIENT_H
#define QEMUBOX_SHIM_GUEST_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "lib/error.h"
#include "proto/guest.pb-c.h"

struct evloop;
struct chan;
struct guest_client;

/*
 * OOM events say nothing new when repeated, and each one becomes a
 * containerd event (CRI acts on it), yet a guest can send thousands a
 * second: the client passes a burst of GUEST_OOM_BURST, then at most
 * GUEST_OOM_PER_SEC a second, and drops the rest (counted in the log).
 */
#define GUEST_OOM_BURST   8
#define GUEST_OOM_PER_SEC 2

struct guest_client_ops {
	/* READY event: boot_ms is the guest's CLOCK_BOOTTIME at ready. */
	void (*on_ready)(struct guest_client *, uint64_t boot_ms, void *arg);
	/* A process exited. Its stdout/stderr streams were closed before. */
	void (*on_exit)(struct guest_client *, const char *id,
	    const char *exec_id, uint32_t pid, uint32_t exit_status, void *arg);
	void (*on_oom)(struct guest_client *, const char *id, void *arg);
	/* Channel closed, protocol violation, or not ready in time. */
	void (*on_dead)(struct guest_client *, const char *why, void *arg);
};

/*
 * resp is the decoded response (NULL on error, or for methods answering
 * Empty); err->code is QB_E_OK on success. Both are valid only during
 * the callback.
 */
typedef void (*guest_call_cb)(struct guest_client *, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg);

/* fd: non-blocking is set here; the client does not close it. */
struct guest_client *guest_client_new(struct evloop *, int fd,
    uint64_t ready_timeout_ms, const struct guest_client_ops *, void *arg);
void guest_client_free(struct guest_client *);
bool guest_client_ready(const struct guest_client *);
struct chan *guest_client_chan(struct guest_client *);

/*
 * Call method (e.g. "Create") with req; resp_desc is the response message
 * descriptor (e.g. &qemubox__guest__v1__create_response__descriptor), or
 * NULL for Empty. timeout_ms 0 = none. -1 with errno if it could not be
 * queued (cb is then not called).
 */
int guest_call(struct guest_client *, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
    uint64_t timeout_ms, guest_call_cb cb, void *arg);

/*
 * The calls made with arg that are still pending complete without calling
 * back: their answer, time-out or the client's death is dropped. For a
 * caller whose arg goes away while several of its calls are in flight (a
 * failed Create: the guest may answer the next one in the same read, and
 * a dying client completes every call, one after the other).
 */
void guest_client_cancel(struct guest_client *, const void *arg);

/*
 * A VM restored from a template (a clone) sent its READY event to the
 * template's host, never to us: take the guest as ready now (stops the
 * ready timer). The first call must then be guest_client_set_identity().
 */
void guest_client_restored(struct guest_client *);

/*
 * SetIdentity: a fresh 32-byte seed from the host's getrandom() and the
 * host's CLOCK_REALTIME, so that a clone shares neither RNG state nor a
 * stale clock with its template or its siblings. -1 with errno as
 * guest_call().
 */
int guest_client_set_identity(
    struct guest_client *, uint64_t timeout_ms, guest_call_cb cb, void *arg);

/* A fresh stream id for Stdio fields (unique on this channel). */
uint32_t guest_stream_id(struct guest_client *);

#endif

/*
 * The ttrpc envelope on the guest channel (WIRE.md §1.4): ttrpc.Request
 * {1 service, 2 method, 3 payload, 4 timeout_nano, 5 metadata} and
 * ttrpc.Response {1 status google.rpc.Status {1 code, 2 message}, 2 payload}.
 * The same generated codec as the containerd side (lib/ttrpc_msg.h,
 * proto/ttrpc.proto); the host decodes Responses from an untrusted guest
 * with it, bounded by the frame it is given (tests/fuzz/fuzz_chan_rpc.c).
 */
#ifndef QEMUBOX_CHAN_RPC_H
#define QEMUBOX_CHAN_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "lib/chan.h"

#define GUEST_SERVICE "qemubox.guest.v1.Guest"

struct chan_rpc_req {
	const char *service; /* NUL-terminated; service_len = strlen */
	size_t service_len;
	const char *method;
	size_t method_len;
	const uint8_t *payload;
	size_t payload_len;
	void *msg; /* owns the above: chan_rpc_req_free() */
};

struct chan_rpc_resp {
	int32_t code;    /* 0 = OK */
	const char *msg; /* NUL-terminated or NULL; msg_len = strlen */
	size_t msg_len;
	const uint8_t *payload;
	size_t payload_len;
	void *resp; /* owns the above: chan_rpc_resp_free() */
};

/*
 * -1 (EBADMSG) when p is not a well-formed message; on success the views
 * stay valid until the matching free, which is safe on a zeroed or failed
 * struct too.
 */
int chan_rpc_req_decode(const uint8_t *p, size_t n, struct chan_rpc_req *out);
void chan_rpc_req_free(struct chan_rpc_req *req);
int chan_rpc_resp_decode(const uint8_t *p, size_t n, struct chan_rpc_resp *out);
void chan_rpc_resp_free(struct chan_rpc_resp *resp);

/* Encode and queue a Request / Response frame on ch. A Response with code
 * 0 carries no status; msg is cut at 1024 bytes. */
int chan_rpc_send_request(struct chan *ch, uint32_t sid, const char *service,
    const char *method, const uint8_t *payload, size_t n);
int chan_rpc_send_response(struct chan *ch, uint32_t sid, int32_t code,
    const char *msg, const uint8_t *payload, size_t n);

#endif

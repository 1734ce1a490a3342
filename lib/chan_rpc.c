/*
 * ttrpc Request/Response envelopes on the guest channel (lib/chan_rpc.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/chan_rpc.h"
#include "lib/ttrpc_msg.h"
#include "proto/ttrpc.pb-c.h"

/* Longest error message sent to the host. */
#define CHAN_RPC_MSG_MAX 1024

int
chan_rpc_req_decode(const uint8_t *p, size_t n, struct chan_rpc_req *out)
{
	Ttrpc__Request *r;

	memset(out, 0, sizeof(*out));
	if ((r = ttrpc__request__unpack(NULL, n, p)) == NULL) {
		errno = EBADMSG;
		return -1;
	}
	out->service = r->service;
	out->service_len = strlen(r->service);
	out->method = r->method;
	out->method_len = strlen(r->method);
	out->payload = r->payload.data;
	out->payload_len = r->payload.len;
	out->msg = r;
	return 0;
}

void
chan_rpc_req_free(struct chan_rpc_req *req)
{
	if (req->msg != NULL)
		ttrpc__request__free_unpacked(req->msg, NULL);
	memset(req, 0, sizeof(*req));
}

int
chan_rpc_resp_decode(const uint8_t *p, size_t n, struct chan_rpc_resp *out)
{
	Ttrpc__Response *r;

	memset(out, 0, sizeof(*out));
	if ((r = ttrpc__response__unpack(NULL, n, p)) == NULL) {
		errno = EBADMSG;
		return -1;
	}
	if (r->status != NULL) {
		out->code = r->status->code;
		out->msg = r->status->message;
		out->msg_len = strlen(r->status->message);
	}
	out->payload = r->payload.data;
	out->payload_len = r->payload.len;
	out->resp = r;
	return 0;
}

void
chan_rpc_resp_free(struct chan_rpc_resp *resp)
{
	if (resp->resp != NULL)
		ttrpc__response__free_unpacked(resp->resp, NULL);
	memset(resp, 0, sizeof(*resp));
}

int
chan_rpc_send_request(struct chan *ch, uint32_t sid, const char *service,
    const char *method, const uint8_t *payload, size_t n)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if (ttrpc_msg_request(
	        service, method, payload, n, 0, NULL, 0, &buf, &len) == -1)
		return -1;
	rc = chan_send_frame(ch, CHAN_T_REQUEST, 0, sid, buf, len);
	free(buf);
	return rc;
}

int
chan_rpc_send_response(struct chan *ch, uint32_t sid, int32_t code,
    const char *msg, const uint8_t *payload, size_t n)
{
	char m[CHAN_RPC_MSG_MAX + 1];
	uint8_t *buf;
	size_t len;
	int rc;

	snprintf(m, sizeof(m), "%s", msg != NULL ? msg : "");
	if (ttrpc_msg_response(code, m, payload, n, false, &buf, &len) == -1)
		return -1;
	rc = chan_send_frame(ch, CHAN_T_RESPONSE, 0, sid, buf, len);
	free(buf);
	return rc;
}

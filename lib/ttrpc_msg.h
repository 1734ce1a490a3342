/*
 * The ttrpc envelope (WIRE.md §1.4), one encoder for every place that
 * sends one: the containerd-facing server and client (lib/ttrpc*.c) and the
 * guest channel (lib/chan_rpc.c). Built on the generated ttrpc.pb-c.h, so
 * link $(TTRPC_MSG_SRCS) (lib/ttrpc_msg.mk) and $(LIBS_PROTOBUF).
 */
#ifndef QEMUBOX_TTRPC_MSG_H
#define QEMUBOX_TTRPC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

struct ttrpc_kv {
	const char *key;
	const char *value;
};

/* Serialize any message into a malloc'd buffer (the caller frees it) of
 * *len bytes; NULL (ENOMEM) on failure. No size limit. */
uint8_t *ttrpc_msg_pack(const ProtobufCMessage *m, size_t *len);

/*
 * Serialize a ttrpc.Request carrying an already serialized payload.
 * timeout_ns 0 = none. On success *out (malloc'd, the caller frees) holds
 * *outlen bytes; -1 with ENOMEM, or EMSGSIZE beyond TTRPC_MAX_DATA.
 */
int ttrpc_msg_request(const char *service, const char *method,
    const uint8_t *payload, size_t len, uint64_t timeout_ns,
    const struct ttrpc_kv *md, size_t nmd, uint8_t **out, size_t *outlen);

/*
 * Serialize a ttrpc.Response: status {code, msg} and payload. ok_status:
 * also send the (empty) status when code is 0, as Go servers do; without it
 * a success has no status field. msg NULL or "" sends no message.
 * Returns as ttrpc_msg_request.
 */
int ttrpc_msg_response(int32_t code, const char *msg, const uint8_t *payload,
    size_t len, bool ok_status, uint8_t **out, size_t *outlen);

#endif

/*
 * ttrpc Request/Response serialization (lib/ttrpc_msg.h).
 */
#include "lib/ttrpc_msg.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/ttrpc_frame.h"
#include "proto/google_rpc.pb-c.h"
#include "proto/ttrpc.pb-c.h"

uint8_t *
ttrpc_msg_pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	if ((buf = malloc(*len ? *len : 1)) == NULL)
		return NULL;
	protobuf_c_message_pack(m, buf);
	return buf;
}

/* An envelope, bounded by what one frame may carry. */
static int
pack(const ProtobufCMessage *m, uint8_t **out, size_t *outlen)
{
	if ((*out = ttrpc_msg_pack(m, outlen)) == NULL)
		return -1;
	if (*outlen > TTRPC_MAX_DATA) {
		free(*out);
		*out = NULL;
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int
ttrpc_msg_request(const char *service, const char *method,
    const uint8_t *payload, size_t len, uint64_t timeout_ns,
    const struct ttrpc_kv *md, size_t nmd, uint8_t **out, size_t *outlen)
{
	Ttrpc__Request r;
	Ttrpc__KeyValue *kv = NULL, **kvp = NULL;
	size_t i;
	int rc = -1;

	ttrpc__request__init(&r);
	r.service = (char *)(uintptr_t)service;
	r.method = (char *)(uintptr_t)method;
	r.payload.data = (uint8_t *)(uintptr_t)payload;
	r.payload.len = len;
	r.timeout_nano =
	    timeout_ns > INT64_MAX ? INT64_MAX : (int64_t)timeout_ns;
	if (nmd > 0) {
		kv = calloc(nmd, sizeof(*kv));
		kvp = calloc(nmd, sizeof(*kvp));
		if (kv == NULL || kvp == NULL)
			goto out;
		for (i = 0; i < nmd; i++) {
			ttrpc__key_value__init(&kv[i]);
			kv[i].key = (char *)(uintptr_t)md[i].key;
			kv[i].value = (char *)(uintptr_t)md[i].value;
			kvp[i] = &kv[i];
		}
		r.n_metadata = nmd;
		r.metadata = kvp;
	}
	rc = pack(&r.base, out, outlen);
out:
	free(kv);
	free(kvp);
	return rc;
}

int
ttrpc_msg_response(int32_t code, const char *msg, const uint8_t *payload,
    size_t len, bool ok_status, uint8_t **out, size_t *outlen)
{
	Ttrpc__Response resp;
	Google__Rpc__Status st;

	ttrpc__response__init(&resp);
	google__rpc__status__init(&st);
	st.code = code;
	if (msg != NULL && *msg != '\0')
		st.message = (char *)(uintptr_t)msg;
	if (code != 0 || ok_status)
		resp.status = &st;
	resp.payload.data = (uint8_t *)(uintptr_t)payload;
	resp.payload.len = len;
	return pack(&resp.base, out, outlen);
}

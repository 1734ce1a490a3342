/*
 * The host's decoder of ttrpc Responses from the guest (lib/chan_rpc):
 * arbitrary bytes must decode or fail cleanly; every view a success hands
 * out must be readable to its stated length (ASan checks the reads).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/chan_rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
touch(const void *p, size_t n)
{
	static volatile uint8_t sink;
	size_t i;

	if (n > 0 && p == NULL)
		__builtin_trap();
	for (i = 0; i < n; i++)
		sink = sink ^ ((const uint8_t *)p)[i];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chan_rpc_resp r;
	struct chan_rpc_req q;

	if (chan_rpc_resp_decode(data, size, &r) == 0) {
		if (r.msg != NULL && strlen(r.msg) != r.msg_len)
			__builtin_trap();
		touch(r.msg, r.msg_len);
		touch(r.payload, r.payload_len);
	}
	chan_rpc_resp_free(&r);
	if (chan_rpc_req_decode(data, size, &q) == 0) {
		touch(q.service, q.service_len);
		touch(q.method, q.method_len);
		touch(q.payload, q.payload_len);
	}
	chan_rpc_req_free(&q);
	return 0;
}

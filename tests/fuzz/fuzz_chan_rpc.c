/*
 * The host's decoder of ttrpc Responses from the guest (lib/chan_rpc):
 * arbitrary bytes must decode into views inside the input or fail cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/chan_rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
touch(const void *p, size_t n, const uint8_t *base, size_t size)
{
	static volatile uint8_t sink;

	if (n == 0)
		return;
	/* A view must lie inside the input. */
	if ((const uint8_t *)p < base || (const uint8_t *)p + n > base + size)
		__builtin_trap();
	sink = sink ^ ((const uint8_t *)p)[n - 1];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chan_rpc_resp r;
	struct chan_rpc_req q;

	if (chan_rpc_resp_decode(data, size, &r) == 0) {
		touch(r.msg, r.msg_len, data, size);
		touch(r.payload, r.payload_len, data, size);
	}
	if (chan_rpc_req_decode(data, size, &q) == 0) {
		touch(q.service, q.service_len, data, size);
		touch(q.method, q.method_len, data, size);
		touch(q.payload, q.payload_len, data, size);
	}
	return 0;
}

/*
 * The host's reader of guest frames (lib/chan, CHAN_HOST role): arbitrary
 * bytes from a hostile guest must end in a clean EPROTO or be consumed,
 * never crash, over-read or buffer beyond the granted credit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/chan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_response(
    struct chan *ch, uint32_t sid, const uint8_t *p, size_t n, void *arg)
{
	(void)ch;
	(void)p;
	(void)n;
	(void)arg;
	return (sid & 1) ? 0 : -1;
}

static int
on_event(struct chan *ch, const uint8_t *p, size_t n, void *arg)
{
	(void)ch;
	(void)arg;
	return n > 0 && p[0] == 0x0a ? 0 : -1;
}

static void
on_data(struct chan_stream *s, const uint8_t *p, size_t n, void *arg)
{
	static volatile uint8_t sink;
	size_t i;

	(void)arg;
	for (i = 0; i < n; i++)
		sink = sink ^ p[i];
	/* Hand half of it back, like a consumer that drains slowly. */
	chan_stream_grant(s, n / 2);
}

static void
on_close(struct chan_stream *s, void *arg)
{
	(void)arg;
	chan_stream_release(s);
}

static const struct chan_ops ops = {
    .on_response = on_response, .on_event = on_event};
static const struct chan_stream_ops sops = {
    .on_data = on_data, .on_close = on_close};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chan *c = chan_new(-1, CHAN_HOST, &ops, NULL);
	size_t off = 0, chunk;
	uint32_t id;

	if (c == NULL)
		return 0;
	for (id = 1; id <= 4; id++)
		chan_stream_open(c, id, CHAN_RECV, &sops, NULL);
	chan_stream_release(chan_stream_open(c, 5, CHAN_RECV, &sops, NULL));
	chan_stream_open(c, 6, CHAN_SEND, NULL, NULL);
	/* Feed in uneven pieces so partial headers and bodies are exercised. */
	while (off < size) {
		chunk = 1 + (data[off] % 97);
		if (chunk > size - off)
			chunk = size - off;
		if (chan_input(c, data + off, chunk) == -1)
			break;
		off += chunk;
	}
	chan_free(c);
	return 0;
}

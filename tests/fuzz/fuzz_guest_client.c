/*
 * The shim's decoding of everything a hostile guest can send, through the
 * real shim/guest_client handlers: frames (lib/chan), Response envelopes
 * matched against pending calls and unpacked as the method's response
 * message, and Event messages (Ready, Exit, Oom), with stdio streams open.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/chan.h"
#include "lib/evloop.h"
#include "shim/guest_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
on_exit_cb(struct guest_client *gc, const char *id, const char *exec_id,
    uint32_t pid, uint32_t st, void *arg)
{
	(void)gc;
	(void)pid;
	(void)st;
	(void)arg;
	if (id[0] == '\x7f' && exec_id[0] == '\x7f')
		__builtin_trap(); /* unreachable unless strings are corrupt */
}

static void
call_cb(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	(void)gc;
	(void)arg;
	if (err->code == 0 && resp != NULL)
		(void)protobuf_c_message_get_packed_size(resp);
}

static void
on_data(struct chan_stream *s, const uint8_t *p, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	chan_stream_grant(s, n);
}

static const struct guest_client_ops ops = {.on_exit = on_exit_cb};
static const struct chan_stream_ops sops = {.on_data = on_data};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evloop *loop;
	/* Event{ready{boot_ms 1}} so that Exit/Oom events are acceptable. */
	static const uint8_t ready[] = {
	    0, 0, 0, 4, 0, 0, 0, 0, CHAN_T_EVENT, 0, 0x0a, 0x02, 0x08, 0x01};
	Qemubox__Guest__V1__PingRequest ping;
	struct guest_client *gc;
	int sv[2];

	if (loop == NULL && (loop = evloop_new()) == NULL)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 0;
	if ((gc = guest_client_new(loop, sv[0], 0, &ops, NULL)) == NULL)
		goto out;
	qemubox__guest__v1__ping_request__init(&ping);
	guest_call(gc, "Ping", &ping.base,
	    &qemubox__guest__v1__ping_response__descriptor, 0, call_cb, NULL);
	guest_call(gc, "Create", &ping.base,
	    &qemubox__guest__v1__create_response__descriptor, 0, call_cb, NULL);
	guest_call(gc, "Kill", &ping.base, NULL, 0, call_cb, NULL);
	chan_stream_open(guest_client_chan(gc), 2, CHAN_RECV, &sops, NULL);
	chan_stream_open(guest_client_chan(gc), 4, CHAN_SEND, NULL, NULL);
	if (size > 0 && (data[0] & 1))
		chan_input(guest_client_chan(gc), ready, sizeof(ready));
	chan_input(guest_client_chan(gc), data, size);
	guest_client_free(gc);
	/* Deleted handles are reclaimed at the end of a dispatch round. */
	evloop_run_once(loop, 0);
out:
	close(sv[0]);
	close(sv[1]);
	return 0;
}

/*
 * libFuzzer target for the bytes a ttrpc peer controls: the frame reader
 * (fed in input-chosen chunk sizes), ttrpc.Request / Response decoding, and
 * the whole server dispatch path (a server connection on a socketpair with
 * a handler table that answers, fails or parks calls).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/ttrpc.h"
#include "proto/task.pb-c.h"
#include "proto/ttrpc.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
h_reply(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	Containerd__Task__V2__StartResponse r;

	(void)m;
	(void)arg;
	containerd__task__v2__start_response__init(&r);
	r.pid = 1;
	(void)ttrpc_call_namespace(call);
	ttrpc_call_reply(call, &r.base);
}

static void
h_fail(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	(void)m;
	(void)arg;
	ttrpc_call_reply_error(call, QB_E_NOTFOUND, "%s", "nope");
}

static void
on_cancel(struct ttrpc_call *call, void *arg)
{
	(void)arg;
	ttrpc_call_release(call);
}

static void
h_park(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	(void)m;
	(void)arg;
	/* Released when the connection closes or the deadline passes. */
	ttrpc_call_set_cancel(call, on_cancel, NULL);
}

static const struct ttrpc_method methods[] = {
    {"Start", &containerd__task__v2__start_request__descriptor, h_reply},
    {"Create", &containerd__task__v2__create_task_request__descriptor, h_fail},
    {"Wait", &containerd__task__v2__wait_request__descriptor, h_park},
    {"Raw", NULL, h_reply},
};

static int
on_extra(struct ttrpc_conn *c, const struct ttrpc_hdr *h, const uint8_t *d,
    void *arg)
{
	(void)c;
	(void)d;
	(void)arg;
	return h->type == 0x2f ? -1 : 0;
}

static void
decode_frames(const uint8_t *data, size_t size)
{
	struct ttrpc_reader r;
	struct ttrpc_frame f;
	size_t off = 1, chunk;

	if (size < 1)
		return;
	chunk = (size_t)data[0] % 64 + 1;
	ttrpc_reader_init(&r, 4096);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		ttrpc_reader_feed(&r, data + off, n);
		off += n;
		while (ttrpc_reader_next(&r, &f) == 1) {
			if (f.oversized)
				continue;
			if (f.hdr.type == TTRPC_T_REQUEST) {
				Ttrpc__Request *q = ttrpc__request__unpack(
				    NULL, f.hdr.len, f.data);
				if (q == NULL)
					continue;
				ProtobufCMessage *m = protobuf_c_message_unpack(
				    &containerd__task__v2__create_task_request__descriptor,
				    NULL, q->payload.len, q->payload.data);
				if (m != NULL)
					protobuf_c_message_free_unpacked(
					    m, NULL);
				ttrpc__request__free_unpacked(q, NULL);
			} else if (f.hdr.type == TTRPC_T_RESPONSE) {
				Ttrpc__Response *p = ttrpc__response__unpack(
				    NULL, f.hdr.len, f.data);
				if (p != NULL)
					ttrpc__response__free_unpacked(p, NULL);
			}
		}
	}
	ttrpc_reader_free(&r);
}

static void
serve(const uint8_t *data, size_t size)
{
	struct evloop *loop = evloop_new();
	struct ttrpc_server *srv = ttrpc_server_new(loop);
	struct ttrpc_conn *c;
	uint8_t sink[65536];
	size_t off = 0;
	int sv[2], i;

	if (loop == NULL || srv == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		abort();
	ttrpc_server_register(srv, "containerd.task.v2.Task", methods, 4, NULL);
	if ((c = ttrpc_conn_new(loop, sv[0], srv)) == NULL)
		abort();
	ttrpc_conn_set_max_frame(c, 4096);
	ttrpc_conn_set_extra(c, on_extra, NULL);
	for (i = 0; i < 64 && off < size; i++) {
		ssize_t n = write(sv[1], data + off, size - off);
		if (n > 0)
			off += (size_t)n;
		evloop_run_once(loop, 0);
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
	}
	evloop_run_once(loop, 0);
	ttrpc_server_free(srv); /* cancels (and so releases) parked calls */
	evloop_free(loop);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;

	if (!init) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd != -1)
			log_set_fd(fd);
		init = 1;
	}
	decode_frames(data, size);
	serve(data, size);
	return 0;
}

/*
 * libFuzzer target for what QEMU sends vmmon over QMP (QEMU is as
 * untrusted as the guest): every line through qmp_decode(), and the whole
 * input as a server stream through the client's framing and state machine
 * (greeting, handshake, replies by id, events) with a few commands pending.
 */
#include <sys/socket.h>

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "vmmon/qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
on_done(void *arg, const struct qmp_result *r)
{
	(void)arg;
	if (r->ok && r->ret != NULL)
		(void)json_object_get_type(r->ret);
}

static void
on_event(void *arg, const char *name, json_object *d)
{
	(void)arg;
	(void)d;
	(void)strlen(name);
}

static void
on_ready(void *arg)
{
	(void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct qmp_callbacks cb = {on_ready, on_event, NULL};
	struct qmp_msg m;
	struct qmp *q;
	const char *p = (const char *)data, *nl;
	size_t left = size, off;
	struct pollfd pfd;
	int sp[2];
	ssize_t w;

	if (!init) {
		log_init("fuzz_qmp", 0);
		log_set_fd(-1);
		init = 1;
	}
	/* 1. the decoder, line by line */
	while (left > 0) {
		nl = memchr(p, '\n', left);
		off = nl ? (size_t)(nl - p) : left;
		if (qmp_decode(p, off, &m) == 0)
			qmp_msg_release(&m);
		if (nl == NULL)
			break;
		p = nl + 1;
		left -= off + 1;
	}

	/* 2. the client as a whole */
	if (size > 65536)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return 0;
	if ((q = qmp_new(sp[0], &cb)) == NULL) {
		close(sp[0]);
		close(sp[1]);
		return 0;
	}
	qmp_execute(q, "query-status", NULL, 1000, on_done, NULL);
	qmp_execute(q, "query-hotpluggable-cpus", NULL, 1000, on_done, NULL);
	w = size ? write(sp[1], data, size) : 0;
	(void)w;
	shutdown(sp[1], SHUT_WR);
	for (;;) {
		pfd.fd = sp[0];
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) != 1)
			break;
		if (qmp_dispatch(q, pfd.revents) == -1)
			break;
	}
	qmp_free(q);
	close(sp[1]);
	return 0;
}

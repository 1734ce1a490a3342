/*
 * libFuzzer target for the Task API as containerd (or anyone who reaches
 * the shim's socket) drives it: the input is a sequence of calls
 * (method byte, 16-bit length, request payload) sent as ttrpc Requests to
 * the real binding (shim/task_ttrpc.c) and service core over a socketpair,
 * with a backend whose ops complete at once and whose processes exit when
 * the input says so. Any crash, leak or sanitizer report is a finding.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/ttrpc.h"
#include "proto/ttrpc.pb-c.h"
#include "shim/task_service.h"
#include "shim/task_ttrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t next_pid = 100;

static void
ok_now(backend_done_fn done, void *arg)
{
	struct backend_result res = {.pid = next_pid++};

	done(arg, &res, NULL);
}

static void
fb_create(void *st, const struct backend_create_req *req, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)req;
	ok_now(done, arg);
}

static void
fb_id(void *st, const char *id, const char *exec_id, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)id;
	(void)exec_id;
	ok_now(done, arg);
}

static void
fb_exec(void *st, const struct backend_exec_req *req, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)req;
	ok_now(done, arg);
}

static void
fb_kill(void *st, const char *id, const char *exec_id, uint32_t sig, bool all,
    backend_done_fn done, void *arg)
{
	(void)st;
	(void)id;
	(void)exec_id;
	(void)sig;
	(void)all;
	ok_now(done, arg);
}

static void
fb_cont(void *st, const char *id, backend_done_fn done, void *arg)
{
	(void)st;
	(void)id;
	ok_now(done, arg);
}

static const struct backend_ops fb = {
    .name = "fuzz",
    .create = fb_create,
    .start = fb_id,
    .delete = fb_id,
    .exec = fb_exec,
    .kill = fb_kill,
    .pause = fb_cont,
    .resume = fb_cont,
    .pids = fb_cont,
};

static const char *const methods[] = {"State", "Create", "Start", "Delete",
    "Pids", "Pause", "Resume", "Checkpoint", "Kill", "Exec", "ResizePty",
    "CloseIO", "Update", "Wait", "Stats", "Connect", "Shutdown"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static void
send_call(
    int fd, uint32_t stream, const char *method, const uint8_t *p, size_t len)
{
	Ttrpc__Request rq;
	uint8_t buf[10 + 70000];
	size_t n;

	ttrpc__request__init(&rq);
	rq.service = (char *)"containerd.task.v2.Task";
	rq.method = (char *)(uintptr_t)method;
	rq.payload.data = (uint8_t *)(uintptr_t)p;
	rq.payload.len = len;
	n = ttrpc__request__get_packed_size(&rq);
	if (n > sizeof(buf) - 10)
		return;
	ttrpc__request__pack(&rq, buf + 10);
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	buf[4] = (uint8_t)(stream >> 24);
	buf[5] = (uint8_t)(stream >> 16);
	buf[6] = (uint8_t)(stream >> 8);
	buf[7] = (uint8_t)stream;
	buf[8] = 1; /* Request */
	buf[9] = 0;
	(void)!write(fd, buf, n + 10);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct evloop *loop;
	struct ttrpc_server *srv;
	struct task_service *svc;
	uint8_t sink[65536];
	uint32_t stream = 1;
	size_t off = 0;
	int sv[2];

	if (!init) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd != -1)
			log_set_fd(fd);
		init = 1;
	}
	if ((loop = evloop_new()) == NULL ||
	    (srv = ttrpc_server_new(loop)) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		abort();
	if ((svc = task_service_new(&fb, NULL, NULL, NULL, NULL, NULL, NULL)) ==
	    NULL)
		abort();
	if (task_ttrpc_register(srv, svc, "default") == -1 ||
	    ttrpc_conn_new(loop, sv[0], srv) == NULL)
		abort();
	while (off + 3 <= size) {
		uint8_t m = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];

		off += 3;
		if (len > size - off)
			len = size - off;
		if (m < NMETHODS) {
			send_call(sv[1], stream, methods[m], data + off, len);
			stream += 2;
		} else {
			/* An exit report for container "c<n>" or one of its
			 * execs, as the backend would send. */
			char id[4] = {'c', (char)('0' + m % 4), 0, 0};
			char exec[4] = {'e', (char)('0' + m % 3), 0, 0};
			task_service_exited(
			    svc, id, (m & 0x10) ? exec : "", 0, m, NULL);
		}
		off += len;
		evloop_run_once(loop, 0);
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
	}
	evloop_run_once(loop, 0);
	ttrpc_server_free(srv); /* cancels parked Waits */
	task_service_free(svc);
	evloop_free(loop);
	close(sv[1]);
	return 0;
}

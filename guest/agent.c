/*
 * vminitd's guest API server (guest/agent.h): the host channel and the
 * dispatch of its requests.
 *
 * One evloop: the host channel, PID 1's signalfd (SIGCHLD -> exits), the
 * stdio pumps and timers. Handlers run crun synchronously (it returns in
 * well under a second); everything else is non-blocking. The handlers live
 * with their concern: guest/agent_ctr.c (containers), agent_stdio.c,
 * agent_vm.c (the VM); the process table is guest/agent_proc.c.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest/agent.h"
#include "guest/agent_int.h"
#include "guest/crun.h"
#include "guest/pid1.h"
#include "lib/chan_rpc.h"
#include "lib/log.h"

static const struct {
	const char *method;
	agent_handler *fn;
} handlers[] = {
    {"ConfigureNetwork", h_configure_network},
    {"ResizePty", h_resize_pty},
    {"Stats", h_stats},
    {"Ping", h_ping},
    {"Create", h_create},
    {"Start", h_start},
    {"Exec", h_exec},
    {"Kill", h_kill},
    {"Delete", h_delete},
    {"State", h_state},
    {"Pids", h_pids},
    {"Pause", h_pause},
    {"Resume", h_resume},
    {"Update", h_update},
    {"OnlineCpus", h_online_cpus},
    {"OnlineMemory", h_online_memory},
    {"VmStats", h_vm_stats},
    {"SetIdentity", h_set_identity},
    {"Shutdown", h_shutdown},
};

/* ---- channel ---- */

static void
maybe_stop(struct agent *a)
{
	if (a->stopping && chan_queued(a->ch) == 0)
		evloop_break(a->loop);
}

static void
on_request(struct chan *ch, uint32_t sid, const uint8_t *p, size_t n, void *arg)
{
	struct agent *a = arg;
	struct chan_rpc_req req;
	struct qb_error err = {0};
	ProtobufCMessage *resp = NULL;
	uint8_t *buf = NULL;
	size_t i, len = 0;
	uint64_t t0;
	int rc = -1;

	if (chan_rpc_req_decode(p, n, &req) == -1) {
		qb_seterr(&err, QB_E_INTERNAL, "undecodable request");
		goto reply;
	}
	if (req.service_len != strlen(GUEST_SERVICE) ||
	    memcmp(req.service, GUEST_SERVICE, req.service_len) != 0) {
		qb_seterr(&err, QB_E_UNIMPLEMENTED, "service %.*s",
		    (int)req.service_len, req.service ? req.service : "");
		goto reply;
	}
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (strlen(handlers[i].method) == req.method_len &&
		    memcmp(handlers[i].method, req.method, req.method_len) == 0)
			break;
	}
	if (i == sizeof(handlers) / sizeof(handlers[0])) {
		qb_seterr(&err, QB_E_UNIMPLEMENTED, "method %.*s",
		    (int)req.method_len, req.method ? req.method : "");
		goto reply;
	}
	t0 = evloop_now_ns();
	rc = handlers[i].fn(a, req.payload ? req.payload : (const uint8_t *)"",
	    req.payload_len, &resp, &err);
	log_debug("%s: %s: %llu us", __func__, handlers[i].method,
	    (unsigned long long)(evloop_now_ns() - t0) / 1000);
	if (rc == 0 && resp != NULL) {
		len = protobuf_c_message_get_packed_size(resp);
		if ((buf = malloc(len ? len : 1)) != NULL)
			protobuf_c_message_pack(resp, buf);
		protobuf_c_message_free_unpacked(resp, NULL);
		if (buf == NULL) {
			rc = -1;
			qb_seterr(&err, QB_E_INTERNAL, "out of memory");
		}
	}
	if (rc == -1)
		log_warnx("%s: %.*s: %s", __func__, (int)req.method_len,
		    req.method, err.msg);
reply:
	if (rc == -1 && err.code == 0)
		err.code = QB_E_UNKNOWN;
	if (chan_rpc_send_response(ch, sid, rc == 0 ? 0 : err.code,
	        rc == 0 ? NULL : err.msg, buf, len) == -1)
		log_warn("%s: respond", __func__);
	chan_rpc_req_free(&req);
	free(buf);
	maybe_stop(a);
}

static void
chan_want_write(struct chan *ch, int on, void *arg)
{
	struct agent *a = arg;

	(void)ch;
	if (a->chan_io != NULL)
		evloop_io_set(a->chan_io, EV_READ | (on ? EV_WRITE : 0));
}

static const struct chan_ops agent_chan_ops = {
    .on_request = on_request,
    .want_write = chan_want_write,
};

static void
chan_io_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct agent *a = arg;
	struct timespec idle = {0, 20 * 1000000};

	(void)io;
	(void)fd;
	/*
	 * virtio-serial reports HUP and EOF while the host end is not
	 * connected yet; only after the host was seen do they mean it left.
	 */
	if (!a->host_seen && (events & EV_HUP) && !(events & EV_READ)) {
		nanosleep(&idle, NULL);
		return;
	}
	if (events & EV_WRITE) {
		if (chan_flush(a->ch) == -1)
			goto dead;
		if (chan_queued(a->ch) == 0)
			a->host_seen = true;
	}
	if (events & (EV_READ | EV_HUP)) {
		if (chan_read(a->ch) == -1) {
			if (errno == EPIPE && !a->host_seen) {
				/* Not connected yet: this EOF means nothing. */
				nanosleep(&idle, NULL);
				return;
			}
			goto dead;
		}
		a->host_seen = true;
	}
	maybe_stop(a);
	return;
dead:
	if (chan_failed(a->ch) && errno == EPROTO)
		log_warnx("%s: protocol error from the host", __func__);
	else
		log_info("%s: host channel closed", __func__);
	evloop_break(a->loop);
}

static void
sig_io_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct agent *a = arg;

	(void)io;
	(void)fd;
	(void)events;
	if (pid1_signals(a->info, on_child_exit, a) == 1) {
		log_info("%s: shutdown signal", __func__);
		evloop_break(a->loop);
	}
}

int
agent_send_event(struct agent *a, const Qemubox__Guest__V1__Event *ev)
{
	uint8_t *buf;
	size_t n;
	int rc;

	n = qemubox__guest__v1__event__get_packed_size(ev);
	if ((buf = malloc(n ? n : 1)) == NULL)
		return -1;
	qemubox__guest__v1__event__pack(ev, buf);
	rc = chan_send_frame(a->ch, CHAN_T_EVENT, 0, 0, buf, n);
	free(buf);
	return rc;
}

static int
send_ready(struct agent *a)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ReadyEvent r;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__ready_event__init(&r);
	r.boot_ms = a->info->ready_ms;
	r.version = (char *)(uintptr_t)QB_VERSION;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_READY;
	ev.ready = &r;
	return agent_send_event(a, &ev);
}

int
agent_run(struct pid1_info *info)
{
	struct agent a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.info = info;
	a.ino_fd = -1;
	fd = info->chan_fd;
	if (info->transport == PID1_TRANSPORT_VSOCK) {
		while ((fd = accept4(
		            info->chan_fd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			if (errno != EINTR)
				return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		return -1;
	a.chan_fd = fd;
	signal(SIGPIPE, SIG_IGN);
	/* crun.log and the per-container state dirs live here. */
	/*
	 * 0711: crun resolves the container's executable as the container's
	 * user through the rootfs path under here; search permission only.
	 */
	if ((mkdir("/run/qemubox", 0711) == -1 && errno != EEXIST) ||
	    (mkdir(AGENT_STATE_DIR, 0711) == -1 && errno != EEXIST))
		return -1;
	if ((a.loop = evloop_new()) == NULL)
		return -1;
	if ((a.ch = chan_new(fd, CHAN_GUEST, &agent_chan_ops, &a)) == NULL)
		goto fail;
	/*
	 * SCHED_BATCH: a container's write that makes its pipe readable does
	 * not preempt the writer to run us (one vCPU under TCG). The writer
	 * runs on until its slice ends or the pipe is full, and we then move
	 * many of its writes per wake-up instead of one. Nothing else waits
	 * on us when the CPU is idle. Children get SCHED_OTHER back
	 * (pid1_child_reset).
	 */
	if (sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){0}) == -1)
		log_warn("%s: SCHED_BATCH", __func__);
	/* Container output leaves by splice, not copied through us; without
	 * the staging pipes it is read and written like any frame. */
	if (chan_splice_enable(a.ch) == -1)
		log_warn("%s: splice staging pipes", __func__);
	if ((a.chan_io = evloop_io_add(a.loop, fd, EV_READ, chan_io_cb, &a)) ==
	    NULL)
		goto fail;
	if ((a.sig_io = evloop_io_add(
	         a.loop, info->sig_fd, EV_READ, sig_io_cb, &a)) == NULL)
		goto fail;
	/* OOM reporting is best effort: serve without it if inotify fails. */
	if ((a.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    (a.ino_io = evloop_io_add(
	         a.loop, a.ino_fd, EV_READ, ino_io_cb, &a)) == NULL)
		log_warn("%s: inotify: no OOM events", __func__);
	crun_prepare();
	if (send_ready(&a) == -1)
		goto fail;
	/* Written through already: the host end is connected (pid1_setup
	 * waits for it), so a later EOF means the host left. */
	if (chan_queued(a.ch) == 0)
		a.host_seen = true;
	log_info("%s: serving the guest API on %s", __func__, info->chan_path);
	if (evloop_run(a.loop) == -1)
		log_warn("%s: evloop", __func__);
	while (a.ctrs != NULL)
		ctr_free(&a, a.ctrs);
	chan_free(a.ch);
	evloop_free(a.loop);
	if (a.ino_fd >= 0)
		close(a.ino_fd);
	return 0;
fail:
	log_warn("%s", __func__);
	chan_free(a.ch);
	evloop_free(a.loop);
	if (a.ino_fd >= 0)
		close(a.ino_fd);
	return -1;
}

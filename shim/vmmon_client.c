#include "shim/vmmon_client.h"

#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "lib/evloop.h"
#include "lib/log.h"

/* Bound on a blocking call; vmmon bounds each of its own steps. */
#define BLOCKING_TIMEOUT_NS (180ull * 1000 * 1000 * 1000)

struct pending {
	TAILQ_ENTRY(pending) entry;
	uint32_t peerid;
	uint32_t req_type;
	uint32_t res_type;
	size_t res_len;
	vmmon_reply_fn done;
	void *arg;
};

struct vmmon_client {
	struct evloop *loop;
	struct ev_io *io;
	struct imsgbuf ibuf;
	struct vmmon_events ev;
	uint32_t next_peerid;
	bool dead;
	TAILQ_HEAD(, pending) pending;
};

static void
set_events(struct vmmon_client *c)
{
	if (c->io != NULL)
		evloop_io_set(c->io,
		    EV_READ | (msgbuf_queuelen(&c->ibuf.w) > 0 ? EV_WRITE : 0));
}

static void
fail_pending(struct vmmon_client *c, int code, const char *why)
{
	struct qb_error err;
	struct pending *p;

	while ((p = TAILQ_FIRST(&c->pending)) != NULL) {
		TAILQ_REMOVE(&c->pending, p, entry);
		qb_seterr(&err, code, "vmmon: %s", why);
		p->done(p->arg, NULL, 0, &err);
		free(p);
	}
}

static void
client_lost(struct vmmon_client *c, const char *why)
{
	if (c->dead)
		return;
	log_warnx("%s: %s", __func__, why);
	c->dead = true;
	evloop_io_del(c->io);
	c->io = NULL;
	fail_pending(c, QB_E_UNAVAILABLE, why);
	if (c->ev.lost != NULL)
		c->ev.lost(c->ev.arg);
}

static struct pending *
find(struct vmmon_client *c, uint32_t peerid)
{
	struct pending *p;

	TAILQ_FOREACH(p, &c->pending, entry)
	if (p->peerid == peerid)
		return p;
	return NULL;
}

static void
handle(struct vmmon_client *c, struct imsg *imsg)
{
	uint32_t type = imsg_get_type(imsg);
	struct qb_vmm_exit_evt exit_ev;
	struct qb_vmm_guest_evt gev;
	struct qb_imsg_error e;
	struct qb_error err;
	struct pending *p;
	unsigned char buf[sizeof(struct qb_vmm_start_res) +
	                  sizeof(struct qb_vmm_mem_res) +
	                  sizeof(struct qb_vmm_cpu_res) +
	                  sizeof(struct qb_vmm_status_res)];

	switch (type) {
	case IMSG_VMM_EXIT_EVT:
		if (qb_imsg_get_struct(imsg, &exit_ev, sizeof(exit_ev)) == -1 ||
		    qb_imsg_check_strfield(
		        exit_ev.detail, sizeof(exit_ev.detail)) == -1) {
			client_lost(c, "malformed EXIT_EVT");
			return;
		}
		if (c->ev.exited != NULL)
			c->ev.exited(c->ev.arg, &exit_ev);
		return;
	case IMSG_VMM_GUEST_EVT:
		if (qb_imsg_get_struct(imsg, &gev, sizeof(gev)) == -1 ||
		    qb_imsg_check_strfield(gev.detail, sizeof(gev.detail)) ==
		        -1) {
			client_lost(c, "malformed GUEST_EVT");
			return;
		}
		if (c->ev.guest_event != NULL)
			c->ev.guest_event(c->ev.arg, &gev);
		return;
	}

	if ((p = find(c, imsg_get_id(imsg))) == NULL) {
		/* e.g. a second error for a START whose fd was refused. */
		log_debug(
		    "%s: answer %u for no pending request", __func__, type);
		return;
	}
	if (type == IMSG_ERROR) {
		if (qb_imsg_get_struct(imsg, &e, sizeof(e)) == -1 ||
		    qb_imsg_check_strfield(e.msg, sizeof(e.msg)) == -1) {
			client_lost(c, "malformed IMSG_ERROR");
			return;
		}
		TAILQ_REMOVE(&c->pending, p, entry);
		if (e.code <= QB_E_OK || e.code > QB_E_UNAVAILABLE)
			e.code = QB_E_UNKNOWN;
		qb_seterr(&err, e.code, "%s", e.msg);
		p->done(p->arg, NULL, 0, &err);
		free(p);
		return;
	}
	if (type != p->res_type || p->res_len > sizeof(buf) ||
	    (p->res_len == 0
	            ? imsg_get_len(imsg) != 0
	            : qb_imsg_get_struct(imsg, buf, p->res_len) == -1)) {
		client_lost(c, "unexpected answer");
		return;
	}
	TAILQ_REMOVE(&c->pending, p, entry);
	p->done(p->arg, (const void *)buf, p->res_len, NULL);
	free(p);
}

static void
on_io(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct vmmon_client *c = arg;
	struct imsg imsg;
	ssize_t n;

	(void)io;
	(void)fd;
	if (events & EV_WRITE) {
		if (msgbuf_write(&c->ibuf.w) == -1 && errno != EAGAIN) {
			client_lost(c, "write failed");
			return;
		}
	}
	if (events & (EV_READ | EV_HUP | EV_ERR)) {
		n = imsg_read(&c->ibuf);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			client_lost(c, "vmmon closed the channel");
			return;
		}
		while (!c->dead) {
			if ((n = imsg_get(&c->ibuf, &imsg)) == -1) {
				client_lost(c, "bad imsg");
				return;
			}
			if (n == 0)
				break;
			handle(c, &imsg);
			imsg_free(&imsg);
		}
	}
	if (!c->dead)
		set_events(c);
}

struct vmmon_client *
vmmon_client_new(struct evloop *loop, int fd, const struct vmmon_events *ev)
{
	struct vmmon_client *c;
	int fl;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		goto fail;
	c->loop = loop;
	c->ev = *ev;
	c->next_peerid = 1;
	TAILQ_INIT(&c->pending);
	imsg_init(&c->ibuf, fd);
	if ((c->io = evloop_io_add(loop, fd, EV_READ, on_io, c)) == NULL)
		goto fail;
	return c;
fail:
	free(c);
	return NULL;
}

void
vmmon_client_free(struct vmmon_client *c)
{
	if (c == NULL)
		return;
	evloop_io_del(c->io);
	fail_pending(c, QB_E_CANCELED, "client closed");
	imsg_clear(&c->ibuf);
	close(c->ibuf.fd);
	free(c);
}

static const struct {
	uint32_t req, res;
	size_t req_len, res_len;
} table[] = {
    {IMSG_VMM_START_REQ, IMSG_VMM_START_RES, sizeof(struct qb_vmm_start_req),
        sizeof(struct qb_vmm_start_res)},
    {IMSG_VMM_STATUS_REQ, IMSG_VMM_STATUS_RES, 0,
        sizeof(struct qb_vmm_status_res)},
    {IMSG_VMM_PAUSE_REQ, IMSG_VMM_PAUSE_RES, 0, 0},
    {IMSG_VMM_RESUME_REQ, IMSG_VMM_RESUME_RES, 0, 0},
    {IMSG_VMM_SHUTDOWN_REQ, IMSG_VMM_SHUTDOWN_RES,
        sizeof(struct qb_vmm_shutdown_req), 0},
    {IMSG_VMM_CPU_ADD_REQ, IMSG_VMM_CPU_RES, 0, sizeof(struct qb_vmm_cpu_res)},
    {IMSG_VMM_CPU_DEL_REQ, IMSG_VMM_CPU_RES, 0, sizeof(struct qb_vmm_cpu_res)},
    {IMSG_VMM_CPU_QUERY_REQ, IMSG_VMM_CPU_RES, 0,
        sizeof(struct qb_vmm_cpu_res)},
    {IMSG_VMM_MEM_ADD_REQ, IMSG_VMM_MEM_RES, sizeof(struct qb_vmm_mem_add_req),
        sizeof(struct qb_vmm_mem_res)},
    {IMSG_VMM_MEM_DEL_REQ, IMSG_VMM_MEM_RES, 0, sizeof(struct qb_vmm_mem_res)},
    {IMSG_VMM_MEM_QUERY_REQ, IMSG_VMM_MEM_RES, 0,
        sizeof(struct qb_vmm_mem_res)},
};

static struct pending *
expect(struct vmmon_client *c, uint32_t type, vmmon_reply_fn done, void *arg,
    struct qb_error *err)
{
	struct pending *p;
	size_t i;

	if (c->dead) {
		qb_seterr(err, QB_E_UNAVAILABLE, "vmmon is gone");
		return NULL;
	}
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].req == type)
			break;
	if (i == sizeof(table) / sizeof(table[0])) {
		qb_seterr(
		    err, QB_E_INTERNAL, "vmmon: unknown request %u", type);
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "vmmon: out of memory");
		return NULL;
	}
	p->peerid = c->next_peerid++;
	p->req_type = type;
	p->res_type = table[i].res;
	p->res_len = table[i].res_len;
	p->done = done;
	p->arg = arg;
	return p;
}

static bool
req_len_ok(uint32_t type, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].req == type)
			return table[i].req_len == len;
	return false;
}

int
vmmon_request_async(struct vmmon_client *c, uint32_t type, const void *req,
    size_t len, vmmon_reply_fn done, void *arg, struct qb_error *err)
{
	struct pending *p;

	if (type == IMSG_VMM_START_REQ || !req_len_ok(type, len))
		return qb_seterr(
		    err, QB_E_INTERNAL, "vmmon: bad request %u/%zu", type, len);
	if ((p = expect(c, type, done, arg, err)) == NULL)
		return -1;
	if (imsg_compose(&c->ibuf, type, p->peerid, 0, -1, req, len) == -1) {
		free(p);
		return qb_seterr(
		    err, QB_E_INTERNAL, "vmmon: compose: %s", strerror(errno));
	}
	TAILQ_INSERT_TAIL(&c->pending, p, entry);
	set_events(c);
	return 0;
}

static int
send_fd(struct vmmon_client *c, uint32_t peerid, uint32_t role, uint32_t index,
    int fd)
{
	struct qb_vmm_fd f = {.role = role, .index = index};
	int dfd;

	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return -1;
	/* imsg_compose owns dfd from here, sent or not. */
	return imsg_compose(
	    &c->ibuf, IMSG_VMM_FD_REQ, peerid, 0, dfd, &f, sizeof(f));
}

int
vmmon_vm_start_async(struct vmmon_client *c, const struct vm_start_params *p,
    vmmon_reply_fn done, void *arg, struct qb_error *err)
{
	struct qb_vmm_start_req *q;
	struct pending *pe;
	unsigned i;

	if (p->id == NULL || strlen(p->id) >= QB_ID_MAX)
		return qb_seterr(err, QB_E_INVALID, "vm start: bad id");
	if (p->cmdline != NULL && strlen(p->cmdline) >= QB_VMM_CMDLINE_MAX)
		return qb_seterr(
		    err, QB_E_INVALID, "vm start: cmdline too long");
	if (p->ndisks > QB_VMM_MAX_DISKS)
		return qb_seterr(err, QB_E_INVALID, "vm start: too many disks");
	for (i = 0; i < p->ndisks; i++)
		if (p->disks[i].serial != NULL &&
		    strlen(p->disks[i].serial) >= QB_VMM_SERIAL_MAX)
			return qb_seterr(err, QB_E_INVALID,
			    "vm start: disk %u serial over 20 bytes", i);
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "out of memory");
	snprintf(q->id, sizeof(q->id), "%s", p->id);
	q->boot_cpus = p->boot_cpus;
	q->max_cpus = p->max_cpus;
	q->memory_mb = p->memory_mb;
	q->max_memory_mb = p->max_memory_mb;
	q->memory_slots = p->memory_slots;
	q->machine = p->machine;
	q->accel = p->accel;
	q->transport = p->transport;
	q->guest_cid = p->guest_cid;
	q->has_tap = p->tap_fd >= 0;
	memcpy(q->mac, p->mac, sizeof(q->mac));
	q->ndisks = p->ndisks;
	for (i = 0; i < p->ndisks; i++) {
		q->disks[i].readonly = p->disks[i].readonly;
		snprintf(q->disks[i].serial, sizeof(q->disks[i].serial), "%s",
		    p->disks[i].serial ? p->disks[i].serial : "");
	}
	q->console_max_bytes = p->console_max_bytes;
	snprintf(
	    q->cmdline, sizeof(q->cmdline), "%s", p->cmdline ? p->cmdline : "");

	if ((pe = expect(c, IMSG_VMM_START_REQ, done, arg, err)) == NULL)
		goto fail;
	/* The fds first, under the START's peerid; then the START. */
	if (send_fd(c, pe->peerid, QB_VMM_FD_KERNEL, 0, p->kernel_fd) == -1 ||
	    send_fd(c, pe->peerid, QB_VMM_FD_INITRD, 0, p->initrd_fd) == -1 ||
	    (p->transport == QB_VMM_TRANSPORT_VIRTIO_SERIAL &&
	        send_fd(c, pe->peerid, QB_VMM_FD_CHANNEL, 0, p->channel_fd) ==
	            -1) ||
	    (p->transport == QB_VMM_TRANSPORT_VSOCK &&
	        send_fd(c, pe->peerid, QB_VMM_FD_VHOST_VSOCK, 0,
	            p->vhost_vsock_fd) == -1) ||
	    (p->console_log_fd >= 0 &&
	        send_fd(c, pe->peerid, QB_VMM_FD_CONSOLE_LOG, 0,
	            p->console_log_fd) == -1) ||
	    (p->tap_fd >= 0 &&
	        send_fd(c, pe->peerid, QB_VMM_FD_TAP, 0, p->tap_fd) == -1))
		goto fail_errno;
	for (i = 0; i < p->ndisks; i++)
		if (send_fd(c, pe->peerid, QB_VMM_FD_DISK, i, p->disks[i].fd) ==
		    -1)
			goto fail_errno;
	if (imsg_compose(&c->ibuf, IMSG_VMM_START_REQ, pe->peerid, 0, -1, q,
	        sizeof(*q)) == -1)
		goto fail_errno;
	free(q);
	TAILQ_INSERT_TAIL(&c->pending, pe, entry);
	set_events(c);
	return 0;
fail_errno:
	/*
	 * Some FD_REQs may be queued already; vmmon would stage them for a
	 * START that never comes, so this channel is no longer usable.
	 */
	qb_seterr(err, QB_E_INTERNAL, "vm start: send: %s", strerror(errno));
	free(pe);
	free(q);
	client_lost(c, "could not queue a VM start");
	return -1;
fail:
	free(q);
	return -1;
}

/* ---- blocking forms ---- */

struct waiter {
	bool done;
	void *res;
	size_t res_len;
	struct qb_error *err;
	int rc;
};

static void
wait_done(void *arg, const void *res, size_t len, const struct qb_error *err)
{
	struct waiter *w = arg;

	w->done = true;
	if (res == NULL) {
		*w->err = *err;
		w->rc = -1;
		return;
	}
	if (w->res != NULL && len == w->res_len)
		memcpy(w->res, res, len);
	w->rc = 0;
}

/* A blocking call that gives up must not leave its stack frame pending. */
static void
forget(struct vmmon_client *c, struct waiter *w)
{
	struct pending *p;

	TAILQ_FOREACH(p, &c->pending, entry)
	if (p->arg == w) {
		TAILQ_REMOVE(&c->pending, p, entry);
		free(p);
		return;
	}
}

static int
wait_for(struct vmmon_client *c, struct waiter *w)
{
	uint64_t deadline = evloop_now_ns() + BLOCKING_TIMEOUT_NS;

	while (!w->done) {
		if (evloop_now_ns() >= deadline) {
			forget(c, w);
			return qb_seterr(
			    w->err, QB_E_DEADLINE, "vmmon did not answer");
		}
		if (evloop_run_once(c->loop, 1000) == -1 && errno != EINTR) {
			forget(c, w);
			return qb_seterr(w->err, QB_E_INTERNAL,
			    "event loop: %s", strerror(errno));
		}
	}
	return w->rc;
}

static int
call(struct vmmon_client *c, uint32_t type, const void *req, size_t len,
    void *res, size_t res_len, struct qb_error *err)
{
	struct waiter w = {.res = res, .res_len = res_len, .err = err};

	if (vmmon_request_async(c, type, req, len, wait_done, &w, err) == -1)
		return -1;
	return wait_for(c, &w);
}

int
vmmon_vm_start(struct vmmon_client *c, const struct vm_start_params *p,
    struct qb_vmm_start_res *res, struct qb_error *err)
{
	struct waiter w = {.res = res, .res_len = sizeof(*res), .err = err};

	if (vmmon_vm_start_async(c, p, wait_done, &w, err) == -1)
		return -1;
	return wait_for(c, &w);
}

int
vmmon_vm_status(
    struct vmmon_client *c, struct qb_vmm_status_res *res, struct qb_error *err)
{
	return call(c, IMSG_VMM_STATUS_REQ, NULL, 0, res, sizeof(*res), err);
}

int
vmmon_vm_pause(struct vmmon_client *c, struct qb_error *err)
{
	return call(c, IMSG_VMM_PAUSE_REQ, NULL, 0, NULL, 0, err);
}

int
vmmon_vm_resume(struct vmmon_client *c, struct qb_error *err)
{
	return call(c, IMSG_VMM_RESUME_REQ, NULL, 0, NULL, 0, err);
}

int
vmmon_vm_shutdown(
    struct vmmon_client *c, uint64_t timeout_ms, struct qb_error *err)
{
	struct qb_vmm_shutdown_req q = {.timeout_ms = timeout_ms};

	return call(c, IMSG_VMM_SHUTDOWN_REQ, &q, sizeof(q), NULL, 0, err);
}

int
vmmon_cpu_add(
    struct vmmon_client *c, struct qb_vmm_cpu_res *res, struct qb_error *err)
{
	return call(c, IMSG_VMM_CPU_ADD_REQ, NULL, 0, res, sizeof(*res), err);
}

int
vmmon_cpu_del(
    struct vmmon_client *c, struct qb_vmm_cpu_res *res, struct qb_error *err)
{
	return call(c, IMSG_VMM_CPU_DEL_REQ, NULL, 0, res, sizeof(*res), err);
}

int
vmmon_cpu_query(
    struct vmmon_client *c, struct qb_vmm_cpu_res *res, struct qb_error *err)
{
	return call(c, IMSG_VMM_CPU_QUERY_REQ, NULL, 0, res, sizeof(*res), err);
}

int
vmmon_mem_add(struct vmmon_client *c, uint64_t size_mb,
    struct qb_vmm_mem_res *res, struct qb_error *err)
{
	struct qb_vmm_mem_add_req q = {.size_mb = size_mb};

	return call(
	    c, IMSG_VMM_MEM_ADD_REQ, &q, sizeof(q), res, sizeof(*res), err);
}

int
vmmon_mem_del(
    struct vmmon_client *c, struct qb_vmm_mem_res *res, struct qb_error *err)
{
	return call(c, IMSG_VMM_MEM_DEL_REQ, NULL, 0, res, sizeof(*res), err);
}

int
vmmon_mem_query(
    struct vmmon_client *c, struct qb_vmm_mem_res *res, struct qb_error *err)
{
	return call(c, IMSG_VMM_MEM_QUERY_REQ, NULL, 0, res, sizeof(*res), err);
}

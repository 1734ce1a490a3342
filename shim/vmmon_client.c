/*
 * The typed stubs of qemubox-vmmon over the imsg client core
 * (shim/imsg_client.c): the request table, shim_dispatch_vmmon (events) and
 * one function per operation with its own signature.
 */
#include "shim/vmmon_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsg/imsg.h"
#include "lib/log.h"
#include "shim/imsg_client.h"

/* Bound on a blocking call; vmmon bounds each of its own steps. */
#define BLOCKING_TIMEOUT_MS (180ull * 1000)

/*
 * FD_REQs are staged under the START's peerid before it; DISK_ADD carries
 * its disk's fd itself.
 */
static const struct imsg_client_rpc vmmon_rpcs[] = {
    {.req_type = IMSG_VMM_START_REQ,
        .req_len = sizeof(struct qb_vmm_start_req),
        .res_type = IMSG_VMM_START_RES,
        .res_len = sizeof(struct qb_vmm_start_res),
        .staged_type = IMSG_VMM_FD_REQ},
    {.req_type = IMSG_VMM_STATUS_REQ,
        .res_type = IMSG_VMM_STATUS_RES,
        .res_len = sizeof(struct qb_vmm_status_res)},
    {.req_type = IMSG_VMM_PAUSE_REQ, .res_type = IMSG_VMM_PAUSE_RES},
    {.req_type = IMSG_VMM_RESUME_REQ, .res_type = IMSG_VMM_RESUME_RES},
    {.req_type = IMSG_VMM_SHUTDOWN_REQ,
        .req_len = sizeof(struct qb_vmm_shutdown_req),
        .res_type = IMSG_VMM_SHUTDOWN_RES},
    {.req_type = IMSG_VMM_CPU_ADD_REQ,
        .res_type = IMSG_VMM_CPU_RES,
        .res_len = sizeof(struct qb_vmm_cpu_res)},
    {.req_type = IMSG_VMM_CPU_DEL_REQ,
        .res_type = IMSG_VMM_CPU_RES,
        .res_len = sizeof(struct qb_vmm_cpu_res)},
    {.req_type = IMSG_VMM_CPU_QUERY_REQ,
        .res_type = IMSG_VMM_CPU_RES,
        .res_len = sizeof(struct qb_vmm_cpu_res)},
    {.req_type = IMSG_VMM_MEM_ADD_REQ,
        .req_len = sizeof(struct qb_vmm_mem_add_req),
        .res_type = IMSG_VMM_MEM_RES,
        .res_len = sizeof(struct qb_vmm_mem_res)},
    {.req_type = IMSG_VMM_MEM_DEL_REQ,
        .res_type = IMSG_VMM_MEM_RES,
        .res_len = sizeof(struct qb_vmm_mem_res)},
    {.req_type = IMSG_VMM_MEM_QUERY_REQ,
        .res_type = IMSG_VMM_MEM_RES,
        .res_len = sizeof(struct qb_vmm_mem_res)},
    {.req_type = IMSG_VMM_DISK_ADD_REQ,
        .req_len = sizeof(struct qb_vmm_disk_add_req),
        .req_fd = true,
        .res_type = IMSG_VMM_DISK_RES,
        .res_len = sizeof(struct qb_vmm_disk_res)},
    {.req_type = IMSG_VMM_DISK_DEL_REQ,
        .req_len = sizeof(struct qb_vmm_disk_del_req),
        .res_type = IMSG_VMM_DISK_RES,
        .res_len = sizeof(struct qb_vmm_disk_res)},
    {.req_type = IMSG_VMM_SAVE_REQ,
        .res_type = IMSG_VMM_SAVE_RES,
        .res_len = sizeof(struct qb_vmm_save_res)},
};

struct vmmon_client {
	struct imsg_client *ic;
	struct vmmon_events ev;
};

/* One request's reply callback. */
struct call {
	vmmon_reply_fn done;
	void *arg;
};

/* vmmon's events; everything else is an answer to a request. */
static int
shim_dispatch_vmmon(struct imsg_client *ic, struct imsg *imsg, void *arg)
{
	struct vmmon_client *c = arg;
	struct qb_vmm_exit_evt exit_ev;
	struct qb_vmm_guest_evt gev;

	switch (imsg_get_type(imsg)) {
	case IMSG_VMM_EXIT_EVT:
		if (imsg->fd != -1 ||
		    qb_imsg_get_struct(imsg, &exit_ev, sizeof(exit_ev)) == -1 ||
		    qb_imsg_check_strfield(
		        exit_ev.detail, sizeof(exit_ev.detail)) == -1) {
			log_warnx("%s: malformed EXIT_EVT", __func__);
			return -1;
		}
		if (c->ev.exited != NULL)
			c->ev.exited(c->ev.arg, &exit_ev);
		return 0;
	case IMSG_VMM_GUEST_EVT:
		if (imsg->fd != -1 ||
		    qb_imsg_get_struct(imsg, &gev, sizeof(gev)) == -1 ||
		    qb_imsg_check_strfield(gev.detail, sizeof(gev.detail)) ==
		        -1) {
			log_warnx("%s: malformed GUEST_EVT", __func__);
			return -1;
		}
		if (c->ev.guest_event != NULL)
			c->ev.guest_event(c->ev.arg, &gev);
		return 0;
	default:
		return imsg_client_answer(ic, imsg);
	}
}

static void
vmmon_lost(void *arg, const char *why)
{
	struct vmmon_client *c = arg;

	(void)why;
	if (c->ev.lost != NULL)
		c->ev.lost(c->ev.arg);
}

struct vmmon_client *
vmmon_client_new(struct evloop *loop, int fd, const struct vmmon_events *ev)
{
	struct imsg_client_peer peer = {
	    .name = "qemubox-vmmon",
	    .rpcs = vmmon_rpcs,
	    .n_rpcs = sizeof(vmmon_rpcs) / sizeof(vmmon_rpcs[0]),
	    .call_timeout_ms = BLOCKING_TIMEOUT_MS,
	    .dispatch = shim_dispatch_vmmon,
	    .lost = vmmon_lost,
	};
	struct vmmon_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ev = *ev;
	peer.arg = c;
	if ((c->ic = imsg_client_new(fd, &peer)) == NULL)
		goto fail;
	if (imsg_client_attach(c->ic, loop) == -1)
		goto fail;
	return c;
fail : {
	int saved = errno;

	imsg_client_free(c->ic, false);
	free(c);
	errno = saved;
}
	return NULL;
}

void
vmmon_client_free(struct vmmon_client *c)
{
	if (c == NULL)
		return;
	imsg_client_free(c->ic, true);
	free(c);
}

static void
call_done(
    void *arg, const void *res, size_t len, int fd, const struct qb_error *err)
{
	struct call *k = arg;

	(void)fd; /* no vmmon answer carries one */
	k->done(k->arg, res, len, err);
	free(k);
}

static int
request(struct vmmon_client *c, uint32_t type, const void *req, size_t len,
    const struct imsg_client_staged *staged, size_t n_staged,
    vmmon_reply_fn done, void *arg, struct qb_error *err)
{
	struct call *k;

	if ((k = malloc(sizeof(*k))) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "vmmon: out of memory");
	k->done = done;
	k->arg = arg;
	if (imsg_client_request(c->ic, type, req, len, staged, n_staged,
	        call_done, k, err) == -1) {
		free(k);
		return -1;
	}
	return 0;
}

int
vmmon_request_async(struct vmmon_client *c, uint32_t type, const void *req,
    size_t len, vmmon_reply_fn done, void *arg, struct qb_error *err)
{
	if (type == IMSG_VMM_START_REQ)
		return qb_seterr(err, QB_E_INTERNAL,
		    "vmmon: START goes through vmmon_vm_start_async");
	return request(c, type, req, len, NULL, 0, done, arg, err);
}

/* The START payload and its fds, one FD_REQ each, from p. */
struct start_msg {
	struct qb_vmm_start_req q;
	struct qb_vmm_fd fds[8 + QB_VMM_MAX_DISKS];
	struct imsg_client_staged staged[8 + QB_VMM_MAX_DISKS];
	size_t n;
};

static void
start_fd(struct start_msg *m, uint32_t role, uint32_t index, int fd)
{
	m->fds[m->n].role = role;
	m->fds[m->n].index = index;
	m->staged[m->n].data = &m->fds[m->n];
	m->staged[m->n].len = sizeof(m->fds[m->n]);
	m->staged[m->n].fd = fd;
	m->n++;
}

static int
start_msg(
    struct start_msg *m, const struct vm_start_params *p, struct qb_error *err)
{
	struct qb_vmm_start_req *q = &m->q;
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
	memset(m, 0, sizeof(*m));
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
	q->has_fs = p->fs_fd > 0;
	memcpy(q->mac, p->mac, sizeof(q->mac));
	q->ndisks = p->ndisks;
	for (i = 0; i < p->ndisks; i++) {
		q->disks[i].readonly = p->disks[i].readonly;
		snprintf(q->disks[i].serial, sizeof(q->disks[i].serial), "%s",
		    p->disks[i].serial ? p->disks[i].serial : "");
	}
	q->console_max_bytes = p->console_max_bytes;
	q->hotplug_disks = p->hotplug_disks ? 1 : 0;
	q->ram_mode = p->ram_mode;
	snprintf(
	    q->cmdline, sizeof(q->cmdline), "%s", p->cmdline ? p->cmdline : "");

	/* The fds go first, under the START's peerid; then the START. */
	start_fd(m, QB_VMM_FD_KERNEL, 0, p->kernel_fd);
	start_fd(m, QB_VMM_FD_INITRD, 0, p->initrd_fd);
	if (p->transport == QB_VMM_TRANSPORT_VIRTIO_SERIAL)
		start_fd(m, QB_VMM_FD_CHANNEL, 0, p->channel_fd);
	if (p->transport == QB_VMM_TRANSPORT_VSOCK)
		start_fd(m, QB_VMM_FD_VHOST_VSOCK, 0, p->vhost_vsock_fd);
	if (p->console_log_fd >= 0)
		start_fd(m, QB_VMM_FD_CONSOLE_LOG, 0, p->console_log_fd);
	if (p->tap_fd >= 0)
		start_fd(m, QB_VMM_FD_TAP, 0, p->tap_fd);
	if (p->fs_fd > 0)
		start_fd(m, QB_VMM_FD_VHOST_USER_FS, 0, p->fs_fd);
	for (i = 0; i < p->ndisks; i++)
		start_fd(m, QB_VMM_FD_DISK, i, p->disks[i].fd);
	if (p->ram_mode != QB_VMM_RAM_ANON) {
		start_fd(m, QB_VMM_FD_RAM, 0, p->ram_fd);
		start_fd(m, QB_VMM_FD_STATE, 0, p->state_fd);
	}
	return 0;
}

/* START, async (done != NULL) or blocking (into res). */
static int
vm_start(struct vmmon_client *c, const struct vm_start_params *p,
    vmmon_reply_fn done, void *arg, struct qb_vmm_start_res *res,
    struct qb_error *err)
{
	struct start_msg *m;
	int rc;

	if ((m = malloc(sizeof(*m))) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "out of memory");
	if ((rc = start_msg(m, p, err)) == 0 && done != NULL)
		rc = request(c, IMSG_VMM_START_REQ, &m->q, sizeof(m->q),
		    m->staged, m->n, done, arg, err);
	else if (rc == 0)
		rc = imsg_client_call(c->ic, IMSG_VMM_START_REQ, &m->q,
		    sizeof(m->q), m->staged, m->n, res, sizeof(*res), NULL,
		    err);
	free(m);
	return rc;
}

int
vmmon_vm_start_async(struct vmmon_client *c, const struct vm_start_params *p,
    vmmon_reply_fn done, void *arg, struct qb_error *err)
{
	return vm_start(c, p, done, arg, NULL, err);
}

/* The DISK_ADD payload from lun and d. */
static int
disk_add_msg(struct qb_vmm_disk_add_req *q, uint32_t lun,
    const struct vm_disk_param *d, struct qb_error *err)
{
	memset(q, 0, sizeof(*q));
	if (d->serial == NULL || d->serial[0] == '\0' ||
	    strlen(d->serial) >= QB_VMM_SERIAL_MAX || lun >= QB_VMM_MAX_LUNS ||
	    d->fd < 0)
		return qb_seterr(err, QB_E_INVALID,
		    "disk add: an fd, a serial (1..20 bytes) and a lun (< %d) "
		    "needed",
		    QB_VMM_MAX_LUNS);
	q->lun = lun;
	q->disk.readonly = d->readonly;
	snprintf(q->disk.serial, sizeof(q->disk.serial), "%s", d->serial);
	return 0;
}

int
vmmon_disk_add_async(struct vmmon_client *c, uint32_t lun,
    const struct vm_disk_param *d, vmmon_reply_fn done, void *arg,
    struct qb_error *err)
{
	struct qb_vmm_disk_add_req q;
	struct call *k;

	if (disk_add_msg(&q, lun, d, err) == -1)
		return -1;
	if ((k = malloc(sizeof(*k))) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "vmmon: out of memory");
	k->done = done;
	k->arg = arg;
	if (imsg_client_request_fd(c->ic, IMSG_VMM_DISK_ADD_REQ, &q, sizeof(q),
	        d->fd, call_done, k, err) == -1) {
		free(k);
		return -1;
	}
	return 0;
}

/* ---- blocking forms ---- */

static int
call(struct vmmon_client *c, uint32_t type, const void *req, size_t len,
    void *res, size_t res_len, struct qb_error *err)
{
	return imsg_client_call(
	    c->ic, type, req, len, NULL, 0, res, res_len, NULL, err);
}

int
vmmon_vm_start(struct vmmon_client *c, const struct vm_start_params *p,
    struct qb_vmm_start_res *res, struct qb_error *err)
{
	return vm_start(c, p, NULL, NULL, res, err);
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

int
vmmon_disk_add(struct vmmon_client *c, uint32_t lun,
    const struct vm_disk_param *d, struct qb_vmm_disk_res *res,
    struct qb_error *err)
{
	struct qb_vmm_disk_add_req q;

	if (disk_add_msg(&q, lun, d, err) == -1)
		return -1;
	return imsg_client_call_fd(c->ic, IMSG_VMM_DISK_ADD_REQ, &q, sizeof(q),
	    d->fd, res, sizeof(*res), err);
}

int
vmmon_disk_del(struct vmmon_client *c, uint32_t lun,
    struct qb_vmm_disk_res *res, struct qb_error *err)
{
	struct qb_vmm_disk_del_req q = {.lun = lun};

	return call(
	    c, IMSG_VMM_DISK_DEL_REQ, &q, sizeof(q), res, sizeof(*res), err);
}

int
vmmon_vm_save(
    struct vmmon_client *c, struct qb_vmm_save_res *res, struct qb_error *err)
{
	return call(c, IMSG_VMM_SAVE_REQ, NULL, 0, res, sizeof(*res), err);
}

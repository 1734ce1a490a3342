/*
 * The container half of the VM backend: each container of the sandbox
 * (struct vmb_ctr, the backend's table of them: b->ctrs) and its processes
 * (struct vmb_proc). A container owns its storage plan (shim/storage.c,
 * EROFS layers), its disks, its stdio relays and its guest processes. Its
 * Create:
 *
 *   spec + rootfs -> storage plan (shim/storage.c), checked against the VM
 *   layer images  -> EROFS cache, opened read-only   (async, mkfs.erofs)
 *   first container: the sandbox boots (vmb_boot, shim/vm_sandbox.c)
 *   a pod's later container: disks hot-added as SCSI LUNs, directory and
 *                    file binds joined to the running share
 *   container     -> guest Create (spec, layers, files, stdio streams)
 *
 * Every other operation on a container or process is forwarded to the
 * guest (forward, fwd_answer); Delete gives the container's LUNs and share
 * slots back.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "imsg/qemubox_imsg.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/path.h"
#include "proto/guest.pb-c.h"
#include "shim/fsd_client.h"
#include "shim/guest_client.h"
#include "shim/hotplug_policy.h"
#include "shim/oci_spec.h"
#include "shim/sandbox_hotplug.h"
#include "shim/stdio_relay.h"
#include "shim/storage.h"
#include "shim/storage_async.h"
#include "shim/storage_guest.h"
#include "shim/vm_backend_int.h"
#include "shim/vmmon_client.h"

/* A later (or a clone's) container's Create waits in the guest for its
 * hot-added disks. */
#define VMB_LATER_CREATE_TIMEOUT_MS 90000

struct vmb_ctr *
vmb_ctr_find(struct vmb *b, const char *id)
{
	struct vmb_ctr *c;

	TAILQ_FOREACH(c, &b->ctrs, entry)
	if (strcmp(c->id, id) == 0)
		return c;
	return NULL;
}

struct vmb_proc *
vmb_proc_find(struct vmb_ctr *c, const char *exec_id)
{
	struct vmb_proc *p;

	TAILQ_FOREACH(p, &c->procs, entry)
	if (strcmp(p->exec_id, exec_id) == 0)
		return p;
	return NULL;
}

static struct vmb_proc *
proc_new(struct vmb_ctr *c, const char *exec_id)
{
	struct vmb_proc *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->ctr = c;
	snprintf(p->exec_id, sizeof(p->exec_id), "%s", exec_id);
	TAILQ_INSERT_TAIL(&c->procs, p, entry);
	return p;
}

static void
proc_free(struct vmb_proc *p)
{
	TAILQ_REMOVE(&p->ctr->procs, p, entry);
	if (p->relay != NULL)
		stdio_relay_free(p->relay);
	free(p);
}

static void
lun_removed(void *arg, const void *res, size_t len, const struct qb_error *err)
{
	struct vmb *b = arg;
	const struct qb_vmm_disk_res *r = res;

	if (res == NULL || len != sizeof(*r)) {
		log_warnx("%s: disk removal: %s", __func__,
		    err != NULL ? err->msg : "bad answer");
		return;
	}
	if (r->lun < QB_VMM_MAX_LUNS)
		b->lun_used[r->lun] = false;
}

/*
 * A later container's disks leave the VM (device_del, blockdev-del,
 * remove-fd in vmmon); its LUNs are free again once vmmon says so. The
 * guest unmounted them when it deleted the container.
 */
static void
ctr_remove_disks(struct vmb_ctr *c)
{
	struct vmb *b = c->b;
	struct qb_vmm_disk_del_req q;
	struct qb_error err;
	size_t i;

	for (i = 0; i < c->n_luns; i++) {
		memset(&q, 0, sizeof(q));
		q.lun = c->luns[i];
		if (b->vm == NULL || b->qemu_pid <= 0 ||
		    vmmon_request_async(b->vm, IMSG_VMM_DISK_DEL_REQ, &q,
		        sizeof(q), lun_removed, b, &err) == -1)
			b->lun_used[q.lun] = false;
	}
	c->n_luns = 0;
}

/*
 * A later container's binds leave the VM's share (the guest let go of them
 * when it deleted the container); the slots are free again.
 */
static void
ctr_remove_volumes(struct vmb_ctr *c)
{
	struct vmb *b = c->b;
	struct qb_error err = {0};
	size_t i;

	for (i = 0; i < c->n_slots; i++) {
		if (fsd_client_del(
		        b->fsd_fd, b->sandbox_id, c->slots[i], &err) == -1)
			log_warnx("%s: %s: volume slot %u: %s", __func__, c->id,
			    c->slots[i], err.msg);
		b->fs_used &= ~(1ULL << c->slots[i]);
	}
	c->n_slots = 0;
}

/*
 * A later container's binds (directories and files) join the running VM's
 * share, each at a free spare slot (fsd mounts it where virtiofsd serves
 * it); the spec then points at the slot. Undone by ctr_remove_volumes.
 */
static int
ctr_join_volumes(struct vmb_ctr *c, struct qb_error *err)
{
	struct vmb *b = c->b;
	struct storage_volume *v;
	uint32_t slot;
	size_t i;

	for (i = 0; i < c->plan.n_volumes; i++) {
		v = &c->plan.volumes[i];
		for (slot = b->fs_first_spare; slot < QB_FS_MAX_VOLUMES; slot++)
			if ((b->fs_used & (1ULL << slot)) == 0)
				break;
		if (slot == QB_FS_MAX_VOLUMES)
			return qb_seterr(err, QB_E_EXHAUSTED,
			    "container %s: bind %s: all %d volume slots of the "
			    "pod's VM are in use",
			    c->id, v->dest, QB_FS_MAX_VOLUMES);
		if (fsd_client_add(b->fsd_fd, b->sandbox_id, slot, v->readonly,
		        v->source, err) == -1)
			return qb_preferr(
			    err, "container %s: bind %s", c->id, v->dest);
		b->fs_used |= 1ULL << slot;
		c->slots[c->n_slots++] = slot;
		/* fsd serves a file at <slot>/QB_FS_FILE_NAME. */
		snprintf(v->guest_path, sizeof(v->guest_path), "%s/%u%s",
		    STORAGE_GUEST_VOLUMES_DIR, slot,
		    v->is_file ? "/" QB_FS_FILE_NAME : "");
	}
	return 0;
}

void
vmb_ctr_free(struct vmb_ctr *c)
{
	struct vmb_proc *p;

	ctr_remove_disks(c);
	ctr_remove_volumes(c);
	while ((p = TAILQ_FIRST(&c->procs)) != NULL)
		proc_free(p);
	storage_plan_free(&c->plan);
	TAILQ_REMOVE(&c->b->ctrs, c, entry);
	free(c);
}

/* ---- answering the Task service ------------------------------------- */

void
vmb_done_err(backend_done_fn done, void *arg, int code, const char *fmt, ...)
{
	struct qb_error err = {0};
	va_list ap;

	va_start(ap, fmt);
	qb_vseterr(&err, code, fmt, ap);
	va_end(ap);
	done(arg, NULL, &err);
}

void
vmb_done_ok(backend_done_fn done, void *arg, uint32_t pid)
{
	struct backend_result res = {.pid = pid};

	done(arg, &res, NULL);
}

/* A guest call's answer, passed through to the Task service. */
struct vmb_fwd {
	struct vmb *b;
	backend_done_fn done;
	void *arg;
	char id[128];
	char exec_id[128];
	int kind;
};

enum {
	FWD_PLAIN,
	FWD_START,
	FWD_DELETE,
	FWD_PIDS,
	FWD_STATS,
	FWD_EXEC,
	FWD_SIGKILL
};

static struct vmb_fwd *
fwd_new(struct vmb *b, int kind, const char *id, const char *exec_id,
    backend_done_fn done, void *arg)
{
	struct vmb_fwd *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->b = b;
	f->kind = kind;
	f->done = done;
	f->arg = arg;
	snprintf(f->id, sizeof(f->id), "%s", id ? id : "");
	snprintf(f->exec_id, sizeof(f->exec_id), "%s", exec_id ? exec_id : "");
	return f;
}

static void
fwd_answer(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	struct vmb_fwd *f = arg;
	struct backend_result res = {0};
	struct vmb_ctr *c;
	struct vmb_proc *p;
	uint32_t *pids = NULL;
	size_t i;

	(void)gc;
	if (err != NULL && err->code == QB_E_DEADLINE &&
	    f->kind == FWD_SIGKILL) {
		/*
		 * SIGKILL cannot be refused; a guest that does not even answer
		 * it is hung or hostile, and killing its VM is the one way left
		 * to honour it: the Kill succeeds, every process exits 137.
		 */
		f->done(f->arg, &res, NULL);
		vmb_vm_dead(f->b, "the guest did not answer a SIGKILL in time");
		free(f);
		return;
	}
	if (err != NULL && err->code != QB_E_OK) {
		/* An exec the guest refused never existed. */
		if (f->kind == FWD_EXEC &&
		    (c = vmb_ctr_find(f->b, f->id)) != NULL &&
		    (p = vmb_proc_find(c, f->exec_id)) != NULL)
			proc_free(p);
		/*
		 * An exec that did not start writes nothing: close its FIFOs
		 * now, or the client (ctr, CRI) waits for their EOF before it
		 * even reports the error, and would until the exec's Delete it
		 * has not sent yet (as the runc shim: its IO closes at once).
		 */
		if (f->kind == FWD_START && f->exec_id[0] != '\0' &&
		    (c = vmb_ctr_find(f->b, f->id)) != NULL &&
		    (p = vmb_proc_find(c, f->exec_id)) != NULL &&
		    p->relay != NULL) {
			stdio_relay_free(p->relay);
			p->relay = NULL;
		}
		f->done(f->arg, NULL, err);
		free(f);
		return;
	}
	switch (f->kind) {
	case FWD_START: {
		const Qemubox__Guest__V1__StartResponse *r = (const void *)resp;
		res.pid = r != NULL ? r->pid : 0;
		if ((c = vmb_ctr_find(f->b, f->id)) != NULL &&
		    (p = vmb_proc_find(c, f->exec_id)) != NULL)
			p->pid = res.pid;
		break;
	}
	case FWD_DELETE: {
		const Qemubox__Guest__V1__DeleteResponse *r =
		    (const void *)resp;
		res.pid = r != NULL ? r->pid : 0;
		break;
	}
	case FWD_PIDS: {
		const Qemubox__Guest__V1__PidsResponse *r = (const void *)resp;
		if (r != NULL && r->n_processes > 0) {
			pids = calloc(r->n_processes, sizeof(*pids));
			if (pids == NULL) {
				vmb_done_err(f->done, f->arg, QB_E_INTERNAL,
				    "pids: out of memory");
				free(f);
				return;
			}
			for (i = 0; i < r->n_processes; i++)
				pids[i] = r->processes[i]->pid;
			res.pids = pids;
			res.n_pids = r->n_processes;
		}
		break;
	}
	case FWD_STATS: {
		const Qemubox__Guest__V1__StatsResponse *r = (const void *)resp;
		res.stats_type_url = "io.containerd.cgroups.v2.Metrics";
		if (r != NULL) {
			res.stats = r->metrics.data;
			res.stats_len = r->metrics.len;
		}
		break;
	}
	default:
		break;
	}
	f->done(f->arg, &res, NULL);
	free(pids);
	free(f);
}

/* Forward a call to the guest, or answer why it cannot go there. */
static void
forward(struct vmb *b, int kind, const char *id, const char *exec_id,
    const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *resp_desc, backend_done_fn done,
    void *arg)
{
	struct vmb_fwd *f;

	if (b->state != VM_READY || b->gc == NULL) {
		vmb_done_err(done, arg, QB_E_PRECONDITION,
		    "%s: the sandbox VM is not running", method);
		return;
	}
	if (id != NULL && vmb_ctr_find(b, id) == NULL) {
		vmb_done_err(
		    done, arg, QB_E_NOTFOUND, "container %s not created", id);
		return;
	}
	if ((f = fwd_new(b, kind, id, exec_id, done, arg)) == NULL) {
		vmb_done_err(
		    done, arg, QB_E_INTERNAL, "%s: out of memory", method);
		return;
	}
	if (guest_call(b->gc, method, req, resp_desc, VMB_CALL_TIMEOUT_MS,
	        fwd_answer, f) == -1) {
		free(f);
		vmb_done_err(done, arg, QB_E_UNAVAILABLE,
		    "%s: guest channel: %s", method, strerror(errno));
	}
}

/* ---- Create ------------------------------------------------------- */

static void
create_free(struct vmb_create *cr)
{
	if (cr->prep != NULL)
		storage_prepare_cancel(cr->prep);
	if (cr->spec != NULL)
		json_object_put(cr->spec);
	if (cr->relay != NULL)
		stdio_relay_free(cr->relay);
	if (cr->vsock_retry != NULL)
		evloop_timer_del(cr->vsock_retry);
	if (cr->b->creating == cr)
		cr->b->creating = NULL;
	free(cr);
}

/* Undo in reverse: VM, network, disks; then answer. */
void
vmb_create_fail(struct vmb_create *cr, const struct qb_error *err)
{
	log_warnx("%s: create %s: %s", __func__, cr->ctr->id, err->msg);
	/*
	 * ConfigureNetwork and the guest Create may both be in flight (and
	 * SetIdentity's answer with them): none may call back into cr.
	 */
	if (cr->b->gc != NULL)
		guest_client_cancel(cr->b->gc, cr);
	if (cr->ctr->later) {
		/* The VM and the pod's other containers stay. */
		cr->done(cr->arg, NULL, err);
		vmb_ctr_free(cr->ctr);
		create_free(cr);
		return;
	}
	vmb_boot_undo(cr->b);
	cr->done(cr->arg, NULL, err);
	vmb_ctr_free(cr->ctr);
	create_free(cr);
}

void
vmb_create_failf(struct vmb_create *cr, int code, const char *fmt, ...)
{
	struct qb_error err = {0};
	va_list ap;

	va_start(ap, fmt);
	qb_vseterr(&err, code, fmt, ap);
	va_end(ap);
	vmb_create_fail(cr, &err);
}

static void later_add_disk(struct vmb_create *cr);

static void
later_disk_added(
    void *arg, const void *resp, size_t len, const struct qb_error *err)
{
	struct vmb_create *cr = arg;
	const struct qb_vmm_disk_res *r = resp;

	if (r == NULL || len != sizeof(*r)) {
		if (cr->ctr->n_luns < QB_VMM_MAX_LUNS)
			cr->b->lun_used[cr->ctr->luns[cr->ctr->n_luns]] = false;
		vmb_create_fail(cr, err);
		return;
	}
	cr->ctr->n_luns++;
	cr->next_disk++;
	later_add_disk(cr);
}

/* The next disk of a later container into the running VM, then Create. */
static void
later_add_disk(struct vmb_create *cr)
{
	struct vmb *b = cr->b;
	struct storage_disk *d;
	struct vm_disk_param dp;
	struct qb_error err = {0};
	uint32_t lun;

	if (cr->next_disk == cr->ctr->plan.n_disks) {
		if (cr->ctr->later)
			cr->t_vm = cr->t_ready = vmb_ms_since(&cr->t0);
		vmb_create_guest_container(cr);
		return;
	}
	if (b->state != VM_READY || b->vm == NULL) {
		vmb_create_failf(
		    cr, QB_E_PRECONDITION, "the sandbox VM is not running");
		return;
	}
	for (lun = 0; lun < QB_VMM_MAX_LUNS && b->lun_used[lun]; lun++)
		;
	if (lun == QB_VMM_MAX_LUNS) {
		vmb_create_failf(cr, QB_E_EXHAUSTED,
		    "container %s: all %d disk slots of the pod's VM are in "
		    "use",
		    cr->ctr->id, QB_VMM_MAX_LUNS);
		return;
	}
	d = &cr->ctr->plan.disks[cr->next_disk];
	dp.fd = d->fd;
	dp.readonly = d->role != STORAGE_DISK_SCRATCH;
	dp.serial = d->serial;
	b->lun_used[lun] = true;
	cr->ctr->luns[cr->ctr->n_luns] = lun;
	if (vmmon_disk_add_async(b->vm, lun, &dp, later_disk_added, cr, &err) ==
	    -1) {
		b->lun_used[lun] = false;
		vmb_create_fail(cr, &err);
	}
}

static void
disks_ready(struct storage_plan *plan, const struct qb_error *err, void *arg)
{
	struct vmb_create *cr = arg;

	(void)plan;
	cr->prep = NULL;
	if (err != NULL) {
		vmb_create_fail(cr, err);
		return;
	}
	cr->t_disks = vmb_ms_since(&cr->t0);
	if (cr->ctr->later) {
		later_add_disk(cr);
		return;
	}
	vmb_boot(cr);
}

static void
guest_create_done(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	struct vmb_create *cr = arg;
	const Qemubox__Guest__V1__CreateResponse *r = (const void *)resp;
	struct vmb_proc *p;

	(void)gc;
	if (err != NULL && err->code != QB_E_OK) {
		vmb_create_fail(cr, err);
		return;
	}
	cr->t_guest = vmb_ms_since(&cr->t0);
	p = TAILQ_FIRST(&cr->ctr->procs);
	p->pid = r != NULL ? r->pid : 0;
	p->relay = cr->relay;
	cr->relay = NULL;
	cr->guest_created = true;
	if (cr->create_early && !cr->net_configured)
		return; /* guest_net_done() answers */
	vmb_create_done(cr);
}

void
vmb_create_done(struct vmb_create *cr)
{
	struct vmb_proc *p = TAILQ_FIRST(&cr->ctr->procs);
	uint64_t t_done = vmb_ms_since(&cr->t0);

	log_info("%s: %s created, pid %u; ms since Create: disks %llu, "
	         "network %llu, vm %llu, guest ready %llu, container %llu, "
	         "cni done %llu",
	    __func__, cr->ctr->id, p->pid, (unsigned long long)cr->t_disks,
	    (unsigned long long)cr->t_net, (unsigned long long)cr->t_vm,
	    (unsigned long long)cr->t_ready, (unsigned long long)t_done,
	    (unsigned long long)cr->t_wired);
	if (cr->create_early)
		log_info("%s: %s: the guest Create (answered at %llu ms) went "
		         "alongside ConfigureNetwork",
		    __func__, cr->ctr->id, (unsigned long long)cr->t_guest);
	/* The VM now runs what it was made for: from here it may grow. */
	if (cr->b->hp == NULL)
		cr->b->hp = vmb_hotplug_start(cr->b, &cr->size);
	vmb_done_ok(cr->done, cr->arg, p->pid);
	create_free(cr);
}

/*
 * The VM is ready for the container: the guest Create. A clone's first
 * container has its disks already (LUNs vmmon attached with START, their
 * plain serials); the guest waits for its SCSI scan to list them.
 */
void
vmb_create_guest_container(struct vmb_create *cr)
{
	struct vmb *b = cr->b;
	struct storage_plan *plan = &cr->ctr->plan;
	Qemubox__Guest__V1__CreateRequest req;
	Qemubox__Guest__V1__Stdio stdio;
	struct storage_guest_create keep = {0};
	struct qb_error err = {0};
	const char *spec_str;

	qemubox__guest__v1__create_request__init(&req);
	qemubox__guest__v1__stdio__init(&stdio);
	if (storage_spec_rewrite(cr->spec, plan, &err) == -1 ||
	    storage_guest_create_fill(plan, &req, &keep, &err) == -1) {
		vmb_create_fail(cr, &err);
		return;
	}
	spec_str =
	    json_object_to_json_string_ext(cr->spec, JSON_C_TO_STRING_PLAIN);
	req.id = cr->ctr->id;
	req.spec.data = (uint8_t *)(uintptr_t)spec_str;
	req.spec.len = strlen(spec_str);
	cr->relay = stdio_relay_new(b->env.loop, b->gc, cr->req->io.stdin_path,
	    cr->req->io.stdout_path, cr->req->io.stderr_path,
	    cr->req->io.terminal, &err);
	if (cr->relay == NULL)
		goto fail;
	stdio_relay_ids(cr->relay, &stdio.stdin, &stdio.stdout, &stdio.stderr);
	stdio.terminal = cr->req->io.terminal;
	req.stdio = &stdio;
	if (guest_call(b->gc, "Create", &req.base,
	        &qemubox__guest__v1__create_response__descriptor,
	        cr->ctr->later || b->cloned ? VMB_LATER_CREATE_TIMEOUT_MS
	                                    : VMB_CALL_TIMEOUT_MS,
	        guest_create_done, cr) == -1) {
		qb_seterr(&err, QB_E_UNAVAILABLE, "guest Create: %s",
		    strerror(errno));
		goto fail;
	}
	storage_guest_create_free(&keep);
	return;
fail:
	storage_guest_create_free(&keep);
	vmb_create_fail(cr, &err);
}

/*
 * What the plan needs of the VM, before any disk is built: the first
 * container's disks all go on the boot command line, a later container's
 * into free SCSI LUNs; volumes need the volume helper.
 */
static int
plan_fits(const struct vmb_create *cr, struct qb_error *err)
{
	const struct vmb *b = cr->b;
	const struct storage_plan *plan = &cr->ctr->plan;
	size_t free_luns = 0, i;

	if (!cr->ctr->later) {
		if (plan->n_disks > QB_VMM_MAX_DISKS)
			return qb_seterr(err, QB_E_RANGE,
			    "container %s needs %zu disks (layers, binds, "
			    "scratch); a VM boots with at most %d",
			    cr->ctr->id, plan->n_disks, QB_VMM_MAX_DISKS);
		if (plan->n_volumes > QB_FS_MAX_VOLUMES)
			return qb_seterr(err, QB_E_RANGE,
			    "container %s has %zu volumes; at most %d",
			    cr->ctr->id, plan->n_volumes, QB_FS_MAX_VOLUMES);
		if (plan->n_volumes > 0 && b->fsd_fd < 0)
			return qb_seterr(err, QB_E_PRECONDITION,
			    "container %s has bind mounts but the volume "
			    "helper qemubox-fsd is not running",
			    cr->ctr->id);
		return 0;
	}
	for (i = 0; i < QB_VMM_MAX_LUNS; i++)
		if (!b->lun_used[i])
			free_luns++;
	if (plan->n_disks > free_luns)
		return qb_seterr(err, QB_E_EXHAUSTED,
		    "container %s needs %zu disks; the pod's VM has %zu of "
		    "its %d disk slots free",
		    cr->ctr->id, plan->n_disks, free_luns, QB_VMM_MAX_LUNS);
	return 0;
}

/*
 * The container's storage plan, then its disks (async). A later container's
 * disk serials get a per-container prefix: the VM already has disks named
 * like its own.
 */
static void
create_storage(struct vmb_create *cr, const struct backend_create_req *req)
{
	struct vmb *b = cr->b;
	struct vmb_ctr *c = cr->ctr;
	struct storage_mount *mounts = NULL;
	struct storage_opts so = {0};
	struct qb_error err = {0};
	char scratch[PATH_MAX], serial[STORAGE_SERIAL_LEN + 1];
	size_t i;
	int n;

	so.scratch_bytes = b->cfg.storage.scratch_size_mb << 20;
	if (so.scratch_bytes > 0 &&
	    qb_path_join(scratch, sizeof(scratch), b->cfg.paths.share_dir,
	        STORAGE_SCRATCH_TEMPLATE) == -1) {
		vmb_create_failf(cr, QB_E_INVALID, "paths.share_dir: too long");
		return;
	}
	so.scratch_template = scratch;
	so.scratch_dir = b->cfg.paths.state_dir;

	if (req->n_rootfs > 0 &&
	    (mounts = calloc(req->n_rootfs, sizeof(*mounts))) == NULL) {
		vmb_create_failf(cr, QB_E_INTERNAL, "out of memory");
		return;
	}
	for (i = 0; i < req->n_rootfs; i++) {
		mounts[i].type = req->rootfs[i].type;
		mounts[i].source = req->rootfs[i].source;
		mounts[i].target = req->rootfs[i].target;
		mounts[i].options = req->rootfs[i].options;
		mounts[i].n_options = req->rootfs[i].n_options;
	}
	so.bundle = req->bundle;
	so.no_volumes = c->later;
	so.later_share = c->later && b->fs_spare;
	if (storage_plan_build(
	        mounts, req->n_rootfs, cr->spec, &so, &c->plan, &err) == -1) {
		free(mounts);
		vmb_create_fail(cr, &err);
		return;
	}
	free(mounts);
	if (plan_fits(cr, &err) == -1 ||
	    (c->later && ctr_join_volumes(c, &err) == -1)) {
		vmb_create_fail(cr, &err);
		return;
	}
	if (c->later) {
		b->later_seq++;
		for (i = 0; i < c->plan.n_disks; i++) {
			n = snprintf(serial, sizeof(serial), "p%u-%s",
			    b->later_seq, c->plan.disks[i].serial);
			if (n < 0 || (size_t)n >= sizeof(serial)) {
				vmb_create_failf(cr, QB_E_INTERNAL,
				    "disk serial %s: too long with its prefix",
				    c->plan.disks[i].serial);
				return;
			}
			memcpy(c->plan.disks[i].serial, serial, sizeof(serial));
		}
	}
	cr->prep = storage_plan_prepare_async(
	    &c->plan, &b->lc, b->env.loop, disks_ready, cr, &err);
	if (cr->prep == NULL)
		vmb_create_fail(cr, &err);
}

void
vmb_create(void *st, const struct backend_create_req *req, backend_done_fn done,
    void *arg)
{
	struct vmb *b = st;
	struct vmb_create *cr;
	struct vmb_ctr *c;
	struct qb_error err = {0};
	char path[PATH_MAX];

	if (vmb_ctr_find(b, req->id) != NULL) {
		vmb_done_err(done, arg, QB_E_EXISTS,
		    "container %s already exists", req->id);
		return;
	}
	if (req->checkpoint != NULL && req->checkpoint[0] != '\0') {
		vmb_done_err(done, arg, QB_E_UNIMPLEMENTED,
		    "checkpoint/restore is not supported by qemubox");
		return;
	}
	if (b->creating != NULL) {
		vmb_done_err(done, arg, QB_E_UNAVAILABLE,
		    "container %s: another container of sandbox %s is being "
		    "created; retry",
		    req->id, b->sandbox_id);
		return;
	}
	if (b->state != VM_NONE && (b->state != VM_READY || !b->pod)) {
		vmb_done_err(done, arg, QB_E_PRECONDITION,
		    "container %s: sandbox %s %s", req->id, b->sandbox_id,
		    b->state != VM_READY
		        ? "VM is not running"
		        : "is not a CRI pod (one container per VM)");
		return;
	}
	if (b->vm == NULL) {
		vmb_done_err(done, arg, QB_E_PRECONDITION,
		    "VM monitor qemubox-vmmon is not running");
		return;
	}
	if ((cr = calloc(1, sizeof(*cr))) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		free(cr);
		vmb_done_err(done, arg, QB_E_INTERNAL, "out of memory");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &cr->t0);
	c->b = b;
	c->later = b->state == VM_READY;
	snprintf(c->id, sizeof(c->id), "%s", req->id);
	snprintf(c->bundle, sizeof(c->bundle), "%s", req->bundle);
	TAILQ_INIT(&c->procs);
	TAILQ_INSERT_TAIL(&b->ctrs, c, entry);
	cr->b = b;
	cr->ctr = c;
	cr->req = req;
	cr->done = done;
	cr->arg = arg;
	b->creating = cr;
	if (proc_new(c, "") == NULL) {
		vmb_create_failf(cr, QB_E_INTERNAL, "out of memory");
		return;
	}

	/*
	 * Everything a Create can check comes before layers, CNI or a boot:
	 * the spec here (ids, sandbox, netns, pod size), the mounts and
	 * disk counts in create_storage.
	 */
	snprintf(path, sizeof(path), "%s/config.json", req->bundle);
	if ((cr->spec = json_object_from_file(path)) == NULL) {
		vmb_create_failf(cr, QB_E_INVALID, "read OCI spec %s: %s", path,
		    json_util_get_last_err());
		return;
	}
	if (oci_spec_info(cr->spec, req->id, &cr->si, &err) == -1) {
		qb_preferr(&err, "container %s", req->id);
		vmb_create_fail(cr, &err);
		return;
	}
	if (strlen(cr->si.netns) >= QB_NETNS_PATH_MAX) {
		vmb_create_failf(cr, QB_E_INVALID,
		    "container %s: network namespace path over %d bytes",
		    req->id, QB_NETNS_PATH_MAX - 1);
		return;
	}
	if (c->later) {
		if (strcmp(cr->si.sandbox_id, b->sandbox_id) != 0) {
			vmb_create_failf(cr, QB_E_INVALID,
			    "container %s belongs to sandbox %s, this VM is "
			    "sandbox %s",
			    req->id, cr->si.sandbox_id, b->sandbox_id);
			return;
		}
		create_storage(cr, req);
		return;
	}
	if (oci_spec_vm_size(&b->cfg, &cr->si, &cr->size, &err) == -1) {
		qb_preferr(&err, "container %s", req->id);
		vmb_create_fail(cr, &err);
		return;
	}
	snprintf(b->sandbox_id, sizeof(b->sandbox_id), "%s", cr->si.sandbox_id);
	b->pod = cr->si.kind == OCI_KIND_CRI_SANDBOX;
	if (qb_path_join(b->log_dir, sizeof(b->log_dir), b->cfg.paths.log_dir,
	        req->id) == -1) {
		vmb_create_failf(
		    cr, QB_E_INVALID, "log dir for %s: path too long", req->id);
		return;
	}
	if (mkdir(b->cfg.paths.log_dir, 0750) == -1 && errno != EEXIST) {
		vmb_create_failf(cr, QB_E_INTERNAL, "mkdir %s: %s",
		    b->cfg.paths.log_dir, strerror(errno));
		return;
	}
	if (mkdir(b->log_dir, 0750) == -1 && errno != EEXIST) {
		vmb_create_failf(cr, QB_E_INTERNAL, "mkdir %s: %s", b->log_dir,
		    strerror(errno));
		return;
	}

	create_storage(cr, req);
}

/* ---- the other operations: forwarded to the guest ------------------- */

void
vmb_start(void *st, const char *id, const char *exec_id, backend_done_fn done,
    void *arg)
{
	Qemubox__Guest__V1__StartRequest req;

	qemubox__guest__v1__start_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	req.exec_id = (char *)(uintptr_t)exec_id;
	forward(st, FWD_START, id, exec_id, "Start", &req.base,
	    &qemubox__guest__v1__start_response__descriptor, done, arg);
}

static void delete_answer(
    void *arg, const struct backend_result *res, const struct qb_error *err);

struct vmb_del {
	struct vmb *b;
	char id[128], exec_id[128];
	backend_done_fn done;
	void *arg;
};

static void
delete_answer(
    void *arg, const struct backend_result *res, const struct qb_error *err)
{
	struct vmb_del *d = arg;
	struct vmb *b = d->b;
	struct vmb_ctr *c;
	struct vmb_proc *p;

	/*
	 * A guest that is still there and refused keeps the process, so
	 * containerd may retry. A guest that died with the call pending
	 * (QEMU killed, e.g. by its cgroup's OOM killer) fails it before
	 * vmb_vm_dead has run: the process is gone with the VM, so the
	 * Delete succeeds, or containerd would never get to Shutdown.
	 */
	if (err != NULL && err->code != QB_E_NOTFOUND && b->state == VM_READY &&
	    b->gc != NULL && guest_client_ready(b->gc)) {
		d->done(d->arg, NULL, err);
		free(d);
		return;
	}
	if (err != NULL && err->code != QB_E_NOTFOUND)
		log_info("%s: %s/%s: %s; the VM is gone, so is the process",
		    __func__, d->id, d->exec_id, err->msg);
	if ((c = vmb_ctr_find(b, d->id)) != NULL) {
		if (d->exec_id[0] == '\0')
			vmb_ctr_free(c);
		else if ((p = vmb_proc_find(c, d->exec_id)) != NULL)
			proc_free(p);
	}
	d->done(d->arg, res, NULL);
	free(d);
}

/* The guest's part of a Delete answered already (vmb_delete). */
static void
delete_behind(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	(void)gc;
	(void)resp;
	(void)arg;
	if (err != NULL && err->code != QB_E_OK)
		log_warnx("%s: the guest's Delete (answered before it): %s",
		    __func__, err->msg);
}

void
vmb_delete(void *st, const char *id, const char *exec_id, backend_done_fn done,
    void *arg)
{
	struct vmb *b = st;
	Qemubox__Guest__V1__DeleteRequest req;
	struct vmb_del *d;

	qemubox__guest__v1__delete_request__init(&req);
	if (vmb_ctr_find(b, id) == NULL) {
		vmb_done_err(
		    done, arg, QB_E_NOTFOUND, "container %s not created", id);
		return;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		vmb_done_err(done, arg, QB_E_INTERNAL, "out of memory");
		return;
	}
	d->b = b;
	d->done = done;
	d->arg = arg;
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->exec_id, sizeof(d->exec_id), "%s", exec_id);
	if (b->state != VM_READY) {
		/* Nothing left to ask the guest: forget it here. */
		delete_answer(d, NULL, NULL);
		return;
	}
	req.id = (char *)(uintptr_t)id;
	req.exec_id = (char *)(uintptr_t)exec_id;
	/*
	 * The container of a sandbox that is not a pod: the VM is its alone
	 * (no other Create comes to it) and Shutdown, which follows, stops
	 * it. The guest's cleanup (crun delete: 0.1-0.3 s under TCG) runs
	 * all the same, but does not hold the answer; a failure of it is
	 * logged, and what it would have left goes with the VM. The task
	 * service only deletes an init that exited or never started.
	 */
	if (!b->pod && exec_id[0] == '\0' && b->gc != NULL &&
	    guest_call(b->gc, "Delete", &req.base,
	        &qemubox__guest__v1__delete_response__descriptor,
	        VMB_CALL_TIMEOUT_MS, delete_behind, NULL) == 0) {
		log_debug("%s: %s: the guest deletes it as the VM goes",
		    __func__, id);
		delete_answer(d, &(struct backend_result){0}, NULL);
		return;
	}
	log_debug("%s: %s/%s: asking the guest", __func__, id, exec_id);
	forward(b, FWD_DELETE, id, exec_id, "Delete", &req.base,
	    &qemubox__guest__v1__delete_response__descriptor, delete_answer, d);
}

void
vmb_exec(void *st, const struct backend_exec_req *req, backend_done_fn done,
    void *arg)
{
	struct vmb *b = st;
	Qemubox__Guest__V1__ExecRequest gr;
	Qemubox__Guest__V1__Stdio stdio;
	struct qb_error err = {0};
	struct vmb_ctr *c;
	struct vmb_proc *p;

	qemubox__guest__v1__exec_request__init(&gr);
	qemubox__guest__v1__stdio__init(&stdio);
	if ((c = vmb_ctr_find(b, req->id)) == NULL) {
		vmb_done_err(done, arg, QB_E_NOTFOUND,
		    "container %s not created", req->id);
		return;
	}
	if (vmb_proc_find(c, req->exec_id) != NULL) {
		vmb_done_err(done, arg, QB_E_EXISTS, "exec %s already exists",
		    req->exec_id);
		return;
	}
	if (b->state != VM_READY) {
		vmb_done_err(done, arg, QB_E_PRECONDITION,
		    "the sandbox VM is not running");
		return;
	}
	if ((p = proc_new(c, req->exec_id)) == NULL) {
		vmb_done_err(done, arg, QB_E_INTERNAL, "out of memory");
		return;
	}
	p->relay = stdio_relay_new(b->env.loop, b->gc, req->io.stdin_path,
	    req->io.stdout_path, req->io.stderr_path, req->io.terminal, &err);
	if (p->relay == NULL) {
		proc_free(p);
		done(arg, NULL, &err);
		return;
	}
	stdio_relay_ids(p->relay, &stdio.stdin, &stdio.stdout, &stdio.stderr);
	stdio.terminal = req->io.terminal;
	gr.id = (char *)(uintptr_t)req->id;
	gr.exec_id = (char *)(uintptr_t)req->exec_id;
	gr.process.data = (uint8_t *)(uintptr_t)req->spec;
	gr.process.len = req->spec_len;
	gr.stdio = &stdio;
	forward(b, FWD_EXEC, req->id, req->exec_id, "Exec", &gr.base, NULL,
	    done, arg);
}

void
vmb_kill(void *st, const char *id, const char *exec_id, uint32_t sig, bool all,
    backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__KillRequest req;

	qemubox__guest__v1__kill_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	req.exec_id = (char *)(uintptr_t)exec_id;
	req.signal = sig;
	req.all = all;
	forward(st, sig == SIGKILL ? FWD_SIGKILL : FWD_PLAIN, id, exec_id,
	    "Kill", &req.base, NULL, done, arg);
}

void
vmb_pause(void *st, const char *id, backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__PauseRequest req;

	qemubox__guest__v1__pause_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	forward(st, FWD_PLAIN, id, "", "Pause", &req.base, NULL, done, arg);
}

void
vmb_resume(void *st, const char *id, backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__ResumeRequest req;

	qemubox__guest__v1__resume_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	forward(st, FWD_PLAIN, id, "", "Resume", &req.base, NULL, done, arg);
}

void
vmb_resize_pty(void *st, const char *id, const char *exec_id, uint32_t w,
    uint32_t h, backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__ResizePtyRequest req;

	qemubox__guest__v1__resize_pty_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	req.exec_id = (char *)(uintptr_t)exec_id;
	req.width = w;
	req.height = h;
	forward(st, FWD_PLAIN, id, exec_id, "ResizePty", &req.base, NULL, done,
	    arg);
}

/* stdin EOF travels on the stream itself: close our side of it. */
void
vmb_close_io(void *st, const char *id, const char *exec_id, bool stdin_close,
    backend_done_fn done, void *arg)
{
	struct vmb *b = st;
	struct vmb_ctr *c;
	struct vmb_proc *p;

	if ((c = vmb_ctr_find(b, id)) == NULL ||
	    (p = vmb_proc_find(c, exec_id)) == NULL) {
		vmb_done_err(done, arg, QB_E_NOTFOUND,
		    "process %s/%s does not exist", id, exec_id);
		return;
	}
	log_debug("%s: %s/%s stdin_close=%d relay=%p", __func__, id, exec_id,
	    stdin_close, (void *)p->relay);
	if (stdin_close && p->relay != NULL)
		stdio_relay_close_stdin(p->relay);
	vmb_done_ok(done, arg, 0);
}

/* An Update: the VM grows first (when hotplug allows), then the guest
 * applies the cgroup limits, as Kata does. */
struct vmb_update {
	struct vmb *b;
	char id[QB_ID_MAX];
	uint8_t *resources;
	size_t len;
	backend_done_fn done;
	void *arg;
};

static void
update_forward(struct vmb_update *u)
{
	Qemubox__Guest__V1__UpdateRequest gr;

	qemubox__guest__v1__update_request__init(&gr);
	gr.id = u->id;
	gr.resources.data = u->resources;
	gr.resources.len = u->len;
	forward(u->b, FWD_PLAIN, u->id, "", "Update", &gr.base, NULL, u->done,
	    u->arg);
	free(u->resources);
	free(u);
}

static void
update_resized(void *arg, const struct qb_error *err)
{
	struct vmb_update *u = arg;

	if (err != NULL) {
		vmb_done_err(u->done, u->arg, err->code, "%s", err->msg);
		free(u->resources);
		free(u);
		return;
	}
	update_forward(u);
}

void
vmb_update(void *st, const struct backend_update_req *req, backend_done_fn done,
    void *arg)
{
	struct vmb *b = st;
	struct vmb_update *u;
	struct qb_error err = {0};
	unsigned cpus = 0, mem = 0;

	if (b->hp != NULL &&
	    hp_update_target((const char *)req->resources, req->resources_len,
	        &b->cfg, &cpus, &mem, &err) == -1) {
		vmb_done_err(done, arg, err.code, "%s", err.msg);
		return;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->resources = malloc(req->resources_len + 1)) == NULL) {
		free(u);
		vmb_done_err(done, arg, QB_E_INTERNAL, "update: out of memory");
		return;
	}
	u->b = b;
	snprintf(u->id, sizeof(u->id), "%s", req->id);
	memcpy(u->resources, req->resources, req->resources_len);
	u->len = req->resources_len;
	u->done = done;
	u->arg = arg;
	if (b->hp != NULL && (cpus != 0 || mem != 0) &&
	    sandbox_hotplug_resize(b->hp, cpus, mem, update_resized, u) == 0)
		return;
	update_forward(u);
}

void
vmb_pids(void *st, const char *id, backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__PidsRequest req;

	qemubox__guest__v1__pids_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	forward(st, FWD_PIDS, id, "", "Pids", &req.base,
	    &qemubox__guest__v1__pids_response__descriptor, done, arg);
}

void
vmb_stats(void *st, const char *id, backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__StatsRequest req;

	qemubox__guest__v1__stats_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	forward(st, FWD_STATS, id, "", "Stats", &req.base,
	    &qemubox__guest__v1__stats_response__descriptor, done, arg);
}

/*
 * The VM backend: how the Task service's operations become a sandbox VM.
 *
 * One shim serves one sandbox (a container, or a pod), so one VM. The first
 * Create builds it, each step undone in reverse if a later one fails:
 *
 *   spec + rootfs -> storage plan (shim/storage.c)
 *   layer images  -> EROFS cache, opened read-only   (async, mkfs.erofs)
 *   network       -> qemubox-privnet NET_SETUP        (async imsg; TAP fd)
 *   VM            -> qemubox-vmmon START (kernel, initrd, disks, TAP,
 *                    channel, console fds)            (async imsg)
 *   guest ready   -> guest_client on our channel end  (async, bounded)
 *   guest network -> ConfigureNetwork(CNI result)
 *   container     -> guest Create (spec, layers, files, stdio streams)
 *
 * Everything else forwards to the guest. Exits arrive as guest EVENTs (after
 * the process's output was drained) and become task_service_exited(). A dead
 * VM, guest or helper ends every process with an exit report. Shutdown stops
 * the VM (vmmon: ACPI, quit, SIGKILL) and tears the network down.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "imsg/qemubox_imsg.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "proto/guest.pb-c.h"
#include "shim/backend.h"
#include "shim/console_log.h"
#include "shim/guest_client.h"
#include "shim/layer_cache.h"
#include "shim/hotplug_policy.h"
#include "shim/privnet_client.h"
#include "shim/sandbox_hotplug.h"
#include "shim/stdio_relay.h"
#include "shim/storage.h"
#include "shim/fsd_client.h"
#include "shim/oci_spec.h"
#include "shim/storage_async.h"
#include "shim/storage_guest.h"
#include "shim/task_service.h"
#include "shim/transport.h"
#include "shim/vm_backend.h"
#include "shim/sandbox_host.h"
#include "shim/vmmon_client.h"
#include "shim/shim_daemon.h"
#include "lib/proc_spawn.h"

#define VMB_KERNEL          "kernel/qemubox-kernel-x86_64"
#define VMB_INITRD          "kernel/qemubox-initrd"
#define VMB_CALL_TIMEOUT_MS 30000
/* A later container's Create waits in the guest for its hot-added disks. */
#define VMB_LATER_CREATE_TIMEOUT_MS 90000

enum vm_state { VM_NONE, VM_BOOTING, VM_READY, VM_STOPPING, VM_DEAD };

struct vmb;
struct vmb_ctr;

struct vmb_proc {
	TAILQ_ENTRY(vmb_proc) entry;
	struct vmb_ctr *ctr;
	char exec_id[128];
	uint32_t pid;
	bool exited;
	struct stdio_relay *relay;
};

struct vmb_ctr {
	TAILQ_ENTRY(vmb_ctr) entry;
	struct vmb *b;
	char id[128];
	char bundle[PATH_MAX];
	struct storage_plan plan;
	TAILQ_HEAD(, vmb_proc) procs;
	/* A pod's later container: its disks are hot-added SCSI LUNs. */
	bool later;
	uint32_t luns[QB_VMM_MAX_LUNS];
	size_t n_luns;
	/* ... and its directory binds joined the VM's share at these slots. */
	uint32_t slots[QB_FS_MAX_VOLUMES];
	size_t n_slots;
};

/* The first Create, in flight: what to undo if a step fails. */
struct vmb_create {
	struct vmb *b;
	struct vmb_ctr *ctr;
	const struct backend_create_req *req;
	backend_done_fn done;
	void *arg;
	struct json_object *spec;
	struct oci_spec_info si; /* sandbox id, kind, netns, size */
	struct oci_vm_size size; /* the first container: the VM's */
	struct storage_prepare *prep;
	struct stdio_relay *relay;
	struct timespec t0;
	uint64_t t_net, t_disks, t_vm, t_ready, t_guest;
	struct ev_timer *vsock_retry; /* vsock: waiting for the listener */
	size_t next_disk; /* later container: the next disk to hot-add */
};

struct vmb {
	struct backend_env env;
	struct qb_config cfg;
	struct layer_cache lc;
	char sandbox_id[QB_ID_MAX];
	char log_dir[PATH_MAX];

	struct privnet_client *pn;
	struct ev_io *pn_io;
	bool net_up;
	struct qb_net_result net;

	struct vmmon_client *vm;
	struct vmmon_events vm_events;
	int fsd_fd; /* qemubox-fsd (volumes), -1 if absent; not ours */
	enum vm_state state;
	int qemu_pid;
	enum qb_vmm_transport transport;
	uint32_t guest_cid; /* vsock */

	struct guest_client *gc;
	struct sandbox_hotplug *hp;  /* NULL: the VM keeps its boot size */
	int chan_fd;                 /* our end of the guest channel */
	unsigned long unknown_exits; /* Exit events for no process of ours */

	struct vmb_create *creating;
	TAILQ_HEAD(, vmb_ctr) ctrs;
	bool pod;                /* CRI sandbox: VM has a SCSI bus */
	bool fs_spare;           /* the share takes volumes while it runs */
	uint32_t fs_first_spare; /* its first spare slot */
	uint64_t fs_used;        /* bit i: spare slot i holds a volume */
	bool lun_used[QB_VMM_MAX_LUNS]; /* LUNs of later containers */
	unsigned later_seq;             /* names later containers' disks */

	backend_done_fn shutdown_done;
	void *shutdown_arg;
};

static void vmb_vm_dead(struct vmb *b, const char *why);
struct vmb_create;
static void create_fail(struct vmb_create *cr, const struct qb_error *err);

static void
vm_shutdown_logged(
    void *arg, const void *res, size_t len, const struct qb_error *err)
{
	(void)arg;
	(void)len;
	if (res == NULL && err != NULL)
		log_warnx("vm_shutdown: %s", err->msg);
}

/* ACPI powerdown -> quit -> SIGKILL in vmmon, each step bounded. */
static int
vm_shutdown(struct vmb *b, vmmon_reply_fn done)
{
	struct qb_vmm_shutdown_req req = {.timeout_ms = 0};
	struct qb_error err;

	if (vmmon_request_async(b->vm, IMSG_VMM_SHUTDOWN_REQ, &req, sizeof(req),
	        done != NULL ? done : vm_shutdown_logged, b, &err) == -1) {
		log_warnx("%s: %s", __func__, err.msg);
		return -1;
	}
	return 0;
}

/* a + "/" + b into out; -1 (ENAMETOOLONG) rather than a cut path. */
static int
path_join(char *out, size_t len, const char *a, const char *b)
{
	int n = snprintf(out, len, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static uint64_t
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t0->tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - t0->tv_nsec) / 1000000);
}

static void
now_real(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static struct vmb_ctr *
ctr_find(struct vmb *b, const char *id)
{
	struct vmb_ctr *c;

	TAILQ_FOREACH(c, &b->ctrs, entry)
	if (strcmp(c->id, id) == 0)
		return c;
	return NULL;
}

static struct vmb_proc *
proc_find(struct vmb_ctr *c, const char *exec_id)
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

static void
ctr_free(struct vmb_ctr *c)
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

static void done_err(backend_done_fn done, void *arg, int code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
done_err(backend_done_fn done, void *arg, int code, const char *fmt, ...)
{
	struct qb_error err = {0};
	va_list ap;

	va_start(ap, fmt);
	qb_vseterr(&err, code, fmt, ap);
	va_end(ap);
	done(arg, NULL, &err);
}

static void
done_ok(backend_done_fn done, void *arg, uint32_t pid)
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
		    (c = ctr_find(f->b, f->id)) != NULL &&
		    (p = proc_find(c, f->exec_id)) != NULL)
			proc_free(p);
		f->done(f->arg, NULL, err);
		free(f);
		return;
	}
	switch (f->kind) {
	case FWD_START: {
		const Qemubox__Guest__V1__StartResponse *r = (const void *)resp;
		res.pid = r != NULL ? r->pid : 0;
		if ((c = ctr_find(f->b, f->id)) != NULL &&
		    (p = proc_find(c, f->exec_id)) != NULL)
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
				done_err(f->done, f->arg, QB_E_INTERNAL,
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
		done_err(done, arg, QB_E_PRECONDITION,
		    "%s: the sandbox VM is not running", method);
		return;
	}
	if (id != NULL && ctr_find(b, id) == NULL) {
		done_err(
		    done, arg, QB_E_NOTFOUND, "container %s not created", id);
		return;
	}
	if ((f = fwd_new(b, kind, id, exec_id, done, arg)) == NULL) {
		done_err(done, arg, QB_E_INTERNAL, "%s: out of memory", method);
		return;
	}
	if (guest_call(b->gc, method, req, resp_desc, VMB_CALL_TIMEOUT_MS,
	        fwd_answer, f) == -1) {
		free(f);
		done_err(done, arg, QB_E_UNAVAILABLE, "%s: guest channel: %s",
		    method, strerror(errno));
	}
}

/* ---- guest events ------------------------------------------------------ */

static void on_guest_ready(
    struct guest_client *gc, uint64_t boot_ms, void *arg);
static void
on_guest_exit(struct guest_client *gc, const char *id, const char *exec_id,
    uint32_t pid, uint32_t status, void *arg)
{
	struct vmb *b = arg;
	struct vmb_ctr *c;
	struct vmb_proc *p;
	struct timespec ts;

	(void)gc;
	if ((c = ctr_find(b, id)) == NULL ||
	    (p = proc_find(c, exec_id)) == NULL || p->exited) {
		/* A guest can send these at channel speed: log the 1st, 2nd,
		 * 4th, 8th... so they cannot flood containerd's log. */
		b->unknown_exits++;
		if ((b->unknown_exits & (b->unknown_exits - 1)) == 0)
			log_warnx("%s: exit of unknown process %s/%s from the "
			          "guest (%lu so far)",
			    __func__, id, exec_id, b->unknown_exits);
		return;
	}
	p->exited = true;
	if (p->relay != NULL)
		stdio_relay_finish(p->relay);
	now_real(&ts);
	task_service_exited(
	    b->env.svc, id, exec_id, pid ? pid : p->pid, status, &ts);
}

static void
on_guest_oom(struct guest_client *gc, const char *id, void *arg)
{
	struct vmb *b = arg;

	(void)gc;
	if (ctr_find(b, id) != NULL)
		task_service_oom(b->env.svc, id);
}

static void
on_guest_dead(struct guest_client *gc, const char *why, void *arg)
{
	struct vmb *b = arg;

	(void)gc;
	vmb_vm_dead(b, why);
}

static const struct guest_client_ops guest_ops = {
    .on_ready = on_guest_ready,
    .on_exit = on_guest_exit,
    .on_oom = on_guest_oom,
    .on_dead = on_guest_dead,
};

/* Every process still running ends now, with the status of a SIGKILL. */
static void
exit_all(struct vmb *b)
{
	struct vmb_ctr *c;
	struct vmb_proc *p;
	struct timespec ts;

	now_real(&ts);
	TAILQ_FOREACH(c, &b->ctrs, entry)
	TAILQ_FOREACH(p, &c->procs, entry)
	{
		if (p->exited || p->pid == 0)
			continue;
		p->exited = true;
		if (p->relay != NULL)
			stdio_relay_finish(p->relay);
		task_service_exited(
		    b->env.svc, c->id, p->exec_id, p->pid, 128 + SIGKILL, &ts);
	}
}

struct guest_gone {
	struct guest_client *gc;
	int fd;
};

static void
guest_free_deferred(void *arg)
{
	struct guest_gone *g = arg;

	if (g->gc != NULL)
		guest_client_free(g->gc);
	if (g->fd != -1)
		close(g->fd);
	free(g);
}

/*
 * Drop the guest client and our channel end. Deferred: this may run from
 * inside one of the client's callbacks, which must not free it; the fd is
 * closed after the client let go of it.
 *
 * Every stdio relay pumps through a stream of that channel, and the
 * channel frees its streams with it: end the relays first. No more output
 * can come, so this also closes containerd's FIFOs (ctr sees EOF). A relay
 * left behind granted credit on a freed stream the next time its FIFO
 * drained (a shim segfault: tests/integration/35-hostile-guest.sh).
 */
static void
guest_drop(struct vmb *b)
{
	struct guest_gone *g;
	struct vmb_ctr *c;
	struct vmb_proc *p;

	sandbox_hotplug_stop(b->hp);
	b->hp = NULL;
	if (b->gc == NULL && b->chan_fd == -1)
		return;
	TAILQ_FOREACH(c, &b->ctrs, entry)
	TAILQ_FOREACH(p, &c->procs, entry)
	{
		stdio_relay_free(p->relay);
		p->relay = NULL;
	}
	if (b->creating != NULL) {
		stdio_relay_free(b->creating->relay);
		b->creating->relay = NULL;
	}
	if ((g = malloc(sizeof(*g))) == NULL) {
		log_warnx(
		    "%s: out of memory: leaking the guest channel", __func__);
		b->gc = NULL;
		b->chan_fd = -1;
		return;
	}
	g->gc = b->gc;
	g->fd = b->chan_fd;
	b->gc = NULL;
	b->chan_fd = -1;
	evloop_defer(b->env.loop, guest_free_deferred, g);
}

/* The VM, the guest or the channel is gone: fail what waits, end the rest. */
static void
vmb_vm_dead(struct vmb *b, const char *why)
{
	if (b->state == VM_DEAD || b->state == VM_NONE)
		return;
	if (b->state == VM_STOPPING) {
		/* The end Shutdown asked for. */
		b->state = VM_DEAD;
		exit_all(b);
		return;
	}
	log_warnx("%s: sandbox %s: %s", __func__, b->sandbox_id, why);
	if (b->creating != NULL) {
		/* Still in Create: answer it (and undo everything). */
		struct qb_error err = {.code = QB_E_UNAVAILABLE};
		snprintf(err.msg, sizeof(err.msg),
		    "sandbox VM failed while "
		    "starting: %.300s (see %.600s/console.log)",
		    why, b->log_dir);
		create_fail(b->creating, &err);
		return;
	}
	b->state = VM_DEAD;
	guest_drop(b);
	if (b->vm != NULL && b->qemu_pid > 0)
		vm_shutdown(b, NULL);
	exit_all(b);
}

/* ---- Create --------------------------------------------------------- */

static void create_fail(struct vmb_create *cr, const struct qb_error *err);
static void create_guest_network(struct vmb_create *cr);
static void create_guest_container(struct vmb_create *cr);

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

static void
net_teardown_done(void *arg, const struct qb_error *err)
{
	struct vmb *b = arg;

	if (err != NULL)
		log_warnx("%s: network teardown of %s: %s", __func__,
		    b->sandbox_id, err->msg);
}

/* Undo in reverse: VM, network, disks; then answer. */
static void
create_fail(struct vmb_create *cr, const struct qb_error *err)
{
	struct vmb *b = cr->b;
	struct qb_error e2;

	log_warnx("%s: create %s: %s", __func__, cr->ctr->id, err->msg);
	if (cr->ctr->later) {
		/* The VM and the pod's other containers stay. */
		cr->done(cr->arg, NULL, err);
		ctr_free(cr->ctr);
		create_free(cr);
		return;
	}
	guest_drop(b);
	if (b->vm != NULL && b->qemu_pid > 0)
		vm_shutdown(b, NULL);
	b->qemu_pid = 0;
	b->state = VM_NONE;
	if (b->net_up && b->pn != NULL) {
		if (privnet_net_teardown_async(
		        b->pn, b->sandbox_id, net_teardown_done, b, &e2) == -1)
			log_warnx("%s: %s", __func__, e2.msg);
		b->net_up = false;
	}
	cr->done(cr->arg, NULL, err);
	ctr_free(cr->ctr);
	create_free(cr);
}

static void create_failf(struct vmb_create *cr, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
create_failf(struct vmb_create *cr, int code, const char *fmt, ...)
{
	struct qb_error err = {0};
	va_list ap;

	va_start(ap, fmt);
	qb_vseterr(&err, code, fmt, ap);
	va_end(ap);
	create_fail(cr, &err);
}

static void
on_guest_ready(struct guest_client *gc, uint64_t boot_ms, void *arg)
{
	struct vmb *b = arg;
	struct vmb_create *cr = b->creating;

	(void)gc;
	if (b->state != VM_BOOTING || cr == NULL)
		return;
	b->state = VM_READY;
	cr->t_ready = ms_since(&cr->t0);
	log_info("%s: sandbox %s: guest ready (guest boot %llu ms, %llu ms "
	         "since Create)",
	    __func__, b->sandbox_id, (unsigned long long)boot_ms,
	    (unsigned long long)cr->t_ready);
	create_guest_network(cr);
}

static int
open_share(const struct vmb *b, const char *rel, struct qb_error *err)
{
	char path[PATH_MAX];
	int fd;

	if (path_join(path, sizeof(path), b->cfg.paths.share_dir, rel) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		qb_seterr(err, QB_E_PRECONDITION,
		    "open %s: %s "
		    "(paths.share_dir; install the guest image with make "
		    "install)",
		    path, strerror(errno));
	return fd;
}

/* The guest client on our channel end (b->chan_fd): wait for ready. */
static void
guest_connect(struct vmb_create *cr)
{
	struct vmb *b = cr->b;

	b->gc = guest_client_new(b->env.loop, b->chan_fd,
	    b->cfg.runtime.boot_timeout_ms, &guest_ops, b);
	if (b->gc == NULL)
		create_failf(
		    cr, QB_E_INTERNAL, "guest client: %s", strerror(errno));
}

/*
 * vsock: vminitd listens once the guest is up; until then a connect is
 * refused. Retried every 50 ms (each try bounded at 100 ms) within
 * runtime.boot_timeout.
 */
static void
vsock_try(struct ev_timer *t, void *arg)
{
	struct vmb_create *cr = arg;
	struct vmb *b = cr->b;
	int fd;

	(void)t;
	cr->vsock_retry = NULL; /* one-shot: the loop frees it */
	fd = transport_vsock_connect(b->guest_cid, TRANSPORT_VSOCK_PORT, 100);
	if (fd != -1) {
		b->chan_fd = fd;
		guest_connect(cr);
		return;
	}
	if (ms_since(&cr->t0) - cr->t_vm >= b->cfg.runtime.boot_timeout_ms) {
		create_failf(cr, QB_E_DEADLINE,
		    "guest vsock cid %u port %u: no listener within %llu ms "
		    "(%s)",
		    b->guest_cid, TRANSPORT_VSOCK_PORT,
		    (unsigned long long)b->cfg.runtime.boot_timeout_ms,
		    strerror(errno));
		return;
	}
	cr->vsock_retry =
	    evloop_timer_add(b->env.loop, 50 * 1000000ull, 0, vsock_try, cr);
	if (cr->vsock_retry == NULL)
		create_failf(cr, QB_E_INTERNAL, "timer: %s", strerror(errno));
}

/* The VM is up in vmmon: connect the guest client and wait for ready. */
static void
vm_started(void *arg, const void *resp, size_t len, const struct qb_error *err)
{
	struct vmb_create *cr = arg;
	struct vmb *b = cr->b;
	const struct qb_vmm_start_res *res = resp;

	if (res == NULL || len != sizeof(*res)) {
		create_fail(cr, err);
		return;
	}
	b->qemu_pid = res->pid;
	cr->t_vm = ms_since(&cr->t0);
	log_info(
	    "%s: sandbox %s: QEMU pid %d", __func__, b->sandbox_id, res->pid);
	if (b->transport == QB_VMM_TRANSPORT_VSOCK) {
		vsock_try(NULL, cr);
		return;
	}
	guest_connect(cr);
}

static void
create_vm(struct vmb_create *cr, int tap_fd)
{
	struct vmb *b = cr->b;
	struct vm_start_params sp;
	struct storage_plan *plan = &cr->ctr->plan;
	struct qb_error err = {0};
	char cmdline[64];
	const char *why;
	int sv[2] = {-1, -1}, console = -1, kernel = -1, initrd = -1;
	int vhost = -1;
	int fs_fd = -1, fs_pid = -1;
	size_t i;

	memset(&sp, 0, sizeof(sp));
	/*
	 * Volumes: the sandbox's virtiofsd, before QEMU, which needs it. A
	 * pod's VM gets one even with no volume yet: its later containers'
	 * directory binds join it while it runs (ctr_join_volumes).
	 */
	if (plan->n_volumes > 0 || (b->pod && b->fsd_fd >= 0)) {
		if (fsd_client_start(b->fsd_fd, b->sandbox_id, plan, b->pod,
		        &fs_fd, &fs_pid, &err) == -1)
			goto fail;
		b->fs_spare = b->pod;
		b->fs_first_spare = (uint32_t)plan->n_volumes;
		log_info("%s: %s: virtiofsd pid %d serves %zu volume(s)%s",
		    __func__, b->sandbox_id, fs_pid, plan->n_volumes,
		    b->pod ? ", more may join" : "");
	}
	if ((kernel = open_share(b, VMB_KERNEL, &err)) == -1 ||
	    (initrd = open_share(b, VMB_INITRD, &err)) == -1)
		goto fail;
	if ((console = console_log_open(b->log_dir, &err)) == -1)
		goto fail;
	b->transport = transport_pick(
	    b->cfg.runtime.transport, transport_vhost_vsock_present, &why);
	log_info("%s: sandbox %s: guest channel %s (%s)", __func__,
	    b->sandbox_id,
	    b->transport == QB_VMM_TRANSPORT_VSOCK ? "vsock" : "virtio-serial",
	    why);
	sp.vhost_vsock_fd = -1;
	if (b->transport == QB_VMM_TRANSPORT_VSOCK) {
		if ((vhost = transport_vsock_open(&b->guest_cid, &err)) == -1)
			goto fail;
		sp.vhost_vsock_fd = vhost;
		sp.guest_cid = b->guest_cid;
	} else {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		    -1) {
			qb_seterr(&err, QB_E_INTERNAL, "socketpair: %s",
			    strerror(errno));
			goto fail;
		}
		b->chan_fd = sv[0];
		sp.channel_fd = sv[1];
	}

	sp.id = b->sandbox_id;
	/*
	 * Config plus the pod's declared size (checked at Create); vCPU and
	 * DIMM slots only when hotplug is on (q35, not microvm).
	 */
	sp.boot_cpus = cr->size.boot_cpus;
	sp.max_cpus = cr->size.max_cpus;
	sp.memory_mb = cr->size.memory_mb;
	sp.max_memory_mb = cr->size.max_memory_mb;
	sp.console_max_bytes =
	    (uint64_t)b->cfg.runtime.console_log_max_kb * 1024;
	sp.memory_slots = sp.max_memory_mb > sp.memory_mb ? 4 : 0;
	sp.machine = QB_VMM_MACHINE_AUTO;
	sp.accel = QB_VMM_ACCEL_AUTO;
	sp.transport = b->transport;
	sp.kernel_fd = kernel;
	sp.initrd_fd = initrd;
	sp.console_log_fd = console;
	sp.tap_fd = tap_fd;
	sp.fs_fd = fs_fd;
	if (tap_fd != -1)
		memcpy(sp.mac, b->net.mac, sizeof(sp.mac));
	if (plan->n_disks > QB_VMM_MAX_DISKS) {
		qb_seterr(&err, QB_E_INVALID,
		    "the image has %zu layers; at "
		    "most %d disks per VM",
		    plan->n_disks, QB_VMM_MAX_DISKS);
		goto fail;
	}
	for (i = 0; i < plan->n_disks; i++) {
		sp.disks[i].fd = plan->disks[i].fd;
		sp.disks[i].readonly =
		    plan->disks[i].role != STORAGE_DISK_SCRATCH;
		sp.disks[i].serial = plan->disks[i].serial;
	}
	sp.ndisks = plan->n_disks;
	snprintf(cmdline, sizeof(cmdline), "%s%s",
	    b->transport == QB_VMM_TRANSPORT_VSOCK ? "qemubox.transport=vsock "
	                                           : "",
	    b->cfg.runtime.debug ? "qemubox.debug=1" : "");
	sp.cmdline = cmdline;
	sp.hotplug_disks = b->pod;
	b->state = VM_BOOTING;
	/* The stub sends duplicates: our fds stay ours to close. */
	if (vmmon_vm_start_async(b->vm, &sp, vm_started, cr, &err) == -1) {
		b->state = VM_NONE;
		goto fail;
	}
	close(kernel);
	close(initrd);
	close(console);
	if (sv[1] != -1)
		close(sv[1]);
	if (vhost != -1)
		close(vhost);
	if (tap_fd != -1)
		close(tap_fd);
	if (fs_fd != -1)
		close(fs_fd);
	return;
fail:
	if (fs_fd != -1)
		close(fs_fd);
	if (kernel != -1)
		close(kernel);
	if (initrd != -1)
		close(initrd);
	if (console != -1)
		close(console);
	if (sv[1] != -1)
		close(sv[1]);
	if (vhost != -1)
		close(vhost);
	if (tap_fd != -1)
		close(tap_fd);
	create_fail(cr, &err);
}

static void
net_ready(void *arg, const struct qb_net_result *res, int tap_fd,
    const struct qb_error *err)
{
	struct vmb_create *cr = arg;
	struct vmb *b = cr->b;

	if (err != NULL) {
		create_fail(cr, err);
		return;
	}
	b->net = *res;
	b->net_up = true;
	cr->t_net = ms_since(&cr->t0);
	create_vm(cr, tap_fd);
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
		create_fail(cr, err);
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
		cr->t_vm = cr->t_ready = ms_since(&cr->t0);
		create_guest_container(cr);
		return;
	}
	if (b->state != VM_READY || b->vm == NULL) {
		create_failf(
		    cr, QB_E_PRECONDITION, "the sandbox VM is not running");
		return;
	}
	for (lun = 0; lun < QB_VMM_MAX_LUNS && b->lun_used[lun]; lun++)
		;
	if (lun == QB_VMM_MAX_LUNS) {
		create_failf(cr, QB_E_EXHAUSTED,
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
		create_fail(cr, &err);
	}
}

static void
disks_ready(struct storage_plan *plan, const struct qb_error *err, void *arg)
{
	struct vmb_create *cr = arg;
	struct vmb *b = cr->b;
	struct qb_error e2 = {0};

	(void)plan;
	cr->prep = NULL;
	if (err != NULL) {
		create_fail(cr, err);
		return;
	}
	cr->t_disks = ms_since(&cr->t0);
	if (cr->ctr->later) {
		later_add_disk(cr);
		return;
	}
	if (b->pn == NULL) {
		create_failf(cr, QB_E_PRECONDITION,
		    "network helper "
		    "qemubox-privnet is not running");
		return;
	}
	if (privnet_net_setup_async(
	        b->pn, b->sandbox_id, cr->si.netns, net_ready, cr, &e2) == -1)
		create_fail(cr, &e2);
}

static void
addr_list(const struct qb_net_addr *a, size_t n, char **out, char (*buf)[64],
    size_t *nout, int with_prefix)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (a[i].family == 0)
			continue;
		privnet_addr_str(
		    &a[i], with_prefix, buf[*nout], sizeof(buf[0]));
		out[*nout] = buf[*nout];
		(*nout)++;
	}
}

static void
guest_net_done(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	struct vmb_create *cr = arg;

	(void)gc;
	(void)resp;
	if (err != NULL && err->code != QB_E_OK) {
		create_fail(cr, err);
		return;
	}
	create_guest_container(cr);
}

static void
create_guest_network(struct vmb_create *cr)
{
	struct vmb *b = cr->b;
	Qemubox__Guest__V1__ConfigureNetworkRequest req;
	Qemubox__Guest__V1__Route routes[QB_NET_MAX_ROUTES],
	    *rp[QB_NET_MAX_ROUTES];
	char *addrs[QB_NET_MAX_IPS], *dns[QB_NET_MAX_DNS];
	char abuf[QB_NET_MAX_IPS][64], dbuf[QB_NET_MAX_DNS][64], gw[64] = "";
	char rdst[QB_NET_MAX_ROUTES][64], rgw[QB_NET_MAX_ROUTES][64], mac[18];
	char *search[QB_NET_MAX_SEARCH];
	size_t na = 0, nd = 0, i;
	uint32_t n;

	qemubox__guest__v1__configure_network_request__init(&req);
	if (!b->net_up || cr->ctr->later) {
		create_guest_container(cr);
		return;
	}
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
	    b->net.mac[0], b->net.mac[1], b->net.mac[2], b->net.mac[3],
	    b->net.mac[4], b->net.mac[5]);
	req.mac = mac;
	addr_list(b->net.ips,
	    b->net.n_ips < QB_NET_MAX_IPS ? b->net.n_ips : QB_NET_MAX_IPS,
	    addrs, abuf, &na, 1);
	req.addresses = addrs;
	req.n_addresses = na;
	for (i = 0; i < b->net.n_ips && i < QB_NET_MAX_IPS; i++)
		if (b->net.gateways[i].family != 0) {
			privnet_addr_str(
			    &b->net.gateways[i], 0, gw, sizeof(gw));
			break;
		}
	req.gateway = gw;
	n = b->net.n_routes < QB_NET_MAX_ROUTES ? b->net.n_routes
	                                        : QB_NET_MAX_ROUTES;
	for (i = 0; i < n; i++) {
		qemubox__guest__v1__route__init(&routes[i]);
		if (b->net.routes[i].dst.family != 0)
			privnet_addr_str(
			    &b->net.routes[i].dst, 1, rdst[i], sizeof(rdst[i]));
		else
			snprintf(rdst[i], sizeof(rdst[i]), "0.0.0.0/0");
		privnet_addr_str(
		    &b->net.routes[i].gw, 0, rgw[i], sizeof(rgw[i]));
		routes[i].destination = rdst[i];
		routes[i].gateway = rgw[i];
		rp[i] = &routes[i];
	}
	req.routes = rp;
	req.n_routes = n;
	req.mtu = b->net.mtu;
	addr_list(b->net.dns,
	    b->net.n_dns < QB_NET_MAX_DNS ? b->net.n_dns : QB_NET_MAX_DNS, dns,
	    dbuf, &nd, 0);
	req.nameservers = dns;
	req.n_nameservers = nd;
	for (i = 0; i < b->net.n_search && i < QB_NET_MAX_SEARCH; i++)
		search[i] = b->net.dns_search[i];
	req.search = search;
	req.n_search = i;
	if (guest_call(b->gc, "ConfigureNetwork", &req.base, NULL,
	        VMB_CALL_TIMEOUT_MS, guest_net_done, cr) == -1)
		create_failf(cr, QB_E_UNAVAILABLE, "ConfigureNetwork: %s",
		    strerror(errno));
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
		create_fail(cr, err);
		return;
	}
	cr->t_guest = ms_since(&cr->t0);
	p = TAILQ_FIRST(&cr->ctr->procs);
	p->pid = r != NULL ? r->pid : 0;
	p->relay = cr->relay;
	cr->relay = NULL;
	log_info("%s: %s created, pid %u; ms since Create: disks %llu, "
	         "network %llu, vm %llu, guest ready %llu, container %llu",
	    __func__, cr->ctr->id, p->pid, (unsigned long long)cr->t_disks,
	    (unsigned long long)cr->t_net, (unsigned long long)cr->t_vm,
	    (unsigned long long)cr->t_ready, (unsigned long long)cr->t_guest);
	/* The VM now runs what it was made for: from here it may grow. */
	if (cr->b->hp == NULL)
		cr->b->hp = sandbox_hotplug_start(cr->b->env.loop, &cr->b->cfg,
		    cr->b->vm, cr->b->gc, cr->b->sandbox_id);
	done_ok(cr->done, cr->arg, p->pid);
	create_free(cr);
}

static void
create_guest_container(struct vmb_create *cr)
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
		create_fail(cr, &err);
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
	        cr->ctr->later ? VMB_LATER_CREATE_TIMEOUT_MS
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
	create_fail(cr, &err);
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
	    path_join(scratch, sizeof(scratch), b->cfg.paths.share_dir,
	        STORAGE_SCRATCH_TEMPLATE) == -1) {
		create_failf(cr, QB_E_INVALID, "paths.share_dir: too long");
		return;
	}
	so.scratch_template = scratch;
	so.scratch_dir = b->cfg.paths.state_dir;

	if (req->n_rootfs > 0 &&
	    (mounts = calloc(req->n_rootfs, sizeof(*mounts))) == NULL) {
		create_failf(cr, QB_E_INTERNAL, "out of memory");
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
		create_fail(cr, &err);
		return;
	}
	free(mounts);
	if (plan_fits(cr, &err) == -1 ||
	    (c->later && ctr_join_volumes(c, &err) == -1)) {
		create_fail(cr, &err);
		return;
	}
	if (c->later) {
		b->later_seq++;
		for (i = 0; i < c->plan.n_disks; i++) {
			n = snprintf(serial, sizeof(serial), "p%u-%s",
			    b->later_seq, c->plan.disks[i].serial);
			if (n < 0 || (size_t)n >= sizeof(serial)) {
				create_failf(cr, QB_E_INTERNAL,
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
		create_fail(cr, &err);
}

static void
vmb_create(void *st, const struct backend_create_req *req, backend_done_fn done,
    void *arg)
{
	struct vmb *b = st;
	struct vmb_create *cr;
	struct vmb_ctr *c;
	struct qb_error err = {0};
	char path[PATH_MAX];

	if (ctr_find(b, req->id) != NULL) {
		done_err(done, arg, QB_E_EXISTS, "container %s already exists",
		    req->id);
		return;
	}
	if (req->checkpoint != NULL && req->checkpoint[0] != '\0') {
		done_err(done, arg, QB_E_UNIMPLEMENTED,
		    "checkpoint/restore is not supported by qemubox");
		return;
	}
	if (b->creating != NULL) {
		done_err(done, arg, QB_E_UNAVAILABLE,
		    "container %s: another container of sandbox %s is being "
		    "created; retry",
		    req->id, b->sandbox_id);
		return;
	}
	if (b->state != VM_NONE && (b->state != VM_READY || !b->pod)) {
		done_err(done, arg, QB_E_PRECONDITION,
		    "container %s: sandbox %s %s", req->id, b->sandbox_id,
		    b->state != VM_READY
		        ? "VM is not running"
		        : "is not a CRI pod (one container per VM)");
		return;
	}
	if (b->vm == NULL) {
		done_err(done, arg, QB_E_PRECONDITION,
		    "VM monitor qemubox-vmmon is not running");
		return;
	}
	if ((cr = calloc(1, sizeof(*cr))) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		free(cr);
		done_err(done, arg, QB_E_INTERNAL, "out of memory");
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
		create_failf(cr, QB_E_INTERNAL, "out of memory");
		return;
	}

	/*
	 * Everything a Create can check comes before layers, CNI or a boot:
	 * the spec here (ids, sandbox, netns, pod size), the mounts and
	 * disk counts in create_storage.
	 */
	snprintf(path, sizeof(path), "%s/config.json", req->bundle);
	if ((cr->spec = json_object_from_file(path)) == NULL) {
		create_failf(cr, QB_E_INVALID, "read OCI spec %s: %s", path,
		    json_util_get_last_err());
		return;
	}
	if (oci_spec_info(cr->spec, req->id, &cr->si, &err) == -1) {
		qb_preferr(&err, "container %s", req->id);
		create_fail(cr, &err);
		return;
	}
	if (strlen(cr->si.netns) >= QB_NETNS_PATH_MAX) {
		create_failf(cr, QB_E_INVALID,
		    "container %s: network namespace path over %d bytes",
		    req->id, QB_NETNS_PATH_MAX - 1);
		return;
	}
	if (c->later) {
		if (strcmp(cr->si.sandbox_id, b->sandbox_id) != 0) {
			create_failf(cr, QB_E_INVALID,
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
		create_fail(cr, &err);
		return;
	}
	snprintf(b->sandbox_id, sizeof(b->sandbox_id), "%s", cr->si.sandbox_id);
	b->pod = cr->si.kind == OCI_KIND_CRI_SANDBOX;
	if (path_join(b->log_dir, sizeof(b->log_dir), b->cfg.paths.log_dir,
	        req->id) == -1) {
		create_failf(
		    cr, QB_E_INVALID, "log dir for %s: path too long", req->id);
		return;
	}
	if (mkdir(b->cfg.paths.log_dir, 0750) == -1 && errno != EEXIST) {
		create_failf(cr, QB_E_INTERNAL, "mkdir %s: %s",
		    b->cfg.paths.log_dir, strerror(errno));
		return;
	}
	if (mkdir(b->log_dir, 0750) == -1 && errno != EEXIST) {
		create_failf(cr, QB_E_INTERNAL, "mkdir %s: %s", b->log_dir,
		    strerror(errno));
		return;
	}

	create_storage(cr, req);
}

/* ---- the other operations: forwarded to the guest ------------------- */

static void
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
	if ((c = ctr_find(b, d->id)) != NULL) {
		if (d->exec_id[0] == '\0')
			ctr_free(c);
		else if ((p = proc_find(c, d->exec_id)) != NULL)
			proc_free(p);
	}
	d->done(d->arg, res, NULL);
	free(d);
}

static void
vmb_delete(void *st, const char *id, const char *exec_id, backend_done_fn done,
    void *arg)
{
	struct vmb *b = st;
	Qemubox__Guest__V1__DeleteRequest req;
	struct vmb_del *d;

	qemubox__guest__v1__delete_request__init(&req);
	if (ctr_find(b, id) == NULL) {
		done_err(
		    done, arg, QB_E_NOTFOUND, "container %s not created", id);
		return;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		done_err(done, arg, QB_E_INTERNAL, "out of memory");
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
	log_debug("%s: %s/%s: asking the guest", __func__, id, exec_id);
	forward(b, FWD_DELETE, id, exec_id, "Delete", &req.base,
	    &qemubox__guest__v1__delete_response__descriptor, delete_answer, d);
}

static void
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
	if ((c = ctr_find(b, req->id)) == NULL) {
		done_err(done, arg, QB_E_NOTFOUND, "container %s not created",
		    req->id);
		return;
	}
	if (proc_find(c, req->exec_id) != NULL) {
		done_err(done, arg, QB_E_EXISTS, "exec %s already exists",
		    req->exec_id);
		return;
	}
	if (b->state != VM_READY) {
		done_err(done, arg, QB_E_PRECONDITION,
		    "the sandbox VM is not running");
		return;
	}
	if ((p = proc_new(c, req->exec_id)) == NULL) {
		done_err(done, arg, QB_E_INTERNAL, "out of memory");
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

static void
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

static void
vmb_pause(void *st, const char *id, backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__PauseRequest req;

	qemubox__guest__v1__pause_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	forward(st, FWD_PLAIN, id, "", "Pause", &req.base, NULL, done, arg);
}

static void
vmb_resume(void *st, const char *id, backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__ResumeRequest req;

	qemubox__guest__v1__resume_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	forward(st, FWD_PLAIN, id, "", "Resume", &req.base, NULL, done, arg);
}

static void
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
static void
vmb_close_io(void *st, const char *id, const char *exec_id, bool stdin_close,
    backend_done_fn done, void *arg)
{
	struct vmb *b = st;
	struct vmb_ctr *c;
	struct vmb_proc *p;

	if ((c = ctr_find(b, id)) == NULL ||
	    (p = proc_find(c, exec_id)) == NULL) {
		done_err(done, arg, QB_E_NOTFOUND,
		    "process %s/%s does not exist", id, exec_id);
		return;
	}
	log_debug("%s: %s/%s stdin_close=%d relay=%p", __func__, id, exec_id,
	    stdin_close, (void *)p->relay);
	if (stdin_close && p->relay != NULL)
		stdio_relay_close_stdin(p->relay);
	done_ok(done, arg, 0);
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
		done_err(u->done, u->arg, err->code, "%s", err->msg);
		free(u->resources);
		free(u);
		return;
	}
	update_forward(u);
}

static void
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
		done_err(done, arg, err.code, "%s", err.msg);
		return;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->resources = malloc(req->resources_len + 1)) == NULL) {
		free(u);
		done_err(done, arg, QB_E_INTERNAL, "update: out of memory");
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

static void
vmb_pids(void *st, const char *id, backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__PidsRequest req;

	qemubox__guest__v1__pids_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	forward(st, FWD_PIDS, id, "", "Pids", &req.base,
	    &qemubox__guest__v1__pids_response__descriptor, done, arg);
}

static void
vmb_stats(void *st, const char *id, backend_done_fn done, void *arg)
{
	Qemubox__Guest__V1__StatsRequest req;

	qemubox__guest__v1__stats_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	forward(st, FWD_STATS, id, "", "Stats", &req.base,
	    &qemubox__guest__v1__stats_response__descriptor, done, arg);
}

/* ---- Shutdown: VM, then network ------------------------------------ */

static void
shutdown_net_done(void *arg, const struct qb_error *err)
{
	struct vmb *b = arg;

	if (err != NULL)
		log_warnx("%s: network teardown: %s", __func__, err->msg);
	b->net_up = false;
	if (b->shutdown_done != NULL) {
		backend_done_fn done = b->shutdown_done;
		b->shutdown_done = NULL;
		done_ok(done, b->shutdown_arg, 0);
	}
}

static void
shutdown_vm_done(void *arg, const struct qb_error *err)
{
	struct vmb *b = arg;
	struct qb_error e2;

	if (err != NULL)
		log_warnx("%s: VM shutdown: %s", __func__, err->msg);
	b->state = VM_DEAD;
	b->qemu_pid = 0;
	if (b->net_up && b->pn != NULL &&
	    privnet_net_teardown_async(
	        b->pn, b->sandbox_id, shutdown_net_done, b, &e2) == 0)
		return;
	shutdown_net_done(b, NULL);
}

static void
shutdown_vm_reply(
    void *arg, const void *res, size_t len, const struct qb_error *err)
{
	(void)len;
	shutdown_vm_done(arg, res == NULL ? err : NULL);
}

static void
vmb_shutdown(void *st, backend_done_fn done, void *arg)
{
	struct vmb *b = st;
	struct qb_error err;

	b->shutdown_done = done;
	b->shutdown_arg = arg;
	guest_drop(b);
	b->state = VM_STOPPING;
	(void)err;
	if (b->vm != NULL && b->qemu_pid > 0 &&
	    vm_shutdown(b, shutdown_vm_reply) == 0)
		return;
	shutdown_vm_done(b, NULL);
}

/* ---- helpers' sockets on the loop ---------------------------------- */

static void
pn_io_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct vmb *b = arg;

	(void)fd;
	if ((events & EV_WRITE) && privnet_client_write(b->pn) == -1)
		goto dead;
	if ((events & (EV_READ | EV_HUP | EV_ERR)) &&
	    privnet_client_read(b->pn) == -1)
		goto dead;
	evloop_io_set(
	    io, EV_READ | (privnet_client_want_write(b->pn) ? EV_WRITE : 0));
	return;
dead:
	log_warnx("%s: qemubox-privnet is gone", __func__);
	evloop_io_del(io);
	b->pn_io = NULL;
}

static void
vm_exit_evt(void *arg, const struct qb_vmm_exit_evt *ev)
{
	struct vmb *b = arg;
	char why[256];

	snprintf(why, sizeof(why), "QEMU exited (status %d, signal %d, %s)",
	    ev->exit_status, ev->signal, ev->detail);
	b->qemu_pid = 0;
	if (b->creating != NULL && b->state == VM_BOOTING) {
		struct qb_error err = {.code = QB_E_UNAVAILABLE};
		snprintf(err.msg, sizeof(err.msg),
		    "VM did not boot: %.200s (see "
		    "%.600s/console.log)",
		    why, b->log_dir);
		create_fail(b->creating, &err);
		return;
	}
	vmb_vm_dead(b, why);
}

/*
 * vmmon stopped writing console.log at its cap: rotate it, and vmmon goes
 * on in the emptied file. The sandbox's own guest decides how often this
 * happens; each time costs one copy of at most the cap.
 */
static void
vm_guest_evt(void *arg, const struct qb_vmm_guest_evt *ev)
{
	struct vmb *b = arg;

	if (ev->kind != QB_VMM_GUEST_EVT_CONSOLE_TRUNCATED)
		return;
	if (console_log_rotate(b->log_dir) == -1)
		log_warn("%s: sandbox %s: rotate %s/" CONSOLE_LOG, __func__,
		    b->sandbox_id, b->log_dir);
	else
		log_debug("%s: sandbox %s: " CONSOLE_LOG " rotated", __func__,
		    b->sandbox_id);
}

static void
vm_monitor_lost(void *arg)
{
	struct vmb *b = arg;

	b->qemu_pid = 0;
	vmb_vm_dead(b, "qemubox-vmmon is gone");
}

static int
vmb_init(const struct backend_env *env, void **state, struct qb_error *err)
{
	struct vmb *b;

	if (env->cfg == NULL)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "no valid configuration (%s)", qb_config_path());
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "out of memory");
	b->env = *env;
	b->cfg = *env->cfg;
	b->chan_fd = -1;
	b->fsd_fd = env->fsd_fd;
	TAILQ_INIT(&b->ctrs);
	if (layer_cache_init(&b->lc, b->cfg.paths.state_dir,
	        b->cfg.storage.compression, b->cfg.storage.layer_cache_max_mb,
	        err) == -1)
		goto fail;
	b->lc.spawner_fd = env->spawner_fd;
	if (env->privnet_fd != -1) {
		if ((b->pn = privnet_client_new(env->privnet_fd)) == NULL ||
		    (b->pn_io = evloop_io_add(env->loop,
		         privnet_client_fd(b->pn), EV_READ, pn_io_cb, b)) ==
		        NULL) {
			qb_seterr(err, QB_E_INTERNAL, "privnet client: %s",
			    strerror(errno));
			goto fail;
		}
	}
	if (env->vmmon_fd != -1) {
		b->vm_events.exited = vm_exit_evt;
		b->vm_events.lost = vm_monitor_lost;
		b->vm_events.guest_event = vm_guest_evt;
		b->vm_events.arg = b;
		b->vm =
		    vmmon_client_new(env->loop, env->vmmon_fd, &b->vm_events);
		if (b->vm == NULL) {
			qb_seterr(err, QB_E_INTERNAL, "vmmon client: %s",
			    strerror(errno));
			goto fail;
		}
	}
	*state = b;
	return 0;
fail:
	if (b->pn_io != NULL)
		evloop_io_del(b->pn_io);
	if (b->pn != NULL)
		privnet_client_free(b->pn);
	free(b);
	return -1;
}

static void
vmb_fini(void *st)
{
	struct vmb *b = st;
	struct vmb_ctr *c;

	if (b == NULL)
		return;
	console_log_remove(b->log_dir, b->cfg.runtime.keep_logs);
	while ((c = TAILQ_FIRST(&b->ctrs)) != NULL)
		ctr_free(c);
	if (b->gc != NULL)
		guest_client_free(b->gc);
	if (b->chan_fd != -1)
		close(b->chan_fd);
	if (b->vm != NULL)
		vmmon_client_free(b->vm);
	if (b->pn_io != NULL)
		evloop_io_del(b->pn_io);
	if (b->pn != NULL)
		privnet_client_free(b->pn);
	free(b);
}

const struct backend_ops vm_backend_ops = {
    .name = "vm",
    .init = vmb_init,
    .fini = vmb_fini,
    .create = vmb_create,
    .start = vmb_start,
    .delete = vmb_delete,
    .exec = vmb_exec,
    .kill = vmb_kill,
    .pause = vmb_pause,
    .resume = vmb_resume,
    .resize_pty = vmb_resize_pty,
    .close_io = vmb_close_io,
    .update = vmb_update,
    .pids = vmb_pids,
    .stats = vmb_stats,
    .shutdown = vmb_shutdown,
    .cleanup_orphan = vm_backend_cleanup_orphan,
};

/* ---- `delete` after the daemon died ---------------------------------- */

int
vm_backend_cleanup_orphan(
    const char *ns, const char *id, const char *bundle, struct qb_error *err)
{
	struct qb_config cfg;
	struct qb_net_status st;
	struct privnet_client *pn = NULL;
	struct json_object *spec = NULL;
	struct oci_spec_info si;
	char path[PATH_MAX], dir[PATH_MAX], sid[QB_ID_MAX];
	char *argv[] = {"qemubox-privnet", NULL};
	int sv[2] = {-1, -1}, rc = 0;
	pid_t pid = -1;

	(void)ns;
	if (qb_config_load(qb_config_path(), &cfg, err) == -1)
		return qb_preferr(err, "cleanup %s", id);
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	if ((spec = json_object_from_file(path)) == NULL)
		return 0; /* bundle gone: containerd already cleaned up */
	rc = oci_spec_info(spec, id, &si, err);
	json_object_put(spec);
	if (rc == -1)
		return qb_preferr(err, "cleanup %s", id);
	snprintf(sid, sizeof(sid), "%s", si.sandbox_id);
	/* Only the sandbox's own container owns the network. */
	if (strcmp(sid, id) != 0)
		return 0;
	sandbox_host_reclaim(&cfg, sid);
	if (path_join(dir, sizeof(dir), cfg.paths.log_dir, sid) == 0)
		console_log_remove(dir, cfg.runtime.keep_logs);
	if (shim_libexec_dir(dir, sizeof(dir)) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "libexec dir: %s", strerror(errno));
	if (path_join(path, sizeof(path), dir, "qemubox-privnet") == -1 ||
	    access(path, X_OK) == -1)
		return 0; /* no network helper installed: nothing of ours */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "socketpair: %s", strerror(errno));
	pid = proc_spawn(path, argv, sv[1], PROC_SPAWN_IMSG_FD);
	close(sv[1]);
	if (pid == -1) {
		close(sv[0]);
		return qb_seterr(
		    err, QB_E_INTERNAL, "start %s: %s", path, strerror(errno));
	}
	if ((pn = privnet_client_new(sv[0])) == NULL) {
		close(sv[0]);
		rc = qb_seterr(
		    err, QB_E_INTERNAL, "privnet client: %s", strerror(errno));
		goto out;
	}
	if (privnet_net_status(pn, id, &st, err) == 0 &&
	    st.state != QB_NET_STATE_NONE) {
		log_info("%s: tearing down the network of %s", __func__, id);
		rc = privnet_net_teardown(pn, id, err);
	}
out:
	if (pn != NULL)
		privnet_client_free(pn); /* privnet exits on EOF */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	return rc;
}

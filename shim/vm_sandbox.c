/*
 * The sandbox half of the VM backend: the one VM a shim serves, and what it
 * owns: the network (qemubox-privnet), the VM (qemubox-vmmon), the guest
 * channel and client, the volume share's virtiofsd (qemubox-fsd), hotplug,
 * console.log. The first container's Create boots it (vmb_boot, after that
 * container's disks are ready):
 *
 *   network       -> qemubox-privnet NET_SETUP        (async imsg; TAP fd)
 *   VM            -> qemubox-vmmon START (kernel, initrd, disks, TAP,
 *                    channel, console fds)            (async imsg)
 *   guest ready   -> guest_client on our channel end  (async, bounded)
 *   guest network -> ConfigureNetwork(CNI result)
 *
 * then hands back to the container half (vmb_create_guest_container,
 * shim/vm_container.c); a failed step is undone by vmb_boot_undo. Guest
 * events end up here: an exit becomes task_service_exited(); a dead VM,
 * guest or helper ends every process with an exit report (vmb_vm_dead).
 * Shutdown stops the VM (vmmon: ACPI, quit, SIGKILL) and tears the network
 * down.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "imsg/qemubox_imsg.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/path.h"
#include "lib/proc_spawn.h"
#include "proto/guest.pb-c.h"
#include "shim/console_log.h"
#include "shim/fsd_client.h"
#include "shim/guest_client.h"
#include "shim/oci_spec.h"
#include "shim/privnet_client.h"
#include "shim/sandbox_host.h"
#include "shim/sandbox_hotplug.h"
#include "shim/shim_daemon.h"
#include "shim/stdio_relay.h"
#include "shim/task_service.h"
#include "shim/tmpl_client.h"
#include "shim/transport.h"
#include "shim/vm_backend.h"
#include "shim/vm_backend_int.h"
#include "shim/vmmon_client.h"

#define VMB_KERNEL "kernel/qemubox-kernel-x86_64"
#define VMB_INITRD "kernel/qemubox-initrd"

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

uint64_t
vmb_ms_since(const struct timespec *t0)
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
	if ((c = vmb_ctr_find(b, id)) == NULL ||
	    (p = vmb_proc_find(c, exec_id)) == NULL || p->exited) {
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
	if (vmb_ctr_find(b, id) != NULL)
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
void
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
		vmb_create_fail(b->creating, &err);
		return;
	}
	b->state = VM_DEAD;
	guest_drop(b);
	if (b->vm != NULL && b->qemu_pid > 0)
		vm_shutdown(b, NULL);
	exit_all(b);
}

/* ---- the sandbox of the first Create: network, VM, guest ---------- */

static void
net_teardown_done(void *arg, const struct qb_error *err)
{
	struct vmb *b = arg;

	if (err != NULL)
		log_warnx("%s: network teardown of %s: %s", __func__,
		    b->sandbox_id, err->msg);
}

/*
 * The first Create failed: undo the sandbox in reverse (guest, VM,
 * network); its container's disks go with the container.
 */
void
vmb_boot_undo(struct vmb *b)
{
	struct qb_error e2;

	guest_drop(b);
	/* vmmon takes SHUTDOWN while it starts QEMU too (docs/VMMON.md). */
	if (b->vm != NULL && (b->qemu_pid > 0 || b->starting != NULL))
		vm_shutdown(b, NULL);
	b->starting = NULL;
	b->qemu_pid = 0;
	b->state = VM_NONE;
	memset(b->lun_used, 0, sizeof(b->lun_used));
	/* A NET_WIRE still running answers into nothing; privnet tears
	 * down after it (it serves in order). */
	b->net_wiring = b->net_wait = false;
	if (b->net_up && b->pn != NULL) {
		if (privnet_net_teardown_async(
		        b->pn, b->sandbox_id, net_teardown_done, b, &e2) == -1)
			log_warnx("%s: %s", __func__, e2.msg);
		b->net_up = false;
	}
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
		vmb_create_fail(cr, err);
		return;
	}
	if (!cr->create_early) {
		vmb_create_guest_container(cr);
		return;
	}
	cr->net_configured = true;
	if (cr->guest_created)
		vmb_create_done(cr);
}

/*
 * The guest Create goes without waiting for ConfigureNetwork's answer:
 * right behind it, or ahead of it while the CNI chain still runs (a clone
 * is ready before it is done). The container shares the VM's network,
 * which its process uses only once started, and Create is answered once
 * both are done. Not with OCI hooks, which run during create and may
 * expect the network: then Create follows ConfigureNetwork's answer.
 */
static void
create_alongside(struct vmb_create *cr)
{
	if (cr->create_early ||
	    json_object_object_get_ex(cr->spec, "hooks", NULL))
		return;
	cr->create_early = true;
	vmb_create_guest_container(cr);
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
	char tmac[18];
	char *search[QB_NET_MAX_SEARCH];
	size_t na = 0, nd = 0, i;
	uint32_t n;

	qemubox__guest__v1__configure_network_request__init(&req);
	if (!b->net_up || cr->ctr->later) {
		vmb_create_guest_container(cr);
		return;
	}
	if (b->net_wiring) {
		b->net_wait = true; /* net_wired() comes back here */
		create_alongside(cr);
		return;
	}
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
	    b->net.mac[0], b->net.mac[1], b->net.mac[2], b->net.mac[3],
	    b->net.mac[4], b->net.mac[5]);
	req.mac = mac;
	/*
	 * A clone's NIC has the template's MAC (restored with the VM): the
	 * guest finds it by that and takes the veth's (docs/NETWORKING.md,
	 * "Clones"), or every clone would answer under one MAC.
	 */
	if (b->cloned) {
		snprintf(tmac, sizeof(tmac), "%02x:%02x:%02x:%02x:%02x:%02x",
		    b->tmpl_mac[0], b->tmpl_mac[1], b->tmpl_mac[2],
		    b->tmpl_mac[3], b->tmpl_mac[4], b->tmpl_mac[5]);
		req.mac = tmac;
		req.set_mac = mac;
	}
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
	        VMB_CALL_TIMEOUT_MS, guest_net_done, cr) == -1) {
		vmb_create_failf(cr, QB_E_UNAVAILABLE, "ConfigureNetwork: %s",
		    strerror(errno));
		return;
	}
	create_alongside(cr);
}

void
vmb_guest_ready(struct vmb_create *cr, uint64_t boot_ms)
{
	struct vmb *b = cr->b;

	b->state = VM_READY;
	cr->t_ready = vmb_ms_since(&cr->t0);
	log_info("%s: sandbox %s: guest ready (%s %llu ms, %llu ms since "
	         "Create)",
	    __func__, b->sandbox_id, b->cloned ? "a clone" : "guest boot",
	    (unsigned long long)boot_ms, (unsigned long long)cr->t_ready);
	create_guest_network(cr);
}

static void
on_guest_ready(struct guest_client *gc, uint64_t boot_ms, void *arg)
{
	struct vmb *b = arg;

	(void)gc;
	if (b->state != VM_BOOTING || b->creating == NULL)
		return;
	vmb_guest_ready(b->creating, boot_ms);
}

static int
open_share(const struct vmb *b, const char *rel, struct qb_error *err)
{
	char path[PATH_MAX];
	int fd;

	if (qb_path_join(path, sizeof(path), b->cfg.paths.share_dir, rel) ==
	        -1 ||
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
		vmb_create_failf(
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
	if (vmb_ms_since(&cr->t0) - cr->t_vm >=
	    b->cfg.runtime.boot_timeout_ms) {
		vmb_create_failf(cr, QB_E_DEADLINE,
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
		vmb_create_failf(
		    cr, QB_E_INTERNAL, "timer: %s", strerror(errno));
}

/* The VM is up in vmmon: connect the guest client and wait for ready. */
static void
vm_started(void *arg, const void *resp, size_t len, const struct qb_error *err)
{
	struct vmb *b = arg;
	struct vmb_create *cr = b->starting;
	const struct qb_vmm_start_res *res = resp;

	b->starting = NULL;
	/* The Create failed meanwhile (e.g. its CNI chain, which runs while
	 * QEMU starts): vmb_boot_undo() asked vmmon to stop this VM. */
	if (cr == NULL)
		return;
	if (res == NULL || len != sizeof(*res)) {
		vmb_create_fail(cr, err);
		return;
	}
	b->qemu_pid = res->pid;
	cr->t_vm = vmb_ms_since(&cr->t0);
	log_info(
	    "%s: sandbox %s: QEMU pid %d", __func__, b->sandbox_id, res->pid);
	if (b->transport == QB_VMM_TRANSPORT_VSOCK) {
		vsock_try(NULL, cr);
		return;
	}
	guest_connect(cr);
	if (b->cloned && b->gc != NULL)
		vmb_clone_started(cr);
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
	sp.ram_fd = sp.state_fd = -1;
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
	if (b->cfg.runtime.clone)
		vmb_clone_params(cr, &sp);
	b->state = VM_BOOTING;
	b->starting = cr;
	/* The stub sends duplicates: our fds stay ours to close. */
	if (vmmon_vm_start_async(b->vm, &sp, vm_started, b, &err) == -1) {
		b->state = VM_NONE;
		b->starting = NULL;
		goto fail;
	}
	if (sp.ram_fd != -1)
		close(sp.ram_fd);
	if (sp.state_fd != -1)
		close(sp.state_fd);
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
	if (sp.ram_fd != -1)
		close(sp.ram_fd);
	if (sp.state_fd != -1)
		close(sp.state_fd);
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
	vmb_create_fail(cr, &err);
}

static void
net_ready(void *arg, const struct qb_net_result *res, int tap_fd,
    const struct qb_error *err)
{
	struct vmb_create *cr = arg;
	struct vmb *b = cr->b;

	if (err != NULL) {
		vmb_create_fail(cr, err);
		return;
	}
	b->net = *res;
	b->net_up = true;
	cr->t_net = vmb_ms_since(&cr->t0);
	create_vm(cr, tap_fd);
}

/* Own netns: the CNI chain is done, the guest may get its network. */
static void
net_wired(void *arg, const struct qb_net_result *res, int tap_fd,
    const struct qb_error *err)
{
	struct vmb *b = arg;
	struct vmb_create *cr = b->creating;

	(void)tap_fd; /* -1: NET_WIRE carries none */
	if (!b->net_wiring)
		return; /* the Create failed meanwhile (vmb_boot_undo) */
	b->net_wiring = false;
	if (cr == NULL)
		return;
	if (err != NULL) {
		/* privnet undid it all: CNI DEL, netns, record. */
		vmb_create_fail(cr, err);
		return;
	}
	if (memcmp(res->mac, b->net.mac, sizeof(res->mac)) != 0) {
		vmb_create_failf(cr, QB_E_INTERNAL,
		    "qemubox-privnet: the veth's MAC is not the TAP's");
		return;
	}
	b->net = *res;
	cr->t_wired = vmb_ms_since(&cr->t0);
	if (b->net_wait) {
		b->net_wait = false;
		create_guest_network(cr);
	}
}

/*
 * Own netns: the TAP (and the MAC of the guest NIC) first, QEMU starts with
 * it while privnet runs the CNI chain.
 */
static void
net_tap_ready(void *arg, const struct qb_net_tap *tap, int tap_fd,
    const struct qb_error *err)
{
	struct vmb_create *cr = arg;
	struct vmb *b = cr->b;
	struct qb_error e2 = {0};

	if (err != NULL) {
		vmb_create_fail(cr, err);
		return;
	}
	memset(&b->net, 0, sizeof(b->net));
	memcpy(b->net.mac, tap->mac, sizeof(b->net.mac));
	memcpy(b->net.tap_name, tap->tap_name, sizeof(b->net.tap_name));
	memcpy(b->net.netns_path, tap->netns_path, sizeof(b->net.netns_path));
	b->net_up = true;
	cr->t_net = vmb_ms_since(&cr->t0);
	if (privnet_net_wire_async(b->pn, b->sandbox_id, net_wired, b, &e2) ==
	    -1) {
		close(tap_fd);
		vmb_create_fail(cr, &e2);
		return;
	}
	b->net_wiring = true;
	b->net_wait = false;
	create_vm(cr, tap_fd);
}

/*
 * The first container's disks are ready: the network, then the VM (own
 * netns: the VM boots while the CNI chain runs).
 */
void
vmb_boot(struct vmb_create *cr)
{
	struct vmb *b = cr->b;
	struct qb_error e2 = {0};
	int rc;

	if (b->pn == NULL) {
		vmb_create_failf(cr, QB_E_PRECONDITION,
		    "network helper "
		    "qemubox-privnet is not running");
		return;
	}
	if (cr->si.netns[0] == '\0')
		rc = privnet_net_tap_async(
		    b->pn, b->sandbox_id, net_tap_ready, cr, &e2);
	else
		rc = privnet_net_setup_async(
		    b->pn, b->sandbox_id, cr->si.netns, net_ready, cr, &e2);
	if (rc == -1)
		vmb_create_fail(cr, &e2);
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
		vmb_done_ok(done, b->shutdown_arg, 0);
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

void
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
		vmb_create_fail(b->creating, &err);
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

int
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
	/* runtime.clone: where qemubox-tmpl listens (shim/vm_clone.c). */
	if (b->cfg.runtime.clone && tmpl_client_init(&b->cfg) == -1)
		log_warn("%s: template holder socket path", __func__);
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

void
vmb_fini(void *st)
{
	struct vmb *b = st;
	struct vmb_ctr *c;

	if (b == NULL)
		return;
	console_log_remove(b->log_dir, b->cfg.runtime.keep_logs);
	while ((c = TAILQ_FIRST(&b->ctrs)) != NULL)
		vmb_ctr_free(c);
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
	if (sandbox_host_reclaim(&cfg, sid)) {
		/*
		 * containerd runs `delete` after every Shutdown, while the
		 * daemon is still powering the VM off; the daemon then tears
		 * down the network, removes the console log and gives the uid
		 * back (vmb_shutdown). Tearing the network down here too cost
		 * every `ctr run --rm` a CNI DEL (~400 ms) on containerd's
		 * path and pulled the TAP from under a running QEMU. A daemon
		 * that dies before it is done leaves a record that the next
		 * `delete` or qemubox-cleanup finds with its owner gone.
		 */
		log_info("%s: %s: its shim still runs and tears down itself",
		    __func__, sid);
		return 0;
	}
	if (qb_path_join(dir, sizeof(dir), cfg.paths.log_dir, sid) == 0)
		console_log_remove(dir, cfg.runtime.keep_logs);
	if (shim_libexec_dir(dir, sizeof(dir)) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "libexec dir: %s", strerror(errno));
	if (qb_path_join(path, sizeof(path), dir, "qemubox-privnet") == -1 ||
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
		/* Its daemon died before it was done: worth a warning. */
		log_warnx("%s: %s: its shim is gone; tearing down its network",
		    __func__, id);
		rc = privnet_net_teardown(pn, id, err);
	}
out:
	if (pn != NULL)
		privnet_client_free(pn); /* privnet exits on EOF */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	return rc;
}

/*
 * The hotplug controller starts from the VM's real size, config plus the
 * pod's declared size (oci_spec_vm_size), not the config's boot size: a pod
 * that booted with 2 vCPUs and 640 MiB must not be "grown" to 2 vCPUs, and
 * an Update asking for 1024 MiB adds 384.
 */
struct sandbox_hotplug *
vmb_hotplug_start(struct vmb *b, const struct oci_vm_size *size)
{
	struct sandbox_hotplug *sh;
	struct qb_config *hc;

	if ((hc = malloc(sizeof(*hc))) == NULL) {
		log_warn("%s: sandbox %s", __func__, b->sandbox_id);
		return NULL;
	}
	*hc = b->cfg;
	hc->runtime.boot_cpus = size->boot_cpus;
	hc->runtime.max_cpus = size->max_cpus;
	hc->runtime.memory_mb = size->memory_mb;
	hc->runtime.max_memory_mb = size->max_memory_mb;
	sh =
	    sandbox_hotplug_start(b->env.loop, hc, b->vm, b->gc, b->sandbox_id);
	free(hc);
	return sh;
}

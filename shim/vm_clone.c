/*
 * The sandbox's VM as a clone of the template qemubox-tmpl holds
 * (runtime.clone; docs/PERFORMANCE.md "Pre-booted VMs and cloning"), when
 * the sandbox is one the template can be: no virtio-fs share (vhost-user-fs
 * cannot migrate), no vCPU or memory hotplug, the virtio-serial channel, the
 * template's shape (vCPUs, memory, kernel, initrd, command line: the
 * holder matches them) and device set (a NIC iff the sandbox has a
 * network, the SCSI bus for the container's disks, no boot disks).
 *
 *   vmb_clone_params    the cold-boot START rewritten into the clone's:
 *                       the template's START fields, ram_mode CLONE, the
 *                       sealed RAM memfd and the state fd from the holder,
 *                       the sandbox's own channel, console, TAP and id
 *                       and the container's disks, which vmmon attaches
 *                       as SCSI LUNs 0..n-1 before the clone runs (its
 *                       device set is the template's: no boot disks)
 *   vmb_clone_started   vmmon answered START once QEMU restored, attached
 *                       the disks and let it run: the guest is ready
 *                       already (its READY went to the template's host),
 *                       its SCSI scan under way; SetIdentity (fresh seed,
 *                       host clock) before anything else runs in it, then
 *                       the network (with the MAC privnet wired: set_mac),
 *                       the guest Create
 *
 * Anything else cold-boots as without runtime.clone, with a debug line
 * saying why; a clone that fails after START fails the Create like a boot
 * that fails (the sandbox is undone).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "shim/guest_client.h"
#include "shim/tmpl_client.h"
#include "shim/vm_backend_int.h"

/* Why the sandbox cannot be a clone at all; NULL if it may be. */
static const char *
clone_ineligible(const struct vm_start_params *sp)
{
	if (sp->fs_fd > 0)
		return "it has virtio-fs volumes (vhost-user-fs cannot "
		       "migrate)";
	if (sp->max_cpus > sp->boot_cpus || sp->memory_slots > 0 ||
	    sp->max_memory_mb > sp->memory_mb)
		return "it asks for vCPU or memory hotplug";
	if (sp->transport != QB_VMM_TRANSPORT_VIRTIO_SERIAL)
		return "its guest channel is vsock";
	return NULL;
}

/* Why the template the holder gave cannot host this sandbox; NULL if ok. */
static const char *
template_mismatch(const struct qb_vmm_start_req *t,
    const struct vm_start_params *sp, size_t n_disks)
{
	if (t->memory_mb != sp->memory_mb || t->boot_cpus != sp->boot_cpus)
		return "its shape differs";
	if ((t->has_tap != 0) != (sp->tap_fd != -1))
		return sp->tap_fd != -1 ? "it has no NIC" : "it has a NIC";
	if (t->ndisks != 0 || t->has_fs != 0)
		return "it booted with disks or a share";
	if (n_disks > 0 && t->hotplug_disks == 0)
		return "it has no SCSI bus for the container's disks";
	if (t->transport != sp->transport)
		return "its guest channel differs";
	return NULL;
}

int
vmb_clone_params(struct vmb_create *cr, struct vm_start_params *sp)
{
	struct vmb *b = cr->b;
	struct qb_tmpl_get_req q;
	struct qb_tmpl_res res;
	struct qb_error err = {0};
	const char *why;
	int ram = -1, state = -1;

	if ((why = clone_ineligible(sp)) != NULL) {
		log_debug("%s: sandbox %s cold-boots: %s", __func__,
		    b->sandbox_id, why);
		return 0;
	}
	memset(&q, 0, sizeof(q));
	q.memory_mb = sp->memory_mb;
	q.boot_cpus = sp->boot_cpus;
	/* As asked (AUTO): the holder resolves it (tmpl_match). */
	q.machine = sp->machine;
	q.transport = sp->transport;
	snprintf(q.cmdline, sizeof(q.cmdline), "%s",
	    sp->cmdline != NULL ? sp->cmdline : "");
	if (qb_tmpl_file_id(sp->kernel_fd, &q.kernel) == -1 ||
	    qb_tmpl_file_id(sp->initrd_fd, &q.initrd) == -1) {
		log_warn("%s: sandbox %s cold-boots: fstat", __func__,
		    b->sandbox_id);
		return 0;
	}
	if (tmpl_client_get(&q, &res, &ram, &state, &err) == -1) {
		if (errno == ENOENT)
			log_debug("%s: sandbox %s cold-boots: no template "
			          "(%s)",
			    __func__, b->sandbox_id, err.msg);
		else
			log_warnx("%s: sandbox %s cold-boots: template holder: "
			          "%s",
			    __func__, b->sandbox_id, err.msg);
		return 0;
	}
	if ((why = template_mismatch(&res.start, sp, cr->ctr->plan.n_disks)) !=
	    NULL) {
		log_debug("%s: sandbox %s cold-boots: the template does not "
		          "fit: %s",
		    __func__, b->sandbox_id, why);
		close(ram);
		close(state);
		return 0;
	}
	/* The template's START, but the sandbox's own fds, id and MAC. */
	sp->boot_cpus = res.start.boot_cpus;
	sp->max_cpus = res.start.max_cpus;
	sp->memory_mb = res.start.memory_mb;
	sp->max_memory_mb = res.start.max_memory_mb;
	sp->memory_slots = res.start.memory_slots;
	sp->machine = res.start.machine;
	sp->accel = res.start.accel;
	sp->guest_cid = res.start.guest_cid;
	sp->hotplug_disks = res.start.hotplug_disks != 0;
	memcpy(b->clone_cmdline, res.start.cmdline, sizeof(b->clone_cmdline));
	b->clone_cmdline[sizeof(b->clone_cmdline) - 1] = '\0';
	sp->cmdline = b->clone_cmdline;
	sp->fs_fd = -1;
	sp->ram_mode = QB_VMM_RAM_CLONE;
	sp->ram_fd = ram;
	sp->state_fd = state;
	memcpy(b->tmpl_mac, res.start.mac, sizeof(b->tmpl_mac));
	b->cloned = true;
	log_info("%s: sandbox %s: a clone of template generation %llu (RAM "
	         "%llu MiB, state %llu bytes)",
	    __func__, b->sandbox_id, (unsigned long long)res.generation,
	    (unsigned long long)(res.ram_bytes >> 20),
	    (unsigned long long)res.state_bytes);
	return 1;
}

static void
identity_done(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	struct vmb_create *cr = arg;

	(void)gc;
	(void)resp;
	if (err != NULL && err->code != QB_E_OK) {
		struct qb_error e = *err;

		qb_preferr(&e, "clone SetIdentity");
		vmb_create_fail(cr, &e);
		return;
	}
	vmb_guest_ready(cr, 0);
}

void
vmb_clone_started(struct vmb_create *cr)
{
	struct vmb *b = cr->b;

	size_t i;

	/* Its first container's disks are LUNs 0..n-1 for the VM's life,
	 * as a cold boot's boot disks: a pod's later ones take others. */
	for (i = 0; i < cr->ctr->plan.n_disks; i++)
		b->lun_used[i] = true;
	/* Its READY went to the template's host: ready now. Nothing may run
	 * in it before SetIdentity: no sibling's RNG state, no stale clock. */
	guest_client_restored(b->gc);
	if (guest_client_set_identity(
	        b->gc, VMB_CALL_TIMEOUT_MS, identity_done, cr) == -1)
		vmb_create_failf(cr, QB_E_UNAVAILABLE, "clone SetIdentity: %s",
		    strerror(errno));
}

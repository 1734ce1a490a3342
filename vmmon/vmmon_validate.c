/*
 * vmmon's validate step (see vmmon_validate.h). Order: the message's shape
 * (type, exact size, fd), the permit table, then the payload's contents
 * and, for START, the staged fds it needs. Anything the shim could have
 * known is a violation; a REFUSE is only what depends on the VM (exited,
 * stopping, its machine or accel), which the shim may race with.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>

#include "imsg/imsg.h"
#include "vmmon/qemu_argv.h"
#include "vmmon/vmmon_validate.h"

#define SHUTDOWN_TIMEOUT_MAX_MS 600000
#define MEM_ADD_MAX_MB          (1024u * 1024)

static const struct qb_imsg_shape shapes[] = {
    {IMSG_VMM_FD_REQ, sizeof(struct qb_vmm_fd), 1},
    {IMSG_VMM_START_REQ, sizeof(struct qb_vmm_start_req), 0},
    {IMSG_VMM_SHUTDOWN_REQ, sizeof(struct qb_vmm_shutdown_req), 0},
    {IMSG_VMM_STATUS_REQ, 0, 0},
    {IMSG_VMM_PAUSE_REQ, 0, 0},
    {IMSG_VMM_RESUME_REQ, 0, 0},
    {IMSG_VMM_CPU_ADD_REQ, 0, 0},
    {IMSG_VMM_CPU_DEL_REQ, 0, 0},
    {IMSG_VMM_CPU_QUERY_REQ, 0, 0},
    {IMSG_VMM_MEM_ADD_REQ, sizeof(struct qb_vmm_mem_add_req), 0},
    {IMSG_VMM_MEM_DEL_REQ, 0, 0},
    {IMSG_VMM_MEM_QUERY_REQ, 0, 0},
    {IMSG_VMM_DISK_ADD_REQ, sizeof(struct qb_vmm_disk_add_req), 1},
    {IMSG_VMM_DISK_DEL_REQ, sizeof(struct qb_vmm_disk_del_req), 0},
    {IMSG_VMM_SAVE_REQ, 0, 0},
};

/* The requests that need a running VM (status, pause/resume, hotplug). */
static bool
needs_vm(uint32_t type)
{
	switch (type) {
	case IMSG_VMM_STATUS_REQ:
	case IMSG_VMM_PAUSE_REQ:
	case IMSG_VMM_RESUME_REQ:
	case IMSG_VMM_CPU_ADD_REQ:
	case IMSG_VMM_CPU_DEL_REQ:
	case IMSG_VMM_CPU_QUERY_REQ:
	case IMSG_VMM_MEM_ADD_REQ:
	case IMSG_VMM_MEM_DEL_REQ:
	case IMSG_VMM_MEM_QUERY_REQ:
	case IMSG_VMM_DISK_ADD_REQ:
	case IMSG_VMM_DISK_DEL_REQ:
	case IMSG_VMM_SAVE_REQ:
		return true;
	}
	return false;
}

/*
 *              STAGING  STARTING  RUNNING  STOPPING  EXITED
 * FD, START    act      -         -        -         -
 * SHUTDOWN     act      act       act      refuse    act
 * needs_vm     -        -         act      refuse    refuse
 *
 * "-" is a violation: the shim knows it sent START, and it knows START_RES
 * has not come. A SHUTDOWN with no VM (STAGING, EXITED) is answered at
 * once; the shim may send it from two paths, hence refuse while stopping.
 * The VM may stop or exit at any moment the shim cannot see: refuse.
 */
enum vmmon_verdict
vmmon_permit(enum vmmon_phase phase, uint32_t type)
{
	switch (type) {
	case IMSG_VMM_FD_REQ:
	case IMSG_VMM_START_REQ:
		return phase == VMMON_STAGING ? VMMON_ACT : VMMON_VIOLATION;
	case IMSG_VMM_SHUTDOWN_REQ:
		return phase == VMMON_STOPPING ? VMMON_REFUSE : VMMON_ACT;
	}
	if (!needs_vm(type))
		return VMMON_VIOLATION;
	switch (phase) {
	case VMMON_RUNNING:
		return VMMON_ACT;
	case VMMON_STOPPING:
	case VMMON_EXITED:
		return VMMON_REFUSE;
	default:
		return VMMON_VIOLATION;
	}
}

static enum vmmon_verdict
violation(struct qb_error *err, const char *why)
{
	qb_seterr(err, QB_E_INVALID, "%s", why);
	return VMMON_VIOLATION;
}

static bool
staged(const struct vmmon_view *v, uint32_t role)
{
	return (v->staged_roles & (1u << role)) != 0;
}

static enum vmmon_verdict
check_fd(
    const struct vmmon_view *v, const struct qb_vmm_fd *f, struct qb_error *err)
{
	switch (f->role) {
	case QB_VMM_FD_DISK:
		if (f->index >= QB_VMM_MAX_DISKS)
			return violation(err, "disk fd index out of range");
		if (v->staged_disks & (1u << f->index))
			return violation(err, "disk fd staged twice");
		return VMMON_ACT;
	case QB_VMM_FD_KERNEL:
	case QB_VMM_FD_INITRD:
	case QB_VMM_FD_CHANNEL:
	case QB_VMM_FD_CONSOLE_LOG:
	case QB_VMM_FD_TAP:
	case QB_VMM_FD_VHOST_VSOCK:
	case QB_VMM_FD_VHOST_USER_FS:
	case QB_VMM_FD_RAM:
	case QB_VMM_FD_STATE:
		if (f->index != 0)
			return violation(err, "fd index on a non-disk role");
		if (staged(v, f->role))
			return violation(err, "fd role staged twice");
		return VMMON_ACT;
	}
	return violation(err, "unknown fd role");
}

/* A fixed-size string field: NUL inside and, unless empty, a token. */
static bool
token_field(const char *field, size_t len, bool may_be_empty)
{
	ssize_t n = qb_imsg_check_strfield(field, len);

	if (n < 0 || (n == 0 && !may_be_empty))
		return false;
	return qemu_argv_safe_token(field);
}

static enum vmmon_verdict
check_start(const struct vmmon_view *v, const struct qb_vmm_start_req *q,
    struct qb_error *err)
{
	uint32_t want = (1u << QB_VMM_FD_KERNEL) | (1u << QB_VMM_FD_INITRD);
	uint32_t optional = 1u << QB_VMM_FD_CONSOLE_LOG;
	unsigned i;

	if (q->hotplug_disks > 1)
		return violation(err, "start: hotplug_disks is not 0 or 1");
	if (!token_field(q->id, sizeof(q->id), false))
		return violation(
		    err, "start: id: need 1..63 of [A-Za-z0-9_.-]");
	if (qb_imsg_check_strfield(q->cmdline, sizeof(q->cmdline)) < 0 ||
	    !qemu_argv_cmdline_ok(q->cmdline))
		return violation(err, "start: cmdline: unterminated or not "
		                      "printable ASCII");
	if (q->accel != QB_VMM_ACCEL_AUTO && q->accel != QB_VMM_ACCEL_KVM &&
	    q->accel != QB_VMM_ACCEL_TCG)
		return violation(err, "start: unknown accel");
	if (qemu_vm_shape_check(q->machine, q->boot_cpus, q->max_cpus,
	        q->memory_mb, q->max_memory_mb, q->memory_slots, err) == -1)
		return VMMON_VIOLATION;
	switch (q->transport) {
	case QB_VMM_TRANSPORT_VIRTIO_SERIAL:
		want |= 1u << QB_VMM_FD_CHANNEL;
		break;
	case QB_VMM_TRANSPORT_VSOCK:
		if (q->guest_cid < 3)
			return violation(err, "start: vsock: guest cid < 3");
		want |= 1u << QB_VMM_FD_VHOST_VSOCK;
		break;
	default:
		return violation(err, "start: unknown transport");
	}
	if (q->has_tap > 1)
		return violation(err, "start: has_tap is not 0 or 1");
	if (q->has_tap)
		want |= 1u << QB_VMM_FD_TAP;
	if (q->has_fs > 1)
		return violation(err, "start: has_fs is not 0 or 1");
	if (q->has_fs)
		want |= 1u << QB_VMM_FD_VHOST_USER_FS;
	switch (q->ram_mode) {
	case QB_VMM_RAM_ANON:
		break;
	case QB_VMM_RAM_TEMPLATE:
	case QB_VMM_RAM_CLONE:
		if (q->has_fs)
			return violation(err, "start: ram_mode template/clone "
			                      "with has_fs (vhost-user-fs "
			                      "cannot migrate)");
		if (q->max_cpus != q->boot_cpus)
			return violation(err, "start: ram_mode template/clone "
			                      "needs max_cpus == boot_cpus "
			                      "(no vCPU hotplug)");
		if (q->memory_slots != 0)
			return violation(err, "start: ram_mode template/clone "
			                      "needs memory_slots 0 (no "
			                      "memory hotplug)");
		want |= (1u << QB_VMM_FD_RAM) | (1u << QB_VMM_FD_STATE);
		break;
	default:
		return violation(err, "start: unknown ram_mode");
	}
	if ((v->staged_roles & ~optional) != want)
		return violation(err,
		    "start: the staged fds do not match "
		    "(kernel, initrd, channel or vhost-vsock, "
		    "tap iff has_tap, vhost-user-fs iff has_fs, "
		    "ram and state iff ram_mode template/clone)");
	if (q->ndisks > QB_VMM_MAX_DISKS)
		return violation(err, "start: too many disks");
	if (q->ram_mode == QB_VMM_RAM_CLONE && q->ndisks > 0 &&
	    q->hotplug_disks != 1)
		return violation(err, "start: ram_mode clone: disks are LUNs "
		                      "and need hotplug_disks");
	if (v->staged_disks != (uint32_t)((1ull << q->ndisks) - 1))
		return violation(err, "start: disk fds do not match ndisks");
	for (i = 0; i < q->ndisks; i++) {
		if (q->disks[i].readonly > 1)
			return violation(
			    err, "start: disk readonly not 0 or 1");
		if (!token_field(q->disks[i].serial, sizeof(q->disks[i].serial),
		        q->ram_mode != QB_VMM_RAM_CLONE))
			return violation(err, "start: disk serial: need <= 20 "
			                      "(a clone's: 1..20) of "
			                      "[A-Za-z0-9_.-]");
	}
	return VMMON_ACT;
}

/*
 * A pod's disk: a LUN in range and in the state the shim knows it in (it
 * picks free LUNs and removes only what DISK_RES confirmed), a non-empty
 * safe serial, and an fd whose access mode is what readonly says.
 */
static enum vmmon_verdict
check_disk(const struct vmmon_view *v, const struct vmmon_msg *m,
    const struct vmmon_request *q, struct qb_error *err)
{
	const struct qb_vmm_disk_add_req *a = &q->u.disk_add;
	int mode = m->fd_flags & O_ACCMODE;

	if (m->type == IMSG_VMM_DISK_DEL_REQ) {
		if (q->u.disk_del.lun >= QB_VMM_MAX_LUNS ||
		    v->lun_state[q->u.disk_del.lun] != LUN_USED)
			return violation(err, "disk_del: no disk at that lun");
		return VMMON_ACT;
	}
	if (a->lun >= QB_VMM_MAX_LUNS || v->lun_state[a->lun] != LUN_FREE)
		return violation(err, "disk_add: lun out of range or in use");
	if (!token_field(a->disk.serial, sizeof(a->disk.serial), false))
		return violation(
		    err, "disk_add: serial: need 1..20 of [A-Za-z0-9_.-]");
	if (a->disk.readonly > 1 || m->fd_flags == -1 || mode == O_WRONLY ||
	    (mode == O_RDONLY) != (a->disk.readonly == 1))
		return violation(
		    err, "disk_add: fd access mode does not match readonly");
	return VMMON_ACT;
}

/* The VM's own limits: answered, the request itself was fine. */
static enum vmmon_verdict
check_vm(const struct vmmon_view *v, uint32_t type, struct qb_error *err)
{
	bool hotplug = type != IMSG_VMM_STATUS_REQ &&
	               type != IMSG_VMM_PAUSE_REQ &&
	               type != IMSG_VMM_RESUME_REQ;

	if (type == IMSG_VMM_SAVE_REQ) {
		if (v->ram_mode != QB_VMM_RAM_TEMPLATE) {
			qb_seterr(err, QB_E_PRECONDITION,
			    "save: the VM was not started in template mode");
			return VMMON_REFUSE;
		}
		return VMMON_ACT;
	}
	if (type == IMSG_VMM_DISK_ADD_REQ || type == IMSG_VMM_DISK_DEL_REQ) {
		if (!v->scsi) {
			qb_seterr(err, QB_E_PRECONDITION,
			    "the VM was started without hotplug_disks");
			return VMMON_REFUSE;
		}
		return VMMON_ACT;
	}

	if (hotplug && v->machine != QB_VMM_MACHINE_Q35) {
		qb_seterr(err, QB_E_PRECONDITION,
		    "hotplug needs machine q35 (VM is microvm)");
		return VMMON_REFUSE;
	}
	/*
	 * Measured: after a vCPU unplug under TCG, QEMU 7.2 aborts soon after
	 * (heap corruption; reproduced with plain QEMU, outside qemubox).
	 * Refusing keeps the sandbox alive.
	 */
	if (type == IMSG_VMM_CPU_DEL_REQ && v->accel == QB_VMM_ACCEL_TCG) {
		qb_seterr(err, QB_E_PRECONDITION,
		    "vCPU hot-unplug is disabled under TCG (QEMU 7.2 "
		    "corrupts its heap after it)");
		return VMMON_REFUSE;
	}
	return VMMON_ACT;
}

enum vmmon_verdict
vmmon_validate(const struct vmmon_view *v, const struct vmmon_msg *m,
    struct vmmon_request *out, struct qb_error *err)
{
	const struct qb_imsg_shape *sh;
	const char *why;
	enum vmmon_verdict permit;

	memset(out, 0, sizeof(*out));
	qb_clearerr(err);
	if ((sh = qb_imsg_shape_check(shapes,
	         sizeof(shapes) / sizeof(shapes[0]), m->type, m->len,
	         m->fd != -1, &why)) == NULL)
		return violation(err, why);
	out->type = m->type;
	if (sh->len > 0)
		memcpy(&out->u, m->data, sh->len);

	if ((permit = vmmon_permit(v->phase, m->type)) == VMMON_VIOLATION)
		return violation(err, "request out of order");

	switch (m->type) {
	case IMSG_VMM_FD_REQ:
		return check_fd(v, &out->u.fd, err);
	case IMSG_VMM_START_REQ:
		return check_start(v, &out->u.start, err);
	case IMSG_VMM_SHUTDOWN_REQ:
		if (out->u.shutdown.timeout_ms > SHUTDOWN_TIMEOUT_MAX_MS)
			return violation(err, "shutdown: timeout over 600 s");
		break;
	case IMSG_VMM_MEM_ADD_REQ:
		if (out->u.mem_add.size_mb == 0 ||
		    out->u.mem_add.size_mb % 128 != 0 ||
		    out->u.mem_add.size_mb > MEM_ADD_MAX_MB)
			return violation(err, "mem_add: size must be a "
			                      "multiple of 128 MiB, <= 1 TiB");
		break;
	case IMSG_VMM_DISK_ADD_REQ:
	case IMSG_VMM_DISK_DEL_REQ:
		if (check_disk(v, m, out, err) == VMMON_VIOLATION)
			return VMMON_VIOLATION;
		break;
	}

	/* Well-formed and in order; what remains depends on the VM. */
	if (permit == VMMON_REFUSE) {
		if (m->type == IMSG_VMM_SHUTDOWN_REQ)
			qb_seterr(err, QB_E_PRECONDITION,
			    "shutdown already in progress");
		else
			qb_seterr(
			    err, QB_E_PRECONDITION, "the VM is not running");
		return VMMON_REFUSE;
	}
	if (m->type == IMSG_VMM_SHUTDOWN_REQ)
		return VMMON_ACT;
	return check_vm(v, m->type, err);
}

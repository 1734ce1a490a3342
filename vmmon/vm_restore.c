/*
 * qemubox-vmmon: a clone's restore (START with ram_mode CLONE;
 * docs/PERFORMANCE.md "Pre-booted VMs and cloning"). QEMU runs on the
 * template's sealed RAM memfd mapped private, with `-incoming defer`;
 * right after QMP's handshake vmmon sends
 *
 *   migrate-set-capabilities  x-ignore-shared (RAM stays in the memfd;
 *                             both sides set it) and events
 *   getfd qb-state            the STATE fd, by SCM_RIGHTS
 *   migrate-incoming          fd:qb-state
 *   MIGRATION "completed"     the device state is loaded; the template was
 *                             stopped when saved, so the clone is paused
 *   blockdev-add, device_add  per disk of START: LUN i on scsi0, raw over
 *                             fd set QEMU_LUN_FDSET_BASE + i (-add-fd),
 *                             as a pod's hot-added disks (disk_hotplug.c);
 *                             the guest's SCSI scan starts as it runs
 *   cont                      once the last device_add answered
 *
 * and only then answers START. A state QEMU cannot load makes QEMU 7.2
 * exit ("load of migration failed: ..."): START fails with that line
 * (vm_exited). A QMP refusal on the way (a disk QEMU cannot use: which
 * disk, and why) kills QEMU and START fails with it; a restore not done
 * by RESTORE_TIMEOUT_MS is killed by the start deadline. vmmon never
 * parses the state: QEMU does, into the clone's own private memory, so a
 * bad state harms only this VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "vmmon/vmmon.h"

#define STATE_FDNAME "qb-state"
/* A clone's RAM: the template's memfd, which nobody may change any more. */
#define RAM_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

enum { R_CAPS, R_GETFD, R_INCOMING, R_CONT, R_BLOCKDEV, R_DEVICE };
static const char *const step_name[] = {"migrate-set-capabilities", "getfd",
    "migrate-incoming", "cont", "blockdev-add", "device_add"};
/* A step and, for the disk steps, the disk (LUN) it is for. */
#define STEP(s, d) ((void *)(uintptr_t)((s) | ((d) << 8)))

static void restore_step(void *arg, const struct qmp_result *res);

/*
 * Before QEMU starts: the RAM memfd is sealed against every change (a
 * clone's QEMU, or any other, cannot alter the template) and the state fd
 * cannot be written (a clone cannot change what its siblings restore).
 */
int
vm_restore_check(int ram_fd, int state_fd, struct qb_error *err)
{
	int seals = fcntl(ram_fd, F_GET_SEALS), fl = fcntl(state_fd, F_GETFL);

	if (seals == -1 || (seals & RAM_SEALS) != RAM_SEALS)
		return qb_seterr(err, QB_E_INVALID,
		    "clone: the RAM fd is not a memfd sealed against write, "
		    "shrink, grow and new seals (seals %#x%s%s)",
		    seals == -1 ? 0 : seals, seals == -1 ? ": " : "",
		    seals == -1 ? strerror(errno) : "");
	/* Read-only, or a memfd sealed against writes (the holder's copy). */
	if (fl == -1 || ((fl & O_ACCMODE) != O_RDONLY &&
	                    (fcntl(state_fd, F_GET_SEALS) & F_SEAL_WRITE) == 0))
		return qb_seterr(err, QB_E_INVALID,
		    "clone: the state fd is neither read-only nor sealed "
		    "against writes");
	return 0;
}

/* Kills QEMU; START fails with why (vm_exited quotes it). */
static void restore_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
restore_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vmmon.vm.start_why, sizeof(vmmon.vm.start_why), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", __func__, vmmon.vm.start_why);
	vmmon.vm.restoring = false;
	vm_kill("the clone's restore failed");
}

/*
 * QMP's handshake is done (an fd can go with a command only then): the
 * whole sequence up to migrate-incoming is queued at once. state_fd stays
 * vmmon's (qmp_execute_fd sends a duplicate).
 */
void
vm_restore_begin(int state_fd)
{
	if (vm_qmp("migrate-set-capabilities", vm_migrate_caps(), restore_step,
	        STEP(R_CAPS, 0)) == -1 ||
	    qmp_execute_fd(vmmon.vm.qmp, "getfd",
	        vm_qmp_arg("fdname", STATE_FDNAME), state_fd,
	        QMP_CMD_TIMEOUT_MS, restore_step, STEP(R_GETFD, 0)) == -1 ||
	    vm_qmp("migrate-incoming", vm_qmp_arg("uri", "fd:" STATE_FDNAME),
	        restore_step, STEP(R_INCOMING, 0)) == -1)
		restore_fail("queue the restore: %s", strerror(errno));
}

static void
restore_cont(void)
{
	if (vm_qmp("cont", NULL, restore_step, STEP(R_CONT, 0)) == -1)
		restore_fail("cont: %s", strerror(errno));
}

/*
 * The state is loaded: every disk's blockdev-add and device_add queued at
 * once (QMP runs them in order), cont after the last; no disk: cont.
 */
static void
restore_disks(void)
{
	const struct qb_vmm_disk *d;
	unsigned i;

	if (vmmon.vm.clone_ndisks == 0) {
		restore_cont();
		return;
	}
	for (i = 0; i < vmmon.vm.clone_ndisks; i++) {
		d = &vmmon.vm.clone_disks[i];
		vmmon.vm.lun_state[i] = LUN_BUSY;
		if (vm_qmp("blockdev-add",
		        disk_lun_blockdev_args(i, d->readonly != 0),
		        restore_step, STEP(R_BLOCKDEV, i)) == -1 ||
		    vm_qmp("device_add",
		        disk_lun_device_args(i, d->serial, d->readonly != 0),
		        restore_step, STEP(R_DEVICE, i)) == -1) {
			restore_fail("disk %u: queue: %s", i, strerror(errno));
			return;
		}
	}
}

/* The answer to one of the queued commands, or to cont. */
static void
restore_step(void *arg, const struct qmp_result *res)
{
	int step = (int)((uintptr_t)arg & 0xff);
	unsigned disk = (unsigned)((uintptr_t)arg >> 8);

	if (vmmon.vm.state != VM_STARTING || !vmmon.vm.restoring)
		return; /* failed meanwhile; vm_exited answers START */
	if (!res->ok) {
		if (res->closed)
			return; /* QEMU exited: its stderr has the reason */
		if (step == R_BLOCKDEV || step == R_DEVICE)
			restore_fail("disk %u (serial %s): %s: %s", disk,
			    vmmon.vm.clone_disks[disk].serial, step_name[step],
			    res->timed_out ? "QEMU did not answer"
			                   : res->err_desc);
		else
			restore_fail("%s: %s", step_name[step],
			    res->timed_out ? "QEMU did not answer"
			                   : res->err_desc);
		return;
	}
	switch (step) {
	case R_DEVICE:
		vmmon.vm.lun_state[disk] = LUN_USED;
		log_debug("%s: lun %u serial %s attached", __func__, disk,
		    vmmon.vm.clone_disks[disk].serial);
		if (disk + 1 == vmmon.vm.clone_ndisks)
			restore_cont();
		break;
	case R_CONT:
		vmmon.vm.restoring = false;
		log_info("%s: clone restored and running (%u disk%s)", __func__,
		    vmmon.vm.clone_ndisks,
		    vmmon.vm.clone_ndisks == 1 ? "" : "s");
		vm_start_answer();
		break;
	}
}

/* QMP's MIGRATION event while restoring: "completed" -> cont. */
void
vm_restore_event(json_object *data)
{
	json_object *v;
	const char *st;

	if (vmmon.vm.state != VM_STARTING || !vmmon.vm.restoring ||
	    data == NULL || !json_object_object_get_ex(data, "status", &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	st = json_object_get_string(v);
	log_debug("%s: incoming migration %s", __func__, st);
	if (strcmp(st, "completed") == 0)
		restore_disks();
	else if (strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0)
		/* QEMU 7.2 exits after a failed load, its reason on stderr;
		 * the start deadline covers one that would not. */
		log_warnx("%s: incoming migration %s", __func__, st);
}

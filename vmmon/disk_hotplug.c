/*
 * qemubox-vmmon: a pod's later containers get their disks while the VM runs,
 * as scsi-hd LUNs on the virtio-scsi controller scsi0 (microvm cannot
 * hot-plug virtio-mmio devices; virtio-scsi has its own hotplug bus).
 *
 *   add:    add-fd (fdset 100+lun, fd over SCM_RIGHTS) -> blockdev-add
 *           (raw over /dev/fdset/N) -> device_add scsi-hd lun=N serial=S
 *   remove: device_del -> DEVICE_DELETED -> blockdev-del -> remove-fd
 *
 * A clone's disks are LUNs too, attached the same way (blockdev-add and
 * device_add with the arguments below) by vm_restore.c before the clone
 * runs, their fds already in QEMU from -add-fd.
 *
 * A failed add undoes what it did. Names derive from the LUN only (node
 * hd<N>, device hdev<N>), so nothing the shim sends reaches QMP unchecked
 * but the serial, which is a safe token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "vmmon/qemu_argv.h"
#include "vmmon/vmmon.h"

static void disk_add_step(void *arg, const struct qmp_result *res);
static void disk_del_step(void *arg, const struct qmp_result *res);

static void
node_names(uint32_t lun, char *node, size_t nlen, char *dev, size_t dlen)
{
	snprintf(node, nlen, "hd%u", lun);
	snprintf(dev, dlen, "hdev%u", lun);
}

/* blockdev-add's arguments: LUN lun's node, raw over its fd set. */
json_object *
disk_lun_blockdev_args(uint32_t lun, bool readonly)
{
	char node[16], dev[16], fn[32];
	json_object *args, *file;

	node_names(lun, node, sizeof(node), dev, sizeof(dev));
	snprintf(fn, sizeof(fn), "/dev/fdset/%u", QEMU_LUN_FDSET_BASE + lun);
	file = json_object_new_object();
	json_object_object_add(file, "driver", json_object_new_string("file"));
	json_object_object_add(file, "filename", json_object_new_string(fn));
	args = json_object_new_object();
	json_object_object_add(args, "driver", json_object_new_string("raw"));
	json_object_object_add(args, "node-name", json_object_new_string(node));
	json_object_object_add(
	    args, "read-only", json_object_new_boolean(readonly));
	json_object_object_add(args, "file", file);
	return args;
}

/* device_add's arguments: LUN lun on scsi0, its node as the drive. */
json_object *
disk_lun_device_args(uint32_t lun, const char *serial, bool readonly)
{
	char node[16], dev[16];
	json_object *args;

	node_names(lun, node, sizeof(node), dev, sizeof(dev));
	args = json_object_new_object();
	json_object_object_add(
	    args, "driver", json_object_new_string("scsi-hd"));
	json_object_object_add(args, "id", json_object_new_string(dev));
	json_object_object_add(args, "drive", json_object_new_string(node));
	json_object_object_add(args, "bus", json_object_new_string("scsi0.0"));
	json_object_object_add(args, "scsi-id", json_object_new_int(0));
	json_object_object_add(args, "lun", json_object_new_int((int)lun));
	json_object_object_add(args, "serial", json_object_new_string(serial));
	/* As for boot disks: a full host disk is EIO, not a pause. */
	if (!readonly)
		json_object_object_add(
		    args, "werror", json_object_new_string("report"));
	return args;
}

/* Fire-and-forget cleanup after a failed add (ordered by QMP itself). */
static void
disk_add_undo(uint32_t lun, int step)
{
	char node[16], dev[16];
	json_object *a;

	node_names(lun, node, sizeof(node), dev, sizeof(dev));
	if (step >= 3) {
		a = json_object_new_object();
		json_object_object_add(
		    a, "node-name", json_object_new_string(node));
		vm_qmp("blockdev-del", a, NULL, NULL);
	}
	if (step >= 2) {
		a = json_object_new_object();
		json_object_object_add(a, "fdset-id",
		    json_object_new_int(QEMU_LUN_FDSET_BASE + (int)lun));
		vm_qmp("remove-fd", a, NULL, NULL);
	}
}

struct disk_add {
	struct req *r;
	struct qb_vmm_disk disk;
};

static void
disk_add_fail(
    struct disk_add *a, const struct qmp_result *res, const char *what)
{
	disk_add_undo(a->r->lun, a->r->step);
	vmmon.vm.lun_state[a->r->lun] = LUN_FREE;
	qmp_failed(a->r, res, what);
	free(a);
}

void
disk_add(struct req *r, const struct qb_vmm_disk_add_req *q, int fd)
{
	struct disk_add *a;
	json_object *args;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("%s", __func__);
	a->r = r;
	a->disk = q->disk;
	r->lun = q->lun;
	r->step = 1;
	vmmon.vm.lun_state[r->lun] = LUN_BUSY;
	args = json_object_new_object();
	json_object_object_add(args, "fdset-id",
	    json_object_new_int(QEMU_LUN_FDSET_BASE + (int)q->lun));
	if (qmp_execute_fd(vmmon.vm.qmp, "add-fd", args, fd, QMP_CMD_TIMEOUT_MS,
	        disk_add_step, a) == -1) {
		vmmon.vm.lun_state[r->lun] = LUN_FREE;
		req_fail(r, QB_E_INTERNAL, "qmp add-fd: %s", strerror(errno));
		free(a);
	}
}

static void
disk_add_step(void *arg, const struct qmp_result *res)
{
	static const char *const what[] = {
	    "", "add-fd", "blockdev-add", "device_add scsi-hd"};
	struct disk_add *a = arg;
	struct req *r = a->r;
	struct qb_vmm_disk_res out;
	char node[16], dev[16];

	if (!res->ok) {
		disk_add_fail(a, res, what[r->step]);
		return;
	}
	node_names(r->lun, node, sizeof(node), dev, sizeof(dev));
	switch (r->step) {
	case 1:
		r->step = 2;
		if (vm_qmp("blockdev-add",
		        disk_lun_blockdev_args(r->lun, a->disk.readonly != 0),
		        disk_add_step, a) == -1)
			goto qmp_err;
		return;
	case 2:
		r->step = 3;
		if (vm_qmp("device_add",
		        disk_lun_device_args(
		            r->lun, a->disk.serial, a->disk.readonly != 0),
		        disk_add_step, a) == -1)
			goto qmp_err;
		return;
	default:
		vmmon.vm.lun_state[r->lun] = LUN_USED;
		memset(&out, 0, sizeof(out));
		out.lun = r->lun;
		snprintf(out.dev_id, sizeof(out.dev_id), "%s", dev);
		log_info("%s: lun %u serial %s added as %s", __func__, r->lun,
		    a->disk.serial, dev);
		send_msg(IMSG_VMM_DISK_RES, r->peerid, &out, sizeof(out));
		free(r);
		free(a);
		return;
	}
qmp_err:
	disk_add_undo(r->lun, r->step);
	vmmon.vm.lun_state[r->lun] = LUN_FREE;
	req_fail(
	    r, QB_E_INTERNAL, "qmp %s: %s", what[r->step], strerror(errno));
	free(a);
}

void
disk_del(struct req *r)
{
	char node[16];
	json_object *args;

	if (vmmon.vm.unplug.r != NULL) {
		req_fail(r, QB_E_UNAVAILABLE, "another unplug is in progress");
		return;
	}
	node_names(r->lun, node, sizeof(node), r->dev, sizeof(r->dev));
	vmmon.vm.lun_state[r->lun] = LUN_BUSY;
	r->step = 1;
	args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_string(r->dev));
	if (vm_qmp("device_del", args, disk_del_step, r) == -1) {
		vmmon.vm.lun_state[r->lun] = LUN_USED;
		req_fail(
		    r, QB_E_INTERNAL, "qmp device_del: %s", strerror(errno));
	}
}

/* DEVICE_DELETED (or its time-out) for r's device. */
void
disk_unplugged(struct req *r, bool ok, const char *why)
{
	char node[16], dev[16];
	json_object *args;

	if (!ok) {
		vmmon.vm.lun_state[r->lun] = LUN_USED;
		req_fail(r, QB_E_ABORTED, "unplug %s: %s", r->dev, why);
		return;
	}
	node_names(r->lun, node, sizeof(node), dev, sizeof(dev));
	args = json_object_new_object();
	json_object_object_add(args, "node-name", json_object_new_string(node));
	r->step = 2;
	if (vm_qmp("blockdev-del", args, disk_del_step, r) == -1) {
		vmmon.vm.lun_state[r->lun] = LUN_USED;
		req_fail(
		    r, QB_E_INTERNAL, "qmp blockdev-del: %s", strerror(errno));
	}
}

static void
disk_del_step(void *arg, const struct qmp_result *res)
{
	struct req *r = arg;
	struct qb_vmm_disk_res out;
	json_object *args;

	if (!res->ok) {
		/* Past device_del the device may be gone: the LUN stays busy.
		 */
		if (r->step == 1)
			vmmon.vm.lun_state[r->lun] = LUN_USED;
		qmp_failed(r, res,
		    r->step == 1   ? "device_del"
		    : r->step == 2 ? "blockdev-del"
		                   : "remove-fd");
		return;
	}
	switch (r->step) {
	case 1:
		unplug_wait(r);
		return;
	case 2:
		args = json_object_new_object();
		json_object_object_add(args, "fdset-id",
		    json_object_new_int(QEMU_LUN_FDSET_BASE + (int)r->lun));
		r->step = 3;
		if (vm_qmp("remove-fd", args, disk_del_step, r) == -1)
			req_fail(r, QB_E_INTERNAL, "qmp remove-fd: %s",
			    strerror(errno));
		return;
	default:
		vmmon.vm.lun_state[r->lun] = LUN_FREE;
		memset(&out, 0, sizeof(out));
		out.lun = r->lun;
		snprintf(out.dev_id, sizeof(out.dev_id), "%s", r->dev);
		send_msg(IMSG_VMM_DISK_RES, r->peerid, &out, sizeof(out));
		free(r);
		return;
	}
}

/*
 * vmmon's validate step: the permit table (every request type in every
 * phase) and, for every request type, a good request, a wrong size, the
 * wrong state, a bad string or value and a missing or stray fd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmmon/vmmon_validate.h"

#define ACT VMMON_ACT
#define REF VMMON_REFUSE
#define VIO VMMON_VIOLATION

static const uint32_t types[] = {IMSG_VMM_FD_REQ, IMSG_VMM_START_REQ,
    IMSG_VMM_SHUTDOWN_REQ, IMSG_VMM_STATUS_REQ, IMSG_VMM_PAUSE_REQ,
    IMSG_VMM_RESUME_REQ, IMSG_VMM_CPU_ADD_REQ, IMSG_VMM_CPU_DEL_REQ,
    IMSG_VMM_CPU_QUERY_REQ, IMSG_VMM_MEM_ADD_REQ, IMSG_VMM_MEM_DEL_REQ,
    IMSG_VMM_MEM_QUERY_REQ, IMSG_VMM_DISK_ADD_REQ, IMSG_VMM_DISK_DEL_REQ,
    IMSG_VMM_SAVE_REQ};
#define NTYPES (sizeof(types) / sizeof(types[0]))

/* Rows in the order of types[], columns STAGING..EXITED. */
static const enum vmmon_verdict want_permit[NTYPES][VMMON_PHASES] = {
    {ACT, VIO, VIO, VIO, VIO}, /* FD */
    {ACT, VIO, VIO, VIO, VIO}, /* START */
    {ACT, ACT, ACT, REF, ACT}, /* SHUTDOWN */
    {VIO, VIO, ACT, REF, REF}, /* STATUS */
    {VIO, VIO, ACT, REF, REF}, /* PAUSE */
    {VIO, VIO, ACT, REF, REF}, /* RESUME */
    {VIO, VIO, ACT, REF, REF}, /* CPU_ADD */
    {VIO, VIO, ACT, REF, REF}, /* CPU_DEL */
    {VIO, VIO, ACT, REF, REF}, /* CPU_QUERY */
    {VIO, VIO, ACT, REF, REF}, /* MEM_ADD */
    {VIO, VIO, ACT, REF, REF}, /* MEM_DEL */
    {VIO, VIO, ACT, REF, REF}, /* MEM_QUERY */
    {VIO, VIO, ACT, REF, REF}, /* DISK_ADD */
    {VIO, VIO, ACT, REF, REF}, /* DISK_DEL */
    {VIO, VIO, ACT, REF, REF}, /* SAVE */
};

static void
test_permit_table(void **state)
{
	unsigned t;
	int ph;

	(void)state;
	for (t = 0; t < NTYPES; t++)
		for (ph = 0; ph < VMMON_PHASES; ph++)
			assert_int_equal(
			    vmmon_permit(ph, types[t]), want_permit[t][ph]);
	/* Replies, events, unknown types: never from the shim. */
	for (ph = 0; ph < VMMON_PHASES; ph++) {
		assert_int_equal(vmmon_permit(ph, IMSG_VMM_START_RES), VIO);
		assert_int_equal(vmmon_permit(ph, IMSG_VMM_EXIT_EVT), VIO);
		assert_int_equal(vmmon_permit(ph, IMSG_NET_SETUP_REQ), VIO);
		assert_int_equal(vmmon_permit(ph, IMSG_ERROR), VIO);
		assert_int_equal(vmmon_permit(ph, 9999), VIO);
	}
}

/* ---- helpers ---- */

static struct vmmon_view
view(enum vmmon_phase ph)
{
	struct vmmon_view v = {
	    .phase = ph,
	    .machine = QB_VMM_MACHINE_Q35,
	    .accel = QB_VMM_ACCEL_KVM,
	};
	return v;
}

static enum vmmon_verdict
run(const struct vmmon_view *v, uint32_t type, const void *data, size_t len,
    int fd, struct qb_error *err)
{
	struct vmmon_msg m = {type, data, len, fd, -1};
	struct vmmon_request out;

	return vmmon_validate(v, &m, &out, err);
}

static void
expect(const struct vmmon_view *v, uint32_t type, const void *data, size_t len,
    int fd, enum vmmon_verdict want, const char *msg_part)
{
	struct qb_error err;

	assert_int_equal(run(v, type, data, len, fd, &err), want);
	if (msg_part != NULL) {
		if (strstr(err.msg, msg_part) == NULL)
			fail_msg("\"%s\" not in \"%s\"", msg_part, err.msg);
	}
}

/* ---- FD_REQ ---- */

static void
test_fd_req(void **state)
{
	struct vmmon_view v = view(VMMON_STAGING);
	struct qb_vmm_fd f = {QB_VMM_FD_KERNEL, 0};
	char big[sizeof(f) + 1] = {0};

	(void)state;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, ACT, NULL);
	/* wrong size */
	expect(&v, IMSG_VMM_FD_REQ, big, sizeof(big), 7, VIO, "size");
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f) - 1, 7, VIO, "size");
	/* missing fd */
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), -1, VIO, "fd missing");
	/* wrong state */
	v.phase = VMMON_RUNNING;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, VIO, "out of order");
	v.phase = VMMON_STARTING;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, VIO, "out of order");
	v.phase = VMMON_STAGING;
	/* bad values: role, index, twice */
	f.role = 99;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, VIO, "unknown fd role");
	f.role = QB_VMM_FD_KERNEL;
	f.index = 1;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, VIO, "index");
	f.role = QB_VMM_FD_DISK;
	f.index = QB_VMM_MAX_DISKS;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, VIO, "out of range");
	f.index = 3;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, ACT, NULL);
	v.staged_disks = 1u << 3;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, VIO, "twice");
	f.role = QB_VMM_FD_TAP;
	f.index = 0;
	v.staged_roles = 1u << QB_VMM_FD_TAP;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, VIO, "twice");
}

/* ---- START_REQ ---- */

static struct qb_vmm_start_req
good_start(void)
{
	struct qb_vmm_start_req q;

	memset(&q, 0, sizeof(q));
	strcpy(q.id, "ctr-1");
	q.boot_cpus = 1;
	q.max_cpus = 2;
	q.memory_mb = 256;
	q.max_memory_mb = 1024;
	q.memory_slots = 4;
	q.machine = QB_VMM_MACHINE_AUTO;
	q.accel = QB_VMM_ACCEL_AUTO;
	q.transport = QB_VMM_TRANSPORT_VIRTIO_SERIAL;
	q.has_tap = 1;
	q.ndisks = 2;
	strcpy(q.disks[0].serial, "layer0");
	q.disks[1].readonly = 1;
	strcpy(q.cmdline, "quiet console=ttyS0");
	return q;
}

static struct vmmon_view
staged_for_start(void)
{
	struct vmmon_view v = view(VMMON_STAGING);

	v.staged_roles = (1u << QB_VMM_FD_KERNEL) | (1u << QB_VMM_FD_INITRD) |
	                 (1u << QB_VMM_FD_CHANNEL) | (1u << QB_VMM_FD_TAP) |
	                 (1u << QB_VMM_FD_CONSOLE_LOG);
	v.staged_disks = 0x3;
	return v;
}

#define START(q, want, part) \
	expect(&v, IMSG_VMM_START_REQ, &(q), sizeof(q), -1, want, part)

static void
test_start_req(void **state)
{
	struct vmmon_view v = staged_for_start();
	struct qb_vmm_start_req q = good_start();
	char small[16] = {0};

	(void)state;
	START(q, ACT, NULL);
	/* console.log is optional */
	v.staged_roles &= ~(1u << QB_VMM_FD_CONSOLE_LOG);
	START(q, ACT, NULL);
	/* wrong size, stray fd */
	expect(&v, IMSG_VMM_START_REQ, small, sizeof(small), -1, VIO, "size");
	expect(&v, IMSG_VMM_START_REQ, &q, sizeof(q), 9, VIO, "unexpected fd");
	/* wrong state: a second START, or one while starting */
	v.phase = VMMON_STARTING;
	START(q, VIO, "out of order");
	v.phase = VMMON_EXITED;
	START(q, VIO, "out of order");
	v = staged_for_start();

	/* bad strings */
	memset(q.id, 'a', sizeof(q.id));
	START(q, VIO, "id");
	q = good_start();
	q.id[0] = '\0';
	START(q, VIO, "id");
	strcpy(q.id, "a,b");
	START(q, VIO, "id");
	q = good_start();
	memset(q.cmdline, 'x', sizeof(q.cmdline));
	START(q, VIO, "cmdline");
	q = good_start();
	q.cmdline[0] = '\n';
	START(q, VIO, "cmdline");
	q = good_start();
	memset(q.disks[1].serial, 'x', sizeof(q.disks[1].serial));
	START(q, VIO, "serial");
	q = good_start();
	strcpy(q.disks[0].serial, "a b");
	START(q, VIO, "serial");

	/* bad values (the shape check is qemu_argv's, one copy) */
	q = good_start();
	q.accel = 7;
	START(q, VIO, "accel");
	q = good_start();
	q.machine = 3;
	START(q, VIO, "machine");
	q = good_start();
	q.machine = QB_VMM_MACHINE_MICROVM;
	START(q, VIO, "microvm has no CPU or memory hotplug");
	q = good_start();
	q.boot_cpus = 3;
	START(q, VIO, "vcpus");
	q = good_start();
	q.memory_mb = 32;
	START(q, VIO, "memory");
	q = good_start();
	q.transport = 3;
	START(q, VIO, "transport");
	q = good_start();
	q.has_tap = 2;
	START(q, VIO, "has_tap");
	q = good_start();
	q.ndisks = QB_VMM_MAX_DISKS + 1;
	START(q, VIO, "too many disks");
	q = good_start();
	q.disks[0].readonly = 5;
	START(q, VIO, "readonly");

	/* missing or extra staged fds */
	q = good_start();
	v.staged_roles &= ~(1u << QB_VMM_FD_KERNEL);
	START(q, VIO, "staged fds");
	v = staged_for_start();
	v.staged_roles &= ~(1u << QB_VMM_FD_CHANNEL);
	START(q, VIO, "staged fds");
	v = staged_for_start();
	v.staged_roles &= ~(1u << QB_VMM_FD_TAP);
	START(q, VIO, "staged fds");
	q.has_tap = 0;
	START(q, ACT, NULL);
	v = staged_for_start();
	START(q, VIO, "staged fds"); /* a tap without has_tap */
	q = good_start();
	v.staged_disks = 0x1;
	START(q, VIO, "disk fds");
	v.staged_disks = 0x7;
	START(q, VIO, "disk fds");
	v = staged_for_start();
	v.staged_disks = 0x5;
	START(q, VIO, "disk fds");

	/* vsock: its own fd and a guest cid */
	v = staged_for_start();
	v.staged_roles &= ~(1u << QB_VMM_FD_CHANNEL);
	v.staged_roles |= 1u << QB_VMM_FD_VHOST_VSOCK;
	q = good_start();
	q.transport = QB_VMM_TRANSPORT_VSOCK;
	q.guest_cid = 3;
	START(q, ACT, NULL);
	q.guest_cid = 2;
	START(q, VIO, "cid");
	q.guest_cid = 3;
	v.staged_roles |= 1u << QB_VMM_FD_CHANNEL;
	START(q, VIO, "staged fds");
}

/* ---- cloning: ram_mode TEMPLATE / CLONE, SAVE ---- */

static void
test_ram_mode(void **state)
{
	const uint32_t ram_state =
	    (1u << QB_VMM_FD_RAM) | (1u << QB_VMM_FD_STATE);
	struct vmmon_view v = staged_for_start();
	struct qb_vmm_start_req q = good_start();
	struct qb_vmm_fd f = {QB_VMM_FD_RAM, 0};
	uint32_t mode;

	(void)state;
	/* The fds stage like any other role, once each. */
	v = view(VMMON_STAGING);
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, ACT, NULL);
	f.role = QB_VMM_FD_STATE;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, ACT, NULL);
	v.staged_roles = 1u << QB_VMM_FD_STATE;
	expect(&v, IMSG_VMM_FD_REQ, &f, sizeof(f), 7, VIO, "twice");

	for (mode = QB_VMM_RAM_TEMPLATE; mode <= QB_VMM_RAM_CLONE; mode++) {
		v = staged_for_start();
		v.staged_roles |= ram_state;
		q = good_start();
		q.ram_mode = mode;
		q.max_cpus = 1;
		q.memory_slots = 0;
		q.max_memory_mb = 0;
		q.hotplug_disks = 1;
		strcpy(q.disks[1].serial, "scratch");
		START(q, ACT, NULL);
		/* both fds, or a violation */
		v.staged_roles &= ~(1u << QB_VMM_FD_STATE);
		START(q, VIO, "ram and state");
		v.staged_roles |= ram_state;
		v.staged_roles &= ~(1u << QB_VMM_FD_RAM);
		START(q, VIO, "ram and state");
		/* no virtio-fs, no hotplug: each named */
		v = staged_for_start();
		v.staged_roles |= ram_state | (1u << QB_VMM_FD_VHOST_USER_FS);
		q.has_fs = 1;
		START(q, VIO, "has_fs");
		q.has_fs = 0;
		v = staged_for_start();
		v.staged_roles |= ram_state;
		q.max_cpus = 2;
		START(q, VIO, "max_cpus");
		q.max_cpus = 1;
		q.memory_slots = 4;
		q.max_memory_mb = 1024;
		START(q, VIO, "memory_slots");
	}
	/* A clone's disks are LUNs: the SCSI bus and a serial each */
	v = staged_for_start();
	v.staged_roles |= ram_state;
	q = good_start();
	q.ram_mode = QB_VMM_RAM_CLONE;
	q.max_cpus = 1;
	q.memory_slots = 0;
	q.max_memory_mb = 0;
	strcpy(q.disks[1].serial, "scratch");
	START(q, VIO, "need hotplug_disks");
	q.hotplug_disks = 1;
	q.disks[1].serial[0] = '\0';
	START(q, VIO, "serial");
	/* ... but not with no disk */
	q.ndisks = 0;
	q.hotplug_disks = 0;
	v.staged_disks = 0;
	START(q, ACT, NULL);

	/* ANON with the fds staged: they do not belong */
	v = staged_for_start();
	v.staged_roles |= ram_state;
	q = good_start();
	START(q, VIO, "ram and state");
	q.ram_mode = 3;
	START(q, VIO, "ram_mode");

	/* SAVE: a template's only; anything else is answered */
	v = view(VMMON_RUNNING);
	v.ram_mode = QB_VMM_RAM_TEMPLATE;
	v.machine = QB_VMM_MACHINE_MICROVM;
	expect(&v, IMSG_VMM_SAVE_REQ, NULL, 0, -1, ACT, NULL);
	expect(&v, IMSG_VMM_SAVE_REQ, NULL, 0, 5, VIO, "unexpected fd");
	v.ram_mode = QB_VMM_RAM_CLONE;
	expect(&v, IMSG_VMM_SAVE_REQ, NULL, 0, -1, REF, "template mode");
	v.ram_mode = QB_VMM_RAM_ANON;
	expect(&v, IMSG_VMM_SAVE_REQ, NULL, 0, -1, REF, "template mode");
	v.ram_mode = QB_VMM_RAM_TEMPLATE;
	v.phase = VMMON_STOPPING; /* a SAVE in progress */
	expect(&v, IMSG_VMM_SAVE_REQ, NULL, 0, -1, REF, "not running");
}

/* ---- SHUTDOWN_REQ ---- */

static void
test_shutdown_req(void **state)
{
	struct qb_vmm_shutdown_req sd = {5000};
	struct vmmon_view v;
	int ph;

	(void)state;
	for (ph = 0; ph < VMMON_PHASES; ph++) {
		v = view(ph);
		expect(&v, IMSG_VMM_SHUTDOWN_REQ, &sd, sizeof(sd), -1,
		    ph == VMMON_STOPPING ? REF : ACT,
		    ph == VMMON_STOPPING ? "already in progress" : NULL);
	}
	v = view(VMMON_RUNNING);
	expect(&v, IMSG_VMM_SHUTDOWN_REQ, &sd, 4, -1, VIO, "size");
	expect(&v, IMSG_VMM_SHUTDOWN_REQ, NULL, 0, -1, VIO, "size");
	expect(&v, IMSG_VMM_SHUTDOWN_REQ, &sd, sizeof(sd), 5, VIO, "fd");
	sd.timeout_ms = 600001;
	expect(&v, IMSG_VMM_SHUTDOWN_REQ, &sd, sizeof(sd), -1, VIO, "timeout");
	/* even while stopping, a malformed one is a violation */
	v.phase = VMMON_STOPPING;
	expect(&v, IMSG_VMM_SHUTDOWN_REQ, &sd, sizeof(sd), -1, VIO, "timeout");
}

/* ---- the empty requests and MEM_ADD ---- */

static void
test_vm_requests(void **state)
{
	static const uint32_t empty[] = {IMSG_VMM_STATUS_REQ,
	    IMSG_VMM_PAUSE_REQ, IMSG_VMM_RESUME_REQ, IMSG_VMM_CPU_ADD_REQ,
	    IMSG_VMM_CPU_DEL_REQ, IMSG_VMM_CPU_QUERY_REQ, IMSG_VMM_MEM_DEL_REQ,
	    IMSG_VMM_MEM_QUERY_REQ};
	struct vmmon_view v = view(VMMON_RUNNING);
	uint32_t junk = 0;
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		v = view(VMMON_RUNNING);
		expect(&v, empty[i], NULL, 0, -1, ACT, NULL);
		expect(&v, empty[i], &junk, sizeof(junk), -1, VIO, "size");
		expect(&v, empty[i], NULL, 0, 4, VIO, "unexpected fd");
		v.phase = VMMON_STAGING;
		expect(&v, empty[i], NULL, 0, -1, VIO, "out of order");
		v.phase = VMMON_STARTING;
		expect(&v, empty[i], NULL, 0, -1, VIO, "out of order");
		v.phase = VMMON_EXITED;
		expect(&v, empty[i], NULL, 0, -1, REF, "not running");
		v.phase = VMMON_STOPPING;
		expect(&v, empty[i], NULL, 0, -1, REF, "not running");
	}
	/* The VM's limits are answered. */
	v = view(VMMON_RUNNING);
	v.machine = QB_VMM_MACHINE_MICROVM;
	expect(&v, IMSG_VMM_CPU_ADD_REQ, NULL, 0, -1, REF, "needs machine q35");
	expect(&v, IMSG_VMM_MEM_QUERY_REQ, NULL, 0, -1, REF, "q35");
	expect(&v, IMSG_VMM_STATUS_REQ, NULL, 0, -1, ACT, NULL);
	v = view(VMMON_RUNNING);
	v.accel = QB_VMM_ACCEL_TCG;
	expect(&v, IMSG_VMM_CPU_DEL_REQ, NULL, 0, -1, REF, "under TCG");
	expect(&v, IMSG_VMM_CPU_ADD_REQ, NULL, 0, -1, ACT, NULL);
}

static void
test_mem_add(void **state)
{
	struct qb_vmm_mem_add_req ma = {256};
	struct vmmon_view v = view(VMMON_RUNNING);

	(void)state;
	expect(&v, IMSG_VMM_MEM_ADD_REQ, &ma, sizeof(ma), -1, ACT, NULL);
	expect(&v, IMSG_VMM_MEM_ADD_REQ, NULL, 0, -1, VIO, "size");
	expect(&v, IMSG_VMM_MEM_ADD_REQ, &ma, sizeof(ma), 3, VIO, "fd");
	v.phase = VMMON_STAGING;
	expect(&v, IMSG_VMM_MEM_ADD_REQ, &ma, sizeof(ma), -1, VIO, "order");
	v.phase = VMMON_EXITED;
	expect(&v, IMSG_VMM_MEM_ADD_REQ, &ma, sizeof(ma), -1, REF, "running");
	v.phase = VMMON_RUNNING;
	ma.size_mb = 100;
	expect(&v, IMSG_VMM_MEM_ADD_REQ, &ma, sizeof(ma), -1, VIO, "128");
	ma.size_mb = 0;
	expect(&v, IMSG_VMM_MEM_ADD_REQ, &ma, sizeof(ma), -1, VIO, "128");
	ma.size_mb = 2ull * 1024 * 1024;
	expect(&v, IMSG_VMM_MEM_ADD_REQ, &ma, sizeof(ma), -1, VIO, "128");
	/* malformed beats refused: a bad size is a violation even now */
	v.phase = VMMON_EXITED;
	expect(&v, IMSG_VMM_MEM_ADD_REQ, &ma, sizeof(ma), -1, VIO, "128");
}

/* ---- a pod's disks: DISK_ADD (with fd) and DISK_DEL ---- */

static enum vmmon_verdict
disk(const struct vmmon_view *v, uint32_t type, const void *data, size_t len,
    int fd, int fd_flags, struct qb_error *err)
{
	struct vmmon_msg m = {type, data, len, fd, fd_flags};
	struct vmmon_request out;

	return vmmon_validate(v, &m, &out, err);
}

#define DISK_EXPECT(v, type, q, fd, fl, want, part)                       \
	do {                                                              \
		struct qb_error e_;                                       \
		assert_int_equal(                                         \
		    disk(v, type, &(q), sizeof(q), fd, fl, &e_), want);   \
		if ((part) != NULL && strstr(e_.msg, (part)) == NULL)     \
			fail_msg("\"%s\" not in \"%s\"", (part), e_.msg); \
	} while (0)

static void
test_disk(void **state)
{
	struct qb_vmm_disk_add_req a = {.lun = 3};
	struct qb_vmm_disk_del_req d = {.lun = 3};
	struct vmmon_view v = view(VMMON_RUNNING);
	const char *none = NULL;

	(void)state;
	v.machine = QB_VMM_MACHINE_MICROVM; /* no q35 needed for disks */
	v.scsi = 1;
	a.disk.readonly = 1;
	snprintf(a.disk.serial, sizeof(a.disk.serial), "p1-qb-layer-0");
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, ACT, none);
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, -1, -1, VIO, "fd");
	/* the fd's access mode must say what readonly says */
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDWR, VIO, "access");
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_WRONLY, VIO, "access");
	a.disk.readonly = 0;
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDWR, ACT, none);
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, VIO, "access");
	a.disk.readonly = 2;
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDWR, VIO, "access");
	a.disk.readonly = 1;
	/* LUNs: in range, free to add, in use to remove */
	a.lun = QB_VMM_MAX_LUNS;
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, VIO, "lun");
	a.lun = 3;
	v.lun_state[3] = LUN_BUSY;
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, VIO, "lun");
	DISK_EXPECT(&v, IMSG_VMM_DISK_DEL_REQ, d, -1, -1, VIO, "lun");
	v.lun_state[3] = LUN_USED;
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, VIO, "lun");
	DISK_EXPECT(&v, IMSG_VMM_DISK_DEL_REQ, d, -1, -1, ACT, none);
	d.lun = 4;
	DISK_EXPECT(&v, IMSG_VMM_DISK_DEL_REQ, d, -1, -1, VIO, "lun");
	d.lun = 1000;
	DISK_EXPECT(&v, IMSG_VMM_DISK_DEL_REQ, d, -1, -1, VIO, "lun");
	v.lun_state[3] = LUN_FREE;
	/* serials: non-empty, terminated, a safe token */
	snprintf(a.disk.serial, sizeof(a.disk.serial), "a,b=c");
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, VIO, "serial");
	a.disk.serial[0] = '\0';
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, VIO, "serial");
	memset(a.disk.serial, 'x', sizeof(a.disk.serial));
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, VIO, "serial");
	snprintf(a.disk.serial, sizeof(a.disk.serial), "p1-qb-layer-0");
	/* a VM without the SCSI bus refuses; the request was well-formed */
	v.scsi = 0;
	DISK_EXPECT(
	    &v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, REF, "hotplug_disks");
	v.scsi = 1;
	v.phase = VMMON_STAGING;
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, VIO, "order");
	v.phase = VMMON_STOPPING;
	DISK_EXPECT(&v, IMSG_VMM_DISK_ADD_REQ, a, 5, O_RDONLY, REF, "running");
}

static void
test_unknown_types(void **state)
{
	struct vmmon_view v = view(VMMON_RUNNING);
	struct qb_vmm_start_res res = {0};

	(void)state;
	expect(&v, IMSG_VMM_START_RES, &res, sizeof(res), -1, VIO,
	    "unexpected message type");
	expect(&v, IMSG_NET_STATUS_REQ, NULL, 0, -1, VIO, "unexpected");
	expect(&v, 0, NULL, 0, -1, VIO, "unexpected");
	expect(&v, 4242, NULL, 0, -1, VIO, "unexpected");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_permit_table),
	    cmocka_unit_test(test_fd_req),
	    cmocka_unit_test(test_start_req),
	    cmocka_unit_test(test_ram_mode),
	    cmocka_unit_test(test_shutdown_req),
	    cmocka_unit_test(test_vm_requests),
	    cmocka_unit_test(test_mem_add),
	    cmocka_unit_test(test_disk),
	    cmocka_unit_test(test_unknown_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

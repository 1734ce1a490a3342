/*
 * The QEMU command line, as a pure function of a VM description.
 *
 * Every resource QEMU touches is a file descriptor vmmon already holds: the
 * argv names fds (-add-fd + /dev/fdset/N, fd=N, /proc/self/fd/N) and never a
 * host path, except argv[0], the QEMU binary, and -L, the directory of its
 * firmware and option ROMs (read-only in vmmon's jail). Golden tests in
 * tests/unit/test_qemu_argv.c pin the output for each configuration.
 */
#ifndef QEMUBOX_VMMON_QEMU_ARGV_H
#define QEMUBOX_VMMON_QEMU_ARGV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imsg/qemubox_imsg.h"
#include "lib/error.h"

struct qemu_argv_disk {
	int fd;
	bool readonly;
	char serial[QB_VMM_SERIAL_MAX];
};

/*
 * The fd set of SCSI LUN n is QEMU_LUN_FDSET_BASE + n (boot disks use sets
 * 1..QB_VMM_MAX_DISKS): a pod's hot-added disks (vmmon/disk_hotplug.c)
 * and a clone's disks, which are LUNs too (its device set is the
 * template's; vmmon/vm_restore.c attaches them before the clone runs).
 */
#define QEMU_LUN_FDSET_BASE 100

/* The largest guest page_reporting_order (the kernel's MAX_ORDER - 1). */
#define QEMU_PAGE_REPORTING_ORDER_MAX 10

/* The largest -accel tcg,tb-size vmmon passes (MiB). */
#define QEMU_TCG_TB_MAX_MB 4096

struct qemu_vm_config {
	const char *qemu_path;
	const char *data_dir;        /* -L: paths.qemu_share_path (ROMs) */
	const char *name;            /* validated id, used in -name */
	enum qb_vmm_machine machine; /* MICROVM or Q35, never AUTO */
	enum qb_vmm_accel accel;     /* KVM or TCG, never AUTO */
	enum qb_vmm_transport transport;
	unsigned boot_cpus, max_cpus;
	unsigned memory_mb, max_memory_mb, memory_slots;
	int qmp_fd;     /* QMP monitor socket */
	int console_fd; /* serial console: a pipe's write end */
	int kernel_fd, initrd_fd;
	int channel_fd;     /* virtio-serial transport */
	int vhost_vsock_fd; /* vsock transport */
	unsigned guest_cid;
	int tap_fd; /* -1: no network */
	int fs_fd;  /* vhost-user-fs socket (virtiofsd), -1: none */
	/* ANON: QEMU's own RAM; TEMPLATE/CLONE: RAM in ram_fd (a memfd) */
	enum qb_vmm_ram_mode ram_mode;
	int ram_fd; /* TEMPLATE/CLONE only */
	uint8_t mac[6];
	/*
	 * Boot disks (virtio-blk); with ram_mode CLONE only their fds go on
	 * the command line (-add-fd, set QEMU_LUN_FDSET_BASE + i): disk i
	 * becomes LUN i on scsi0 over QMP once the state is loaded.
	 */
	unsigned ndisks;
	struct qemu_argv_disk disks[QB_VMM_MAX_DISKS];
	bool hotplug_disks;    /* virtio-scsi controller scsi0 */
	unsigned long tsc_khz; /* host TSC, needed by microvm + TCG */
	unsigned tcg_tb_mb;    /* TCG code buffer, MiB; 0: QEMU's (1 GiB) */
	/* Guest free page reporting order (2^N pages); 0: the kernel's (9). */
	unsigned page_reporting_order;
	const char *cmdline_extra; /* may be NULL */
};

struct qemu_argv {
	char **argv; /* NULL-terminated */
	size_t argc;
	size_t cap;
};

/*
 * machine AUTO resolves to q35 when CPU or memory hotplug is asked for
 * (microvm has neither), else microvm.
 */
enum qb_vmm_machine qemu_machine_resolve(enum qb_vmm_machine requested,
    unsigned boot_cpus, unsigned max_cpus, unsigned memory_slots);

/* Validates cfg (err says which field and why), then fills out. */
int qemu_argv_build(const struct qemu_vm_config *cfg, struct qemu_argv *out,
    struct qb_error *err);
void qemu_argv_free(struct qemu_argv *a);

/* [A-Za-z0-9_.-]*: what may appear inside a QEMU option value. */
bool qemu_argv_safe_token(const char *s);

/* Printable ASCII only: what may be appended to the kernel command line. */
bool qemu_argv_cmdline_ok(const char *s);

/*
 * The VM's shape: vCPU and memory ranges and a machine (AUTO allowed) that
 * can hold them. One copy for vmmon's request validator and for
 * qemu_argv_build's own preconditions.
 */
int qemu_vm_shape_check(enum qb_vmm_machine machine, unsigned boot_cpus,
    unsigned max_cpus, unsigned memory_mb, unsigned max_memory_mb,
    unsigned memory_slots, struct qb_error *err);

#endif
